"""The l-inf pairs of the mnist-linf experiment (issue 24) and the two CVAEs that learn them: the noise is the reference's
(uniform in [-eps, eps], clipped to [0, 1]), reproducible, fixed where it must be, and the sets decode members of the right shape."""
import torch
import pytest
from pertlearn.data.core import MNISTData
from pertlearn.data.linf import linf_perturb, mnist_linf_dls, mnist_linf_test_pairs, mnist_linf_classif_dls
from pertlearn.models.mnist import FCCVAE, SpatialConvCVAE
from pertlearn.perturbation import PerturbationSet

def _data(n_train=300, n_test=50):
    g = torch.Generator().manual_seed(0)
    return MNISTData(torch.randint(0, 256, (n_train, 28, 28), dtype=torch.uint8, generator=g), torch.randint(0, 10, (n_train,), generator=g),
                     torch.randint(0, 256, (n_test, 28, 28), dtype=torch.uint8, generator=g), torch.randint(0, 10, (n_test,), generator=g), source='raw')

def test_noise_is_uniform_then_clipped():
    "Mid-grey pixels move by U(-0.3, 0.3) (mean 0, largest moves near 0.3); black pixels only brighten, by 0.3/4 on average (the clipping)."
    g = torch.Generator().manual_seed(1)
    mid = linf_perturb(torch.full((200, 1, 28, 28), 0.5), g) - 0.5
    assert abs(float(mid.mean())) < 0.005 and 0.29 < float(mid.abs().max()) <= 0.3 + 1e-6
    assert abs(float(mid.std()) - 0.6 / 12 ** 0.5) < 0.005
    black = linf_perturb(torch.zeros(200, 1, 28, 28), g)
    assert float(black.min()) == 0 and abs(float(black.mean()) - 0.075) < 0.003
    with pytest.raises(ValueError, match='eps'): linf_perturb(mid, g, eps=float('nan'))

def test_loaders_split_fix_and_refresh():
    data = _data()
    dls = mnist_linf_dls(data, n_valid=100, bs=50, seed=3, device='cpu')
    assert (dls.train.n, dls.valid.n) == (200, 100) and not set(dls.train.items.tolist()) & set(dls.valid.items.tolist())
    v = [b[1] for b in dls.valid]; assert torch.equal(torch.cat(v), torch.cat([b[1] for b in dls.valid]))   # fixed validation pairs
    e0, e1 = next(dls.train.batches(0)), next(dls.train.batches(1))
    assert not torch.equal(e0[1] - e0[0], e1[1] - e1[0])   # fresh training noise
    assert torch.equal(next(dls.train.batches(0))[1], e0[1])   # reproducible
    again = mnist_linf_dls(data, n_valid=100, bs=50, seed=3, device='cpu')
    assert torch.equal(torch.cat([b[1] for b in again.valid]), torch.cat(v))
    cd = mnist_linf_classif_dls(data, n_valid=100, bs=50, seed=3, device='cpu')
    x, y = next(iter(cd.valid)); assert torch.equal(x, next(iter(dls.valid))[0]) and torch.equal(y, data.train_y[dls.valid.items[:50]])

def test_test_pairs_do_not_depend_on_n():
    data = _data()
    x5, xt5, y5 = mnist_linf_test_pairs(data, n=5); x, xt, y = mnist_linf_test_pairs(data)
    assert torch.equal(xt5, xt[:5]) and torch.equal(y5, y[:5]) and x.shape == (50, 1, 28, 28)
    assert float((xt - x).abs().max()) <= 0.3 + 1e-6 and 0 <= float(xt.min()) and float(xt.max()) <= 1

@pytest.mark.parametrize('cvae', [FCCVAE(latent=16, hidden=32), SpatialConvCVAE(latent_ch=4, ch=4)])
def test_sets_of_both_cvaes_decode_members(cvae):
    "A (untrained) set of either architecture: flattened whitened latents, members of the input's shape in [0, 1], a radius from offsets."
    torch.manual_seed(0)
    x, _, _ = mnist_linf_test_pairs(_data(), n=8)
    ps = PerturbationSet(cvae); ps.choose_eps((x, linf_perturb(x, torch.Generator().manual_seed(0))))
    s = ps.sample(x, 3)
    assert s.shape == (8, 3, 1, 28, 28) and 0 <= float(s.min()) and float(s.max()) <= 1 and ps.eps > 0
    assert ps.encode(x, x).shape == (8, cvae.latent_dim)
