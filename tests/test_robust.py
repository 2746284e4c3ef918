"Robust training callbacks: each trains only the classifier, nothing leaks into the set or BN statistics, the inner attack works; the experiment writes a full table."
import json, subprocess, sys
from pathlib import Path
import pandas as pd
import pytest
import torch
import torch.nn as nn
from fastai.learner import Learner
from fastai.callback.core import Callback, CancelFitException
import fastai.callback.progress  # Learner.no_bar

from pertlearn.utils import IGNORE_INDEX
from pertlearn.perturbation import PerturbationSet
from pertlearn.models.classifiers import MNISTConvNet, UNet, SegCrossEntropy, WideResNet, CifarResNet
from pertlearn.data.mnist_rts import load_mnist, mnist_rts_classif_dls, rts_perturb
from pertlearn.data.core import EpochSetter
from pertlearn.robust import (RealPerturbationAugmentation, SetAugmentation, LatentAdversarialTraining, LatentNoise,
                              per_example_loss, fingerprint, bn_state, same_state, TrainModeForward)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def dls():
    return mnist_rts_classif_dls(load_mnist('embedded'), n_train=64, n_valid=32, bs=32, seed=0, device='cpu', n_test=8)


def fit(dls, cb, epochs=1, seed=0, clf=None):
    torch.manual_seed(seed)
    clf = clf or MNISTConvNet(ch=4, hidden=16)
    learn = Learner(dls, clf, loss_func=nn.CrossEntropyLoss(), cbs=[EpochSetter()] + ([cb] if cb else []))
    with learn.no_bar(), learn.no_logging(): learn.fit(epochs, 3e-3)
    return learn


CALLBACKS = {
    'real': lambda ps: RealPerturbationAugmentation(rts_perturb),
    'set_aug': lambda ps: SetAugmentation(ps),
    'set_aug_clean': lambda ps: SetAugmentation(ps, with_clean=True),
    'noise': lambda ps: LatentNoise(ps, sigma=1.0),
    'adv_max': lambda ps: LatentAdversarialTraining(ps, steps=2),
    'adv_only': lambda ps: LatentAdversarialTraining(ps, steps=2, loss='adv'),
    'adv_reference': lambda ps: LatentAdversarialTraining(ps, steps=2, attack_mode='train', batches='separate'),
    'set_aug_prior': lambda ps: SetAugmentation(ps, sampling='prior'),
}


@pytest.mark.parametrize('name', list(CALLBACKS))
def test_callback_changes_only_the_classifier(name, ps, dls):
    fp_set = fingerprint(ps.cvae)
    torch.manual_seed(0); clf = MNISTConvNet(ch=4, hidden=16); fp_clf = fingerprint(clf)
    bn0 = clf.features[1].running_mean.clone()
    fit(dls, CALLBACKS[name](ps), clf=clf)
    assert torch.equal(fp_set, fingerprint(ps.cvae))
    assert all(p.grad is None and not p.requires_grad for p in ps.cvae.parameters())
    assert not ps.cvae.training
    assert not torch.equal(fp_clf, fingerprint(clf))
    assert not torch.equal(bn0, clf.features[1].running_mean)   # the training forward passes did update BN


def test_same_seed_same_training(ps, dls):
    a = fit(dls, SetAugmentation(ps, seed=1)).model; b = fit(dls, SetAugmentation(ps, seed=1)).model
    c = fit(dls, SetAugmentation(ps, seed=2)).model
    assert torch.equal(fingerprint(a), fingerprint(b)) and not torch.equal(fingerprint(a), fingerprint(c))


def test_attack_leaves_bn_and_mode_alone(ps, dls):
    torch.manual_seed(0); clf = MNISTConvNet(ch=4, hidden=16).train()
    x, y = dls.train.one_batch()
    before = bn_state(clf)
    cb = LatentAdversarialTraining(ps, steps=3)
    xa = cb.attack(x, y, 0, model=clf)
    assert same_state(before, bn_state(clf)) and clf.training and all(m.training for m in clf.modules())
    assert all(p.grad is None for p in clf.parameters()) and xa.shape == x.shape and not xa.requires_grad


def test_inner_attack_increases_the_loss_it_maximises(ps, dls):
    torch.manual_seed(0); clf = MNISTConvNet(ch=4, hidden=16)
    with torch.no_grad(): clf.head[-1].weight.mul_(20)   # an untrained net has a flat loss; make it respond to its input
    cb = LatentAdversarialTraining(ps, steps=4, record=True)
    fit(dls, cb, clf=clf)
    rec = pd.DataFrame(cb.records)
    assert len(rec) == len(dls.train)
    assert (rec.adv_loss > rec.random_loss).all(), rec
    assert (rec.adv_loss - rec.random_loss).min() > 1e-4, rec   # a real increase, not rounding


def test_max_loss_is_the_per_example_maximum(ps, dls):
    seen = {}
    class Grab(Callback):
        order = 50
        def after_loss(self):
            seen.update(xb=self.xb[0].clone(), yb=self.yb[0].clone(), loss=self.loss_grad.detach().clone())
            raise CancelFitException()
    torch.manual_seed(0)
    learn = Learner(dls, MNISTConvNet(ch=4, hidden=16), loss_func=nn.CrossEntropyLoss(), cbs=[LatentAdversarialTraining(ps, steps=2)])
    with learn.no_bar(), learn.no_logging(): learn.fit(1, cbs=Grab())
    n = len(seen['xb']) // 2
    assert n == 32 and torch.equal(seen['yb'][:n], seen['yb'][n:])
    learn.model.train()
    with torch.no_grad(): l = per_example_loss(learn.model(seen['xb']), seen['yb'])
    assert torch.allclose(seen['loss'], torch.maximum(l[:n], l[n:]).mean(), atol=1e-4)


def test_guards_fire(ps, dls):
    class Both(nn.Module):
        def __init__(self, clf, cvae): super().__init__(); self.clf, self.cvae = clf, cvae
        def forward(self, x): return self.clf(x)
    learn = Learner(dls, Both(MNISTConvNet(ch=4, hidden=16), ps.cvae), loss_func=nn.CrossEntropyLoss(), cbs=[LatentNoise(ps, 1.0)])
    with learn.no_bar(), learn.no_logging(), pytest.raises(AssertionError, match='perturbation set'): learn.fit(1)
    ps.cvae.eval().requires_grad_(False)
    with pytest.raises(ValueError): LatentAdversarialTraining(ps, loss='mean')
    with pytest.raises(ValueError): LatentNoise(ps, 0.)


def test_segmentation_with_ignore_index(ps):
    g = torch.Generator().manual_seed(0)
    logits, y = torch.randn(2, 3, 4, 4, generator=g), torch.randint(0, 3, (2, 4, 4), generator=g)
    y[1] = IGNORE_INDEX
    per = per_example_loss(logits, y)
    assert per[1] == 0 and torch.allclose(SegCrossEntropy(reduction='none')(logits, y), per)
    net = UNet(num_classes=3, in_ch=1, base=4, depth=2)
    x = torch.rand(2, 1, 42, 42, generator=g); ys = (x[:, 0] > 0.5).long(); ys[:, :3] = IGNORE_INDEX
    cb = LatentAdversarialTraining(ps, steps=2, record=True)
    xa = cb.attack(x, ys, 0, model=net)
    assert xa.shape == x.shape and cb.records[-1]['adv_loss'] >= cb.records[-1]['random_loss']


def test_architectures_shapes():
    x = torch.rand(2, 3, 32, 32)
    assert WideResNet(depth=10, widen=1)(x).shape == (2, 10)
    assert CifarResNet(depth=8, width=4)(x).shape == (2, 10)
    assert UNet(num_classes=4, base=4, depth=3)(torch.rand(1, 3, 25, 37)).shape == (1, 4, 25, 37)


TINY = dict(n_train=128, n_valid=64, set_epochs=1, set_latent=16, set_ch=8, n_test=64, n_attack=32, n_cert=16, epochs=1,
            batch_size=64, clf_ch=4, clf_hidden=16, adv_steps=2, attack_steps=3, n_random=8, cert_n0=16, cert_n=64, n_cert_valid=4,
            certify_all=False)
NB = ROOT / 'nbs/experiments/mnist_rts_robust.ipynb'


@pytest.mark.slow
def test_experiment_notebook_writes_a_complete_table(tmp_path):
    "The experiment at a tiny size, training its own set (set_path None): every method evaluated, checked, certified and saved."
    from pertlearn.models.classifiers import load_classifier
    out = tmp_path / 'rr'
    args = [str(Path(sys.executable).parent / 'papermill'), str(NB), str(tmp_path / 'out.ipynb'), '-k', 'python3', '-p', 'out_dir', str(out)]
    for k, v in TINY.items(): args += ['-p', k, str(v)]
    subprocess.run(args, check=True, capture_output=True, text=True, cwd=tmp_path)
    t = pd.read_csv(out / 'results.csv', index_col='method')
    assert set(t.index) == {'standard', 'real_rts', 'set_aug', 'adversarial', 'noise'}
    for c in ['clean', 'real_rts', 'robust_median', 'robust_q75', 'reference_pgd_q75', 'train_seconds', 'eval_seconds']:
        assert t[c].notna().all() and (t[c] >= 0).all(), c
    m = json.loads((out / 'metrics.json').read_text())
    assert {'results', 'verdict', 'seconds', 'radii', 'sigma', 'convergence', 'certificates', 'test_examples'} <= set(m)
    # the convergence evidence exists for every method, and no reported attack is weaker than sampling the set
    for meth, c in m['convergence'].items():
        assert c['attack']['accuracy'] <= c['random']['accuracy'] + 1e-9, meth
        assert {'doubled', 'converged', 'half_width'} <= set(c)
    # the noise scale was chosen among the validation candidates, and only the noise model is certified here
    assert any(abs(m['sigma'] - r['sigma']) < 1e-6 for r in m['sigma_choice']) and [r['method'] for r in m['certificates']] == ['noise']
    # every verdict key is a word from the explained vocabulary: a method name, 'tie: ...', better/worse/tie, or a number
    for k in ('adversarial_vs_set_aug_q75', 'adversarial_vs_real_rts_q75'): assert m['verdict'][k] in ('better', 'worse', 'tie')
    # saved classifiers load and reproduce the reported clean accuracy on the same test digits
    from pertlearn.data.mnist_rts import load_mnist, mnist_rts_test_pairs
    x, _, y = mnist_rts_test_pairs(load_mnist('embedded'), n=TINY['n_test'])
    clf = load_classifier(out / 'classifiers' / 'standard-seed0.safetensors')
    with torch.no_grad(): acc = float((clf(x).argmax(1) == y).float().mean())
    assert abs(acc - t.loc['standard', 'clean']) < 1e-6
    assert (out / 'set' / 'set.json').exists()
    for f in ('certified_accuracy.png', 'training_inputs.png', 'attack_convergence.png'): assert (out / f).exists(), f


def test_test_split_is_read_only_in_the_final_section():
    "No code cell before the notebook's final-evaluation section touches the test split."
    cells = json.loads(NB.read_text())['cells']
    heads = [i for i, c in enumerate(cells) if c['cell_type'] == 'markdown' and ''.join(c['source']).startswith('## Final evaluation on the test split')]
    assert len(heads) == 1, 'the notebook needs exactly one "## Final evaluation on the test split" section'
    test_names = ('mnist_rts_test_pairs', 'x_te', 'xt_te', 'y_te', 'test_x', 'test_y', '.test', 'dls[2]')
    for i, c in enumerate(cells[:heads[0]]):
        if c['cell_type'] != 'code': continue
        src = '\n'.join(l for l in ''.join(c['source']).splitlines() if not l.lstrip().startswith(('import ', 'from ')))   # importing is not reading
        used = [n for n in test_names if n in src]
        assert not used, f"cell {i} (before the final section) uses the test split: {used}"
    after = ''.join(''.join(c['source']) for c in cells[heads[0]:] if c['cell_type'] == 'code')
    assert after.count('mnist_rts_test_pairs(') == 1, 'the test split is read exactly once'


def test_train_mode_attack_uses_batch_statistics_and_leaves_bn_alone(ps, dls):
    "attack_mode='train' attacks with batch statistics (a different member than eval mode) and never moves BN buffers."
    torch.manual_seed(0); clf = MNISTConvNet(ch=4, hidden=16)
    learn = fit(dls, None, clf=clf); clf.eval()
    x, y = dls.train.one_batch()
    before = bn_state(clf)
    members = {}
    for mode in ('eval', 'train'):
        cb = LatentAdversarialTraining(ps, steps=2, attack_mode=mode); cb.learn = learn
        members[mode] = cb.attack(x, y, 0)
        assert same_state(before, bn_state(clf))
    assert not torch.allclose(members['eval'], members['train'])
    with torch.no_grad():
        a = TrainModeForward(clf)(x)
        assert same_state(before, bn_state(clf)) and not clf.training
        b = clf(x)
    assert not torch.allclose(a, b)


def test_separate_batches_two_forward_passes(ps, dls):
    "batches='separate' runs the model on the clean batch and then on the adversarial batch, each its own BN batch."
    sizes = []
    torch.manual_seed(0); clf = MNISTConvNet(ch=4, hidden=16)
    h = clf.register_forward_hook(lambda m, i, o: sizes.append((m.training, len(i[0]))))
    fit(dls, LatentAdversarialTraining(ps, steps=1, attack_mode='train', batches='separate'), clf=clf)
    h.remove()
    train_fwd = [n for t, n in sizes if t]   # forward passes in training mode (the attack's are wrapped, also train mode)
    assert 64 not in [n for _, n in sizes] and len(train_fwd) > 0   # never a doubled batch


def test_bad_options_are_named(ps):
    for kw, msg in ((dict(attack_mode='x'), 'attack_mode'), (dict(batches='x'), 'batches')):
        with pytest.raises(ValueError, match=msg): LatentAdversarialTraining(ps, **kw)
    with pytest.raises(ValueError, match='prior'): SetAugmentation(ps, sampling='gaussian')
    with pytest.raises(ValueError, match="warm_start needs inner='fgm'"): LatentAdversarialTraining(ps, warm_start=True)


def test_warm_starts_reuse_each_digits_latent(ps, dls):
    "Warm starts change the second epoch (and only through the kept latents): same seed, same weights; not those of plain FGM."
    cbs = [LatentAdversarialTraining(ps, inner='fgm', warm_start=True, seed=1) for _ in range(2)]
    a, b = (fit(dls, cb, epochs=2).model for cb in cbs)
    c = fit(dls, LatentAdversarialTraining(ps, inner='fgm', seed=1), epochs=2).model
    assert torch.equal(fingerprint(a), fingerprint(b)) and not torch.equal(fingerprint(a), fingerprint(c))
    assert len(cbs[0].bank) == len(dls.train) * 32   # every training digit kept once
    one = fit(dls, LatentAdversarialTraining(ps, inner='fgm', warm_start=True, seed=1), epochs=1).model
    plain = fit(dls, LatentAdversarialTraining(ps, inner='fgm', seed=1), epochs=1).model
    assert torch.equal(fingerprint(one), fingerprint(plain))   # the first epoch is plain FGM
