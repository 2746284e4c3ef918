import os, pickle, torch
import numpy as np
# small CPU ops are much faster single-threaded on a 2-core machine shared with other processes
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

import pytest


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    "Each test module runs single-threaded (small CPU ops), restoring the thread count after it."
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope='module')
def ps():
    "The shipped MNIST-RTS perturbation set."
    from pertlearn.perturbation import PerturbationSet
    return PerturbationSet.pretrained('mnist-rts')


def write_cifar_batch(path, x, y, str_keys=False):
    "A CIFAR-10 python batch exactly as distributed: pickled dict, b'data' uint8 N×3072 (RGB planes), b'labels' list (`str_keys`: str keys, as some re-packs have)."
    k = (lambda s: s) if str_keys else (lambda s: s.encode())
    d = {k('batch_label'): b'testing batch 1 of 1', k('labels'): [int(v) for v in y],
         k('data'): np.ascontiguousarray(x.transpose(0, 3, 1, 2)).reshape(len(x), 3072), k('filenames'): [b'a.png'] * len(x)}
    with open(path, 'wb') as f: pickle.dump(d, f, protocol=2)


def write_cifar_files(root, per_batch:int, n_test:int, corruptions=('fog',), seed:int=0):
    "Tiny CIFAR-10 (five training batches of `per_batch` images, a test batch of `n_test`) and CIFAR-10-C (`corruptions` at 5 severities) under `root`, in the distributed formats; returns (images, labels, {corruption: array})."
    rng = np.random.default_rng(seed); n = 5 * per_batch + n_test
    x = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8); y = rng.integers(0, 10, n)
    d = root / 'cifar-10-batches-py'; d.mkdir()
    for i in range(5): write_cifar_batch(d / f'data_batch_{i + 1}', x[per_batch * i:per_batch * (i + 1)], y[per_batch * i:per_batch * (i + 1)])
    write_cifar_batch(d / 'test_batch', x[5 * per_batch:], y[5 * per_batch:])
    c = root / 'CIFAR-10-C'; c.mkdir()
    arrays = {name: rng.integers(0, 256, (5 * n_test, 32, 32, 3), dtype=np.uint8) for name in corruptions}
    for name, a in arrays.items(): np.save(c / f'{name}.npy', a)
    np.save(c / 'labels.npy', np.tile(y[5 * per_batch:], 5))
    return x, y, arrays
