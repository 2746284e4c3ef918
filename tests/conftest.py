import os, torch
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
