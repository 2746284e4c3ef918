"Attacks and certification inside learned perturbation sets: analytic radii, monotone tables, statistics, safety."
import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn as nn

from pertlearn.utils import IGNORE_INDEX
from pertlearn.cvae import LinearCVAE, LOGVAR_MIN, LOGVAR_MAX
from pertlearn.perturbation import PerturbationSet
from pertlearn.toys import linear_set, inv_bound_logvar
from pertlearn.attacks import (LatentPGD, LinfPGD, L2PGD, RandomMembers, attack_objective, robust_accuracy,
                               linear_latent_radius, frozen_eval)
from pertlearn.certify import (LatentSmoother, cp_lower, binom_pvalue_half, sigma_for_radius, max_certifiable_radius,
                               certified_accuracy)
from pertlearn.models.classifiers import MNISTConvNet



@pytest.fixture(scope='module')
def toy():
    ps = linear_set(); g = torch.Generator().manual_seed(1)
    clf2, clf3 = nn.Linear(4, 2), nn.Linear(4, 3)
    with torch.no_grad():
        clf2.weight.copy_(torch.randn(2, 4, generator=g)); clf2.bias.zero_()
        clf3.weight.copy_(torch.randn(3, 4, generator=g) * 2); clf3.bias.zero_()
    X = torch.rand(48, 4, generator=g)
    with torch.no_grad():
        c = ps.decode(torch.zeros(48, 3), X)
        Y2, Y3 = clf2(c).argmax(1), clf3(c).argmax(1)
    return ps, clf2, clf3, X, Y2, Y3


def test_linear_radius_matches_bruteforce(toy):
    ps, clf2, _, X, Y2, _ = toy
    r = linear_latent_radius(clf2, ps, X, Y2)
    # along the worst direction the margin hits zero exactly at r
    with torch.no_grad():
        mu, sd = ps.prior(X); w = clf2.weight[1] - clf2.weight[0]
        G = sd * (w @ ps.cvae.gen_z.weight) * (1 - 2 * Y2[:, None])  # gradient of z_other − z_y
        u = G / G.norm(dim=1, keepdim=True) * r[:, None]
        z = clf2(ps.decode(u, X))
    assert torch.allclose(z[:, 1] - z[:, 0], torch.zeros(48), atol=1e-4)


@pytest.mark.parametrize('loss', ['margin', 'ce'])
def test_latent_pgd_breaks_exactly_above_radius_binary(toy, loss):
    ps, clf2, _, X, Y2, _ = toy
    r = linear_latent_radius(clf2, ps, X, Y2)
    below = LatentPGD(clf2, ps, r * 0.99, loss=loss, random_start=False, generator=0); below(X, Y2)
    above = LatentPGD(clf2, ps, r * 1.01, loss=loss, random_start=False, generator=0); xa = above(X, Y2)
    assert below.last_success.sum() == 0 and above.last_success.sum() == len(X)
    assert (above.last_u.norm(dim=1) <= r * 1.01 + 1e-5).all()
    assert (clf2(xa).argmax(1) != Y2).all()


def test_latent_pgd_random_start_more_steps(toy):
    ps, clf2, _, X, Y2, _ = toy
    r = linear_latent_radius(clf2, ps, X, Y2)
    atk = LatentPGD(clf2, ps, r * 1.01, steps=200, loss='margin', generator=0); atk(X, Y2)
    assert atk.last_success.sum() == len(X)


def test_latent_pgd_multiclass_with_restarts(toy):
    ps, _, clf3, X, _, Y3 = toy
    r = linear_latent_radius(clf3, ps, X, Y3)
    for f, expect in ((0.98, 0), (1.02, len(X))):
        atk = LatentPGD(clf3, ps, r * f, loss='margin', restarts=5, generator=0); atk(X, Y3)
        assert int(atk.last_success.sum()) == expect


def test_attacks_seeded_and_beat_random_members(toy):
    ps, _, clf3, X, _, Y3 = toy
    a = LatentPGD(clf3, ps, 1.0, generator=3)(X, Y3); b = LatentPGD(clf3, ps, 1.0, generator=3)(X, Y3)
    assert torch.equal(a, b)
    pgd = LatentPGD(clf3, ps, 1.0, restarts=2, generator=0); pgd(X, Y3)
    rm = RandomMembers(clf3, ps, 1.0, k=10, generator=0); rm(X, Y3)
    assert rm.last_success.sum() <= pgd.last_success.sum()


def test_robust_accuracy_monotone_and_clean(toy):
    ps, _, clf3, _, _, _ = toy
    g = torch.Generator().manual_seed(7)
    Xr = torch.rand(120, 4, generator=g)
    with torch.no_grad(): Yr = clf3(Xr).argmax(1)
    flip = torch.rand(120, generator=g) < 0.2; Yr[flip] = (Yr[flip] + 1) % 3
    eps = [0, 0.25, 0.5, 1, 2]
    tab = robust_accuracy(LatentPGD(clf3, ps, steps=20, generator=0), (Xr, Yr), eps, bs=50)
    clean = float((clf3(Xr).argmax(1) == Yr).float().mean())
    assert list(tab.columns[:3]) == ['eps', 'accuracy', 'n'] and (tab.n == 120).all()
    assert tab.accuracy[0] == pytest.approx(clean)
    assert (np.diff(tab.accuracy) <= 0).all() and (tab.accuracy <= clean + 1e-12).all()
    # unsorted radii and a DataLoader give the same table
    from torch.utils.data import DataLoader, TensorDataset
    tab2 = robust_accuracy(LatentPGD(clf3, ps, steps=20, generator=0), DataLoader(TensorDataset(Xr, Yr), batch_size=50), eps[::-1])
    assert np.array_equal(tab2.accuracy.values, tab.accuracy.values)
    tab3 = robust_accuracy(L2PGD(clf3, steps=10, generator=0), (Xr, Yr), [0, 0.05, 0.1])
    assert (np.diff(tab3.accuracy) <= 0).all()


def test_no_nan_on_zero_gradient(toy):
    ps, _, _, X, _, _ = toy
    class Flat(nn.Module):
        def forward(self, x): return 0 * x[:, :3] + torch.tensor([1e4, 0., 0.])
    y = torch.zeros(len(X), dtype=torch.long)
    atk = LatentPGD(Flat(), ps, 2.0, steps=5, generator=0); xa = atk(X, y)
    assert torch.isfinite(xa).all() and torch.isfinite(atk.last_u).all()
    for A in (LinfPGD, L2PGD):
        xa = A(Flat(), 0.1, steps=5, random_start=False, generator=0)(X, y)
        assert torch.isfinite(xa).all() and torch.equal(xa, X)  # no gradient, no step


def test_model_untouched():
    torch.manual_seed(0)
    ps = linear_set()
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Dropout(0.3), nn.Linear(8, 3)).train()
    X = torch.rand(32, 4)
    model(X).sum().backward()
    state = {k: v.clone() for k, v in model.state_dict().items()}; grads = [p.grad.clone() for p in model.parameters()]
    y = torch.zeros(32, dtype=torch.long)
    LatentPGD(model, ps, 1.0, steps=5, restarts=2, generator=0)(X, y)
    RandomMembers(model, ps, 1.0, k=3, generator=0)(X, y)
    LinfPGD(model, 0.1, steps=3, generator=0)(X, y); L2PGD(model, 0.1, steps=3, generator=0)(X, y)
    LatentSmoother(model, ps, 1.0, 3, batch=64).certify(X[:4], 10, 20, generator=0)
    robust_accuracy(LatentPGD(model, ps, steps=3, generator=0), (X, y), [0, 1.0])
    assert model.training and all(m.training for m in model.modules())
    for k, v in model.state_dict().items(): assert torch.equal(v, state[k]), k
    for p, g in zip(model.parameters(), grads): assert torch.equal(p.grad, g) and p.requires_grad
    assert not ps.cvae.training and not any(p.requires_grad for p in ps.cvae.parameters())


def test_frozen_eval_restores_on_error():
    m = nn.Sequential(nn.Linear(2, 2), nn.Dropout()).train()
    with pytest.raises(RuntimeError):
        with frozen_eval(m): raise RuntimeError('boom')
    assert m.training and all(p.requires_grad for p in m.parameters())


def test_seg_objective_ignores_padding():
    zs = torch.tensor([[[[3., 0., 0.]], [[0., 3., 3.]]], [[[3., 3., 3.]], [[0., 0., 0.]]]])
    ys = torch.tensor([[[0, 0, 1]], [[1, 0, IGNORE_INDEX]]])
    v, s = attack_objective(zs, ys, 'seg')
    assert torch.allclose(s, torch.tensor([1 / 3, 1 / 2]))
    assert torch.isfinite(v).all()


@pytest.mark.parametrize('k,n,a', [(0, 10, 0.05), (1, 10, 0.05), (7, 10, 0.01), (10, 10, 0.001), (990, 1000, 0.001), (5000, 10000, 0.05)])
def test_clopper_pearson_vs_scipy(k, n, a):
    ref = scipy.stats.binomtest(k, n).proportion_ci(confidence_level=1 - 2 * a, method='exact').low
    assert float(cp_lower(k, n, a)) == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize('na,nb', [(3, 3), (10, 2), (60, 40), (100, 0), (7, 9)])
def test_binom_pvalue_vs_scipy(na, nb):
    assert float(binom_pvalue_half(na, nb)) == pytest.approx(scipy.stats.binomtest(max(na, nb), na + nb, 0.5).pvalue, abs=1e-12)


def test_sigma_for_radius_reference_values(capsys):
    for eps, n, ref in [(2.7, 10_000, 0.84), (3.9, 10_000, 1.22), (10.2, 10_000, 3.19), (17, 1_000, 6.90)]:
        s = sigma_for_radius(eps, n, 0.001)
        assert s == pytest.approx(ref, abs=0.006) and max_certifiable_radius(s, n, 0.001) == pytest.approx(eps)
    assert 'largest certifiable radius' in capsys.readouterr().out
    assert float(cp_lower(1000, 1000, 0.001)) == pytest.approx(0.001 ** (1 / 1000))


def test_certified_radius_below_analytic_and_tightens(toy):
    ps, clf2, _, X, Y2, _ = toy
    r = linear_latent_radius(clf2, ps, X, Y2)
    sm = LatentSmoother(clf2, ps, sigma=2.0, num_classes=2, batch=20_000)
    gaps = []
    for n in (100, 1_000, 10_000):
        pred, rad = sm.certify(X, 100, n, alpha=0.001, generator=0)
        ok = pred == Y2
        assert ((pred == Y2) | (pred == -1)).all() and ok.sum() > 0.9 * len(X)
        assert (rad[ok] <= r[ok]).all()
        gaps.append(float((r - rad)[ok].mean()))
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 0.2
    assert torch.equal(sm.certify(X, 50, 200, generator=4)[1], sm.certify(X, 50, 200, generator=4)[1])


def test_certify_abstains_and_segmentation():
    ps = linear_set(); g = torch.Generator().manual_seed(2)
    X = torch.rand(1, 4, generator=g).repeat(6, 1)
    coin = nn.Linear(4, 2)  # decision boundary through the set's centre: every input has p = ½ exactly
    with torch.no_grad():
        coin.weight.copy_(torch.randn(2, 4, generator=g))
        c = ps.decode(torch.zeros(1, 3), X[:1])[0]
        coin.bias.copy_(torch.tensor([0., -float((coin.weight[1] - coin.weight[0]) @ c)]))
    sm = LatentSmoother(coin, ps, 1.0, 2, batch=1000)
    assert (sm.predict(X, 2000, generator=0) == -1).all()
    pred, rad = sm.certify(X, 100, 2000, generator=0)
    assert (pred == -1).all() and (rad == 0).all()
    X = torch.rand(6, 4, generator=g)
    seg = nn.Sequential(nn.Linear(4, 2 * 9), nn.Unflatten(1, (2, 3, 3)))
    with torch.no_grad(): seg[0].weight.copy_(torch.randn(18, 4, generator=g)); seg[0].bias.zero_()
    pred, rad = LatentSmoother(seg, ps, 1.0, 2, batch=1000).certify(X, 50, 500, generator=0)
    assert pred.shape == (6, 3, 3) and rad.shape == (6, 3, 3)
    assert set(pred.unique().tolist()) <= {-1, 0, 1} and (rad[pred == -1] == 0).all() and (rad >= 0).all()
    labels = pred.clone(); labels[pred == -1] = 0; labels[:, 0, 0] = IGNORE_INDEX
    t = certified_accuracy(pred, rad, labels, [0.0])
    assert t.n[0] == 6 * 8
    # abstained pixels never count as correct, padding never counts at all
    expect = ((pred == labels) & (pred != -1))[labels != IGNORE_INDEX].float().mean()
    assert t.certified_accuracy[0] == pytest.approx(float(expect))


def test_mnist_convnet_shapes():
    m = MNISTConvNet()
    assert sum(p.numel() for p in m.parameters()) < 300_000
    assert m(torch.rand(2, 1, 42, 42)).shape == (2, 10) and m(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_default_attack_is_the_ensemble_exact_on_the_linear_toy(toy):
    "robust_accuracy(model, ps=...) runs AutoLatentAttack: it reaches the exact robust accuracy, every row with its interval, and is seeded."
    from pertlearn.attacks import AutoLatentAttack
    ps, _, clf3, _, _, _ = toy
    g = torch.Generator().manual_seed(11)
    Xr = torch.rand(150, 4, generator=g)
    with torch.no_grad(): Yr = clf3(Xr).argmax(1)
    eps = [0, 0.25, 0.5, 1.0]
    tab = robust_accuracy(clf3, (Xr, Yr), eps, bs=75, ps=ps)
    assert tab.attrs['attack'] == 'AutoLatentAttack'
    with torch.no_grad(): r = linear_latent_radius(clf3, ps, Xr, Yr)
    exact = [float(((r > e) | (e == 0)).float().mean()) for e in eps]
    assert np.allclose(tab.accuracy, exact, atol=1 / 150 + 1e-9)
    assert ((tab.ci_low <= tab.accuracy) & (tab.accuracy <= tab.ci_high)).all() and (tab.ci_high - tab.ci_low > 0).all()
    again = robust_accuracy(AutoLatentAttack(clf3, ps, generator=0), (Xr, Yr), eps, bs=75)
    assert np.array_equal(again.accuracy.values, robust_accuracy(AutoLatentAttack(clf3, ps, generator=0), (Xr, Yr), eps, bs=75).accuracy.values)


def test_convergence_evidence_and_the_random_floor(toy):
    "attack_convergence reports the doubled attack and the floor; an attack that cannot see gradients is refused, not reported."
    from pertlearn.attacks import AutoLatentAttack, attack_convergence, AttackError
    ps, _, clf3, X, _, Y3 = toy
    conv = attack_convergence(AutoLatentAttack(clf3, ps, steps=20, generator=0), (X, Y3), 1.0, n_random=64)
    assert conv['attack']['accuracy'] <= conv['random']['accuracy'] and conv['converged']
    class Masked(torch.nn.Module):
        def forward(self, x): return clf3(x.detach()) + 0 * x.sum()
    with pytest.raises(AttackError, match='random members'):
        attack_convergence(AutoLatentAttack(Masked(), ps, steps=5, generator=0), (X, Y3), 1.0, n_random=64)


def test_misbehaving_models_are_refused_not_certified(toy):
    "NaN logits, 1-D logits and meta inputs: a clear error from the attack and from the certificate, never a radius."
    ps, _, clf3, X, _, Y3 = toy
    class NaNs(torch.nn.Module):
        def forward(self, x): return clf3(x) * float('nan')
    for model, msg in ((NaNs(), 'non-finite logits'), (torch.nn.Sequential(clf3, torch.nn.Flatten(0)), 'logits of shape')):
        with pytest.raises(ValueError, match=msg): LatentSmoother(model, ps, 1.0, 3).certify(X[:4], 10, 50, generator=0)
        with pytest.raises(ValueError, match=msg): LatentPGD(model, ps, 1.0, steps=2, generator=0)(X[:4], Y3[:4])
    with pytest.raises(ValueError, match='meta device'): LatentSmoother(clf3, ps, 1.0, 3).certify(X[:4].to('meta'), 10, 50)
