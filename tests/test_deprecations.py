"The old names of renamed keywords still work, warn with a DeprecationWarning naming the new name, and give the same objects."
import subprocess, sys
import pytest
import torch
import pertlearn


def test_import_pertlearn_stays_light():
    "`import pertlearn` loads neither torch nor a submodule."
    code = "import sys, pertlearn; print(sorted(m for m in sys.modules if m.split('.')[0] in ('pertlearn', 'torch', 'fastai')))"
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['pertlearn']", out


def _same(old_call, new_call):
    with pytest.warns(DeprecationWarning, match="'dist' was renamed 'sampling'"):
        a = old_call()
    return a, new_call()


def test_sample_ball_dist_keyword():
    from pertlearn.perturbation import sample_ball
    a, b = _same(lambda: sample_ball(5, 3, 0.7, dist='sphere', generator=torch.Generator().manual_seed(0)),
                 lambda: sample_ball(5, 3, 0.7, sampling='sphere', generator=torch.Generator().manual_seed(0)))
    assert torch.equal(a, b) and torch.allclose(a.norm(dim=1), torch.full((5,), 0.7))
    with pytest.raises(TypeError, match='both'): sample_ball(5, 3, 0.7, dist='sphere', sampling='uniform')


def test_perturbation_set_sample_dist_keyword():
    from pertlearn.toys import linear_set
    ps = linear_set(); x = torch.rand(2, 4)
    a, b = _same(lambda: ps.sample(x, 3, 0.5, dist='uniform', generator=torch.Generator().manual_seed(1)),
                 lambda: ps.sample(x, 3, 0.5, sampling='uniform', generator=torch.Generator().manual_seed(1)))
    assert torch.equal(a, b)


def test_random_members_and_set_augmentation_dist_keyword():
    from pertlearn.toys import linear_set
    from pertlearn.attacks import RandomMembers
    from pertlearn.robust import SetAugmentation
    ps, clf = linear_set(), torch.nn.Linear(4, 3)
    a, b = _same(lambda: RandomMembers(clf, ps, 0.5, dist='sphere'), lambda: RandomMembers(clf, ps, 0.5, sampling='sphere'))
    assert type(a) is RandomMembers and a.sampling == b.sampling == 'sphere'
    a, b = _same(lambda: SetAugmentation(ps, dist='uniform'), lambda: SetAugmentation(ps, sampling='uniform'))
    assert type(a) is SetAugmentation and a.sampling == b.sampling == 'uniform'


def test_metrics_dist_kind_keyword_and_dist_is_still_a_distance():
    from pertlearn.toys import linear_set
    from pertlearn.metrics import expected_approximation_error, sufficient_likelihood, mse_dist
    ps = linear_set(); x = torch.rand(3, 4); xt = x + 0.1
    g = lambda: torch.Generator().manual_seed(2)
    with pytest.warns(DeprecationWarning, match="'dist_kind' was renamed 'sampling'"):
        a = expected_approximation_error(ps, x, xt, 0.5, 4, dist_kind='sphere', generator=g())
    assert torch.equal(a, expected_approximation_error(ps, x, xt, 0.5, 4, sampling='sphere', dist=mse_dist, generator=g()))
    with pytest.warns(DeprecationWarning, match="'dist_kind' was renamed 'sampling'"):
        s = sufficient_likelihood(ps, x, xt, 0.5, 4, dist_kind='sphere', generator=g())
    assert s == sufficient_likelihood(ps, x, xt, 0.5, 4, sampling='sphere', generator=g())


def test_dist_info_is_rank_info():
    from pertlearn.distributed import dist_info, rank_info
    with pytest.warns(DeprecationWarning, match='rank_info'):
        assert dist_info() == rank_info()


def test_public_api_from_the_package():
    "`import pertlearn` gives the names people use, each the object of its chapter's module, imported on first use."
    import importlib
    for name, mod in pertlearn._API.items():
        assert getattr(pertlearn, name) is getattr(importlib.import_module(f'pertlearn.{mod}'), name), name
    assert set(pertlearn.__all__) <= set(dir(pertlearn))
    with pytest.raises(AttributeError): pertlearn.no_such_name
    code = "import sys, pertlearn; pertlearn.PerturbationSet; print('torch' in sys.modules, 'pertlearn.app' in sys.modules)"
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ['True', 'False'], out
