"Property-based tests (hypothesis) of the mechanisms every result rests on: projection, sampling, Clopper–Pearson, certified radius."
import math
import numpy as np
import pytest
import torch
from hypothesis import given, settings, assume, strategies as st
from pertlearn.perturbation import project_l2, sample_ball

torch.set_num_threads(1)
SETTINGS = settings(max_examples=60, deadline=None)

@st.composite
def latents(draw, max_b=8, max_d=40):
    "A (batch, d) float tensor whose rows have wildly different norms (zeros included)."
    b, d = draw(st.integers(1, max_b)), draw(st.integers(1, max_d))
    seed = draw(st.integers(0, 2**31 - 1))
    scales = torch.tensor(draw(st.lists(st.sampled_from([0., 1e-6, 1e-3, 0.1, 1., 3., 10., 1e3]), min_size=b, max_size=b)))
    return torch.randn(b, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scales[:, None]

eps_st = st.floats(1e-3, 100., allow_nan=False)

@SETTINGS
@given(latents(), eps_st)
def test_projection_norm_at_most_eps(u, eps):
    assert (project_l2(u, eps).norm(dim=1) <= eps * (1 + 1e-9)).all()

@SETTINGS
@given(latents(), eps_st)
def test_projection_idempotent(u, eps):
    p = project_l2(u, eps)
    torch.testing.assert_close(project_l2(p, eps), p, rtol=1e-9, atol=1e-12)

@SETTINGS
@given(latents(), eps_st)
def test_projection_identity_inside_ball(u, eps):
    inside = u.norm(dim=1) <= eps
    torch.testing.assert_close(project_l2(u, eps)[inside], u[inside], rtol=0, atol=0)

@SETTINGS
@given(latents(), eps_st)
def test_projection_is_per_example_and_radial(u, eps):
    "Each row is projected on its own (not across the batch), onto the closest point of the ball (same direction)."
    p = project_l2(u, eps)
    for i in range(len(u)):
        torch.testing.assert_close(project_l2(u[i:i+1], eps), p[i:i+1])
        n = u[i].norm()
        if n > eps: torch.testing.assert_close(p[i], u[i] * (eps / n), rtol=1e-9, atol=1e-12)

@SETTINGS
@given(latents(), st.lists(eps_st, min_size=8, max_size=8))
def test_projection_per_example_radius(u, eps):
    e = torch.tensor(eps[:len(u)], dtype=u.dtype)
    torch.testing.assert_close(project_l2(u, e).norm(dim=1), torch.minimum(u.norm(dim=1), e), rtol=1e-9, atol=1e-12)

@SETTINGS
@given(st.integers(1, 64), st.integers(1, 200), eps_st, st.sampled_from(['truncated', 'uniform', 'sphere']), st.integers(0, 2**31 - 1))
def test_sampling_inside_ball(n, d, eps, sampling, seed):
    u = sample_ball(n, d, eps, sampling, torch.Generator().manual_seed(seed), dtype=torch.float64)
    assert u.shape == (n, d) and torch.isfinite(u).all()
    norms = u.norm(dim=1)
    assert (norms <= eps * (1 + 1e-9)).all()
    if sampling == 'sphere': torch.testing.assert_close(norms, torch.full_like(norms, eps))
    u2 = sample_ball(n, d, eps, sampling, torch.Generator().manual_seed(seed), dtype=torch.float64)
    torch.testing.assert_close(u, u2, rtol=0, atol=0)   # same seed, same numbers

# ---- certification (pertlearn.certify) ----
import pertlearn.certify as certify   # a broken import is a failure, not a skip
from scipy.stats import binomtest, binom, norm

@SETTINGS
@given(st.integers(1, 2000), st.data(), st.sampled_from([1e-3, 0.01, 0.05, 0.2]))
def test_clopper_pearson_lower_matches_scipy(n, data, alpha):
    k = data.draw(st.integers(0, n))
    lo = float(certify.cp_lower(k, n, alpha))
    # scipy's exact (Clopper–Pearson) two-sided interval at 1 − 2α has the one-sided (1 − α) lower bound as its low end
    ref = binomtest(k, n).proportion_ci(confidence_level=1 - 2 * alpha, method='exact').low
    assert lo == pytest.approx(ref, abs=1e-9)
    if 0 < k:   # defining property: P(Binom(n, lo) ≥ k) = α
        assert binom.sf(k - 1, n, lo) == pytest.approx(alpha, rel=1e-5, abs=1e-12)
    assert 0 <= lo <= k / n + 1e-12

@SETTINGS
@given(st.integers(2, 3000), st.sampled_from([1e-3, 0.01, 0.05]), st.data())
def test_clopper_pearson_monotone_in_successes(n, alpha, data):
    ks = sorted(data.draw(st.lists(st.integers(0, n), min_size=2, max_size=20)))
    lo = certify.cp_lower(np.array(ks), n, alpha)
    assert (np.diff(lo) >= -1e-12).all()

class _FixedCounts(certify.LatentSmoother):
    "A smoother whose Monte Carlo counts are given: class 0 gets `na[i]` of `n` draws for example i."
    def __init__(self, na, sigma): super().__init__(None, None, sigma, 2); self.na = torch.as_tensor(na)
    def counts(self, x, n, generator=None):
        na = (self.na.double() * n / self.n_est).round().long() if n != self.n_est else self.na
        return torch.stack([na, n - na], 1)

@SETTINGS
@given(st.integers(10, 5000), st.floats(0.05, 5.), st.sampled_from([1e-3, 0.01]), st.data())
def test_certified_radius_monotone_in_pA(n, sigma, alpha, data):
    na = sorted(data.draw(st.lists(st.integers(n // 2 + 1, n), min_size=2, max_size=16)))
    sm = _FixedCounts(na, sigma); sm.n_est = n
    pred, radius = sm.certify(torch.zeros(len(na), 1), n0=n, n=n, alpha=alpha, generator=0)
    r = radius.double().numpy()
    assert (np.diff(r) >= -1e-6).all(), r          # more agreement, larger (or equal) certified radius
    assert (r >= 0).all() and (r <= certify.max_certifiable_radius(sigma, n, alpha) + 1e-5).all()
    pA = certify.cp_lower(np.array(na), n, alpha)
    expect = np.where(pA >= 0.5, sigma * norm.ppf(np.clip(pA, 0.5, 1)), 0.)
    np.testing.assert_allclose(r, expect, rtol=1e-5, atol=1e-5)
    assert ((pred.numpy() == 0) == (pA >= 0.5)).all() and ((pred.numpy() == -1) == (pA < 0.5)).all()

@SETTINGS
@given(st.floats(0.05, 5.), st.integers(1, 10**6), st.sampled_from([1e-3, 0.01, 0.05]))
def test_max_radius_increases_with_samples(sigma, n, alpha):
    assert certify.max_certifiable_radius(sigma, 2 * n, alpha) >= certify.max_certifiable_radius(sigma, n, alpha) - 1e-9
