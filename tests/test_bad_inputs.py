"""Issue 13, 'no silent wrong results': one case per bullet. Each bad input is refused with an exception or exit code,
a message that names the problem, and existing outputs left byte-intact; every refusal happens before any work."""
import csv, json, math, os, shutil, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

from pertlearn.app.cli import main
from pertlearn.checks import write_marker, MARKER
from pertlearn.data.pairs import PairsError, load_pairs, write_pairs
from pertlearn.perturbation import PerturbationSet, latent_pgd
from pertlearn.attacks import LatentPGD, LinfPGD, L2PGD, RandomMembers
from pertlearn.certify import LatentSmoother, sigma_for_radius
from pertlearn.robust import SetAugmentation, LatentNoise, LatentAdversarialTraining

BIN = Path(sys.executable).parent
NAN, INF = float('nan'), float('inf')


@pytest.fixture(scope='module')
def clf():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(42 * 42, 10)).eval()


@pytest.fixture(scope='module')
def xy(ps):
    g = torch.Generator().manual_seed(0)
    return torch.rand(4, *ps.cvae.in_shape, generator=g), torch.tensor([0, 1, 2, 3])


@pytest.fixture(scope='module')
def pairs(tmp_path_factory):
    "24 small grey pairs (12 wide, 10 high) on disk."
    g = torch.Generator().manual_seed(0)
    x = torch.rand(24, 1, 10, 12, generator=g); xt = (x + 0.1).clamp(0, 1)
    return write_pairs(x, xt, tmp_path_factory.mktemp('pairs')/'p')


def _snapshot(d:Path)->dict:
    return {str(f.relative_to(d)): f.read_bytes() for f in sorted(d.rglob('*')) if f.is_file()}


def _cli(capsys, *argv):
    "Run the CLI in-process: (exit status, stdout, stderr)."
    rc = main([str(a) for a in argv]); o = capsys.readouterr()
    return rc, o.out, o.err


def _one_line_error(rc, err, *words):
    assert rc == 2, err
    assert 'Traceback' not in err and len(err.strip().splitlines()) >= 1
    for w in words: assert w in err, (w, err)


# ---------------------------------------------------------------------------------------------------------------
# Wrong results without a word
# ---------------------------------------------------------------------------------------------------------------

def test_run_into_existing_run_folder_with_other_params_is_refused(tmp_path, capsys):
    "`pertlearn run --out <existing run> -p seed 7` refuses (names seed, offers --overwrite), before any work, files intact."
    from pertlearn.app.runner import prepare_run
    out = tmp_path/'run'
    _, _, _, record = prepare_run('mnist-rts', {}, True, out)   # the record a seed-0 quick run writes
    out.mkdir(); (out/'params.json').write_text(json.dumps(record)); (out/'set').mkdir()
    (out/'set'/'model.safetensors').write_bytes(b'seed-0 weights'); write_marker(out, 'run')
    before = _snapshot(out)
    rc, _, err = _cli(capsys, 'run', 'mnist-rts', '--quick', '--out', out, '-p', 'seed', '7', '-p', 'lr_max', '0.01')
    _one_line_error(rc, err, 'seed', 'lr_max', '--overwrite', 'another --out')
    assert _snapshot(out) == before
    prepare_run('mnist-rts', {}, True, out)                                  # the same parameters: resumable
    prepare_run('mnist-rts', {'seed': 7}, True, out, overwrite=True)         # explicit overwrite: accepted, nothing replaced yet
    assert _snapshot(out) == before


def test_train_cvae_refuses_a_checkpoint_of_another_run(tmp_path, capsys):
    "train_cvae resumes only the identical run; a changed learning rate is refused, naming what differs; same run resumes."
    from pertlearn.data.mnist_rts import mnist_rts_dls
    from pertlearn.models.mnist import ConvCVAE
    from pertlearn.train import train_cvae
    def go(**kw):
        torch.manual_seed(0)
        return train_cvae(ConvCVAE(latent=4, ch=4, enc_ch=4), mnist_rts_dls(n_train=64, n_valid=32, bs=32, seed=0),
                          progress=False, ckpt_dir=tmp_path, config=dict(seed=0), **kw)
    go(epochs=1, lr_max=1e-3)
    before = _snapshot(tmp_path)
    with pytest.raises(ValueError, match=r'different run.*schedules.*--overwrite'): go(epochs=1, lr_max=1e-2)
    with pytest.raises(ValueError, match=r'config\.seed'):
        torch.manual_seed(0)
        train_cvae(ConvCVAE(latent=4, ch=4, enc_ch=4), mnist_rts_dls(n_train=64, n_valid=32, bs=32, seed=0), 1,
                   lr_max=1e-3, progress=False, ckpt_dir=tmp_path, config=dict(seed=7))
    assert _snapshot(tmp_path) == before
    capsys.readouterr()
    go(epochs=1, lr_max=1e-3)   # identical: nothing left to train, accepted


def test_failed_run_leaves_nothing(tmp_path, monkeypatch):
    "A run that fails leaves no folder at all (no partial one, no params.json that disagrees with results): one line says why."
    import papermill as pm
    from pertlearn.app.runner import run_experiment, RunFailed
    def boom(*a, **k): raise RuntimeError('kernel died')
    monkeypatch.setattr(pm, 'execute_notebook', boom)
    out = tmp_path/'run'
    with pytest.raises(RunFailed, match='kernel died'): run_experiment('mnist-rts', {'seed': 3}, True, out)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize('bad', [NAN, INF, -1.0, 0.0])
def test_non_finite_or_non_positive_radii_are_refused(ps, clf, xy, bad):
    "NaN, inf and non-positive ε, σ, step sizes are a ValueError naming the argument, everywhere they enter."
    x, y = xy
    for make, name in [(lambda: LatentPGD(clf, ps, eps=bad), 'eps'), (lambda: LatentPGD(clf, ps, step_size=bad), 'step_size'),
                       (lambda: RandomMembers(clf, ps, eps=bad), 'eps'), (lambda: LinfPGD(clf, bad), 'eps'),
                       (lambda: L2PGD(clf, 0.5, step_size=bad), 'step_size'), (lambda: PerturbationSet(ps.cvae, bad), 'eps'),
                       (lambda: LatentSmoother(clf, ps, bad, 10), 'sigma'), (lambda: sigma_for_radius(bad, 100, verbose=False), 'eps'),
                       (lambda: SetAugmentation(ps, eps=bad), 'eps'), (lambda: LatentNoise(ps, bad), 'sigma'),
                       (lambda: LatentAdversarialTraining(ps, eps=bad), 'eps')]:
        with pytest.raises(ValueError, match=name): make()
    if bad != 0:   # radius 0 is the set's centre (curves start there); negative, NaN and inf are not radii
        with pytest.raises(ValueError, match='eps'): ps.sample(x, 2, eps=bad)
        with pytest.raises(ValueError, match='eps'): latent_pgd(lambda xm, u: xm.flatten(1).sum(1), ps, x, eps=bad, steps=1)


@pytest.mark.parametrize('bad', [0, -1, 1.5])
def test_non_positive_counts_are_refused(ps, clf, xy, bad):
    "Steps, restarts, sample counts and noise draws must be positive integers."
    x, y = xy
    for make, name in [(lambda: LatentPGD(clf, ps, steps=bad), 'steps'), (lambda: LatentPGD(clf, ps, restarts=bad), 'restarts'),
                       (lambda: RandomMembers(clf, ps, k=bad), 'k'), (lambda: LinfPGD(clf, 0.1, steps=bad), 'steps'),
                       (lambda: LatentAdversarialTraining(ps, steps=bad), 'steps'), (lambda: ps.sample(x, bad), 'n'),
                       (lambda: LatentSmoother(clf, ps, 0.5, 10).certify(x, n0=8, n=bad), 'n')]:
        with pytest.raises((ValueError, TypeError), match=name): make()


def test_load_refuses_corrupt_sets(ps, tmp_path):
    "NaN weights, a NaN or negative ε, an unknown or wrongly typed hparam, a set.json that is not an object: errors naming the file."
    good = ps.save(tmp_path/'good')
    def variant(name, edit):
        d = tmp_path/name; shutil.copytree(good, d); edit(d); return d
    def set_json(d, f): j = json.loads((d/'set.json').read_text()); f(j); (d/'set.json').write_text(json.dumps(j))
    def model_json(d, f): j = json.loads((d/'model.json').read_text()); f(j); (d/'model.json').write_text(json.dumps(j))
    def nan_weights(d):
        from safetensors.torch import load_file, save_file
        t = load_file(d/'model.safetensors'); k = next(k for k, v in t.items() if v.is_floating_point())
        t[k] = torch.full_like(t[k], NAN); save_file(t, d/'model.safetensors')
    cases = {'nan_weights': (nan_weights, 'NaN or inf weights'),
             'eps_nan': (lambda d: set_json(d, lambda j: j.update(eps=NAN)), 'set.json'),
             'eps_neg': (lambda d: set_json(d, lambda j: j.update(eps=-1)), 'set.json'),
             'not_object': (lambda d: (d/'set.json').write_text('[1, 2]'), 'set.json'),
             'unknown_hparam': (lambda d: model_json(d, lambda j: j['hparams'].update(bogus=1)), 'model.json'),
             'typed_hparam': (lambda d: model_json(d, lambda j: j['hparams'].update(latent='many')), 'model.json'),
             'hparams_not_object': (lambda d: model_json(d, lambda j: j.update(hparams=[1])), 'model.json')}
    for name, (edit, where) in cases.items():
        d = variant(name, edit)
        with pytest.raises(ValueError, match=where) as e: PerturbationSet.load(d)
        assert name in str(e.value) or str(d) in str(e.value), (name, e.value)


def test_bad_inputs_and_labels_are_refused(ps, clf, xy):
    "0-255 floats, empty batches, float64, float/out-of-range/short labels, n=0, alpha outside (0,1), wrong num_classes."
    x, y = xy
    with pytest.raises(ValueError, match='255'): ps.sample(x * 255, 2)
    with pytest.raises(ValueError, match='empty'): ps.sample(x[:0], 2)
    with pytest.raises(TypeError, match='float64'): ps.sample(x.double(), 2)
    atk = LatentPGD(clf, ps, steps=1)
    with pytest.raises(TypeError, match='integer'): atk(x, y.float())
    with pytest.raises(ValueError, match=r'\[0, 10\)'): atk(x, y + 9)
    with pytest.raises(ValueError, match='3 labels for a batch of 4'): atk(x, y[:3])
    with pytest.raises(ValueError, match='3 labels for a batch of 4'): RandomMembers(clf, ps, k=1)(x, y[:3])
    with pytest.raises(ValueError, match=r'must lie in \[0'): LinfPGD(clf, 0.1, steps=1)(x, y - 1)
    sm = LatentSmoother(clf, ps, 0.5, 10)
    with pytest.raises(ValueError, match='n must be'): sm.certify(x, n0=4, n=0)
    for a in (0.0, 1.0, 1.5, NAN): 
        with pytest.raises(ValueError, match='alpha'): sm.certify(x, n0=4, n=8, alpha=a)
    with pytest.raises(ValueError, match='num_classes is 5 but the model returns 10'): LatentSmoother(clf, ps, 0.5, 5).certify(x, 4, 8)


# ---------------------------------------------------------------------------------------------------------------
# The CLI refuses bad arguments in one line, before any work
# ---------------------------------------------------------------------------------------------------------------

def _latin1_csv(d):
    p = d/'pairs_latin1.csv'; p.write_bytes('x,x_tilde\ncafé_é.png,b.png\n'.encode('latin-1')); return p

def _one_pair(d, pairs):
    q = d/'one'; (q/'x').mkdir(parents=True); (q/'x_tilde').mkdir()
    shutil.copy(pairs/'x'/'00000.png', q/'x'); shutil.copy(pairs/'x_tilde'/'00000.png', q/'x_tilde'); return q

BAD_LEARN = {   # name: (extra arguments or a function of (tmp, pairs) giving the pairs path, words the error must contain)
    'valid_pct': (['--valid-pct', '1.5'], ['valid_pct']),
    'epochs': (['--epochs', '0'], ['epochs']),
    'bs': (['--bs', '0'], ['bs']),
    'arch_shape': (['--arch', 'mnist_stn'], ['mnist_stn', 'square']),
    'device_name': (['--device', 'gpu0'], ['gpu0']),
    'x_dir_alone': (['--x-dir', 'x'], ['--xt-dir']),
    'latin1_csv': (lambda d, p: _latin1_csv(d), ['cannot read CSV']),
    'txt_file': (lambda d, p: (d/'notes.txt').write_text('hi') and d/'notes.txt', ['not a .csv']),
    'png_file': (lambda d, p: p/'x'/'00000.png', ['not a .csv']),
    'one_pair': (lambda d, p: _one_pair(d, p), ['at least 2']),
}
if not torch.cuda.is_available(): BAD_LEARN['device_cuda'] = (['--device', 'cuda'], ['CUDA is not available'])

@pytest.mark.parametrize('case', sorted(BAD_LEARN))
def test_learn_bad_arguments_one_line_exit_2(case, pairs, tmp_path, capsys, monkeypatch):
    "Each bad argument of `pertlearn learn` is one line on stderr with exit status 2, and no training starts."
    import pertlearn.train
    monkeypatch.setattr(pertlearn.train.Learner, 'fit', lambda *a, **k: pytest.fail('training started'))
    extra, words = BAD_LEARN[case]
    src = extra(tmp_path, pairs) if callable(extra) else pairs
    args = [] if callable(extra) else extra
    rc, _, err = _cli(capsys, 'learn', src, tmp_path/'out', '--device', 'cpu', *args) if case not in ('device_name', 'device_cuda') \
        else _cli(capsys, 'learn', src, tmp_path/'out', *args)
    _one_line_error(rc, err, 'pertlearn learn: error:', *words)
    assert not (tmp_path/'out').exists()


def test_unwritable_output_refused_before_training(pairs, tmp_path, capsys, monkeypatch):
    "An output folder that cannot be written is refused first, naming the folder the user chose."
    if not Path('/proc').is_dir(): pytest.skip('needs a folder nobody can write: /proc')
    import pertlearn.train
    monkeypatch.setattr(pertlearn.train.Learner, 'fit', lambda *a, **k: pytest.fail('training started'))
    ro = Path('/proc')/'pertlearn_out'
    rc, _, err = _cli(capsys, 'learn', pairs, ro, '--device', 'cpu')
    _one_line_error(rc, err, str(ro), 'not writable')
    rc, _, err = _cli(capsys, 'run', 'mnist-rts', '--quick', '--out', ro/'run')
    _one_line_error(rc, err, str(ro/'run'), 'not writable')


def test_run_param_of_wrong_type_refused_before_executing(tmp_path, capsys, monkeypatch):
    "`-p epochs abc` is refused against the notebook default's type before papermill runs a cell."
    import papermill as pm
    monkeypatch.setattr(pm, 'execute_notebook', lambda *a, **k: pytest.fail('notebook executed'))
    rc, _, err = _cli(capsys, 'run', 'mnist-rts', '--quick', '--out', tmp_path/'r', '-p', 'epochs', 'abc')
    _one_line_error(rc, err, "epochs='abc'", 'int')
    rc, _, err = _cli(capsys, 'run', 'mnist-rts', '--quick', '--out', tmp_path/'r', '-p', 'lr_max', 'fast')
    _one_line_error(rc, err, 'lr_max')
    assert not (tmp_path/'r').exists()


def test_all_pair_problems_in_one_pass(pairs, tmp_path):
    "Unmatched names and undecodable files are reported together, not one kind per rerun."
    d = tmp_path/'p'; shutil.copytree(pairs, d)
    (d/'x_tilde'/'00003.png').unlink()                         # a name problem
    (d/'x'/'00005.png').write_bytes(b'garbage')                # a decode problem
    Image.fromarray(np.zeros((10, 9), np.uint8)).save(d/'x_tilde'/'00007.png')   # a size problem
    with pytest.raises(PairsError) as e: load_pairs(d)
    names = {Path(p).name for p, _ in e.value.problems}
    assert {'00003.png', '00005.png', '00007.png'} <= names, names
    assert '9x10 (WxH)' in str(e.value)


def test_ctrl_c_prints_the_resume_command(pairs, tmp_path, capsys, monkeypatch):
    "Ctrl-C: one line naming the command that resumes, exit 130, no traceback."
    import pertlearn.app.cli
    def interrupted(*a, **k): raise KeyboardInterrupt
    monkeypatch.setattr(pertlearn.app.cli, 'learn_set', interrupted)
    rc, _, err = _cli(capsys, 'learn', pairs, tmp_path/'out', '--epochs', '3')
    assert rc == 130 and 'Traceback' not in err
    assert len(err.strip().splitlines()) == 1 and f"resume with: pertlearn learn {pairs} {tmp_path/'out'} --epochs 3" in err


def test_report_names_x_and_xt_folders_and_sizes_w_by_h(pairs, tmp_path, capsys):
    "The report says which folder is x and which x̃, and the size as W×H."
    from pertlearn.from_pairs import learn_set
    learn_set(pairs, tmp_path/'set', epochs=1, latent=4, ch=4, bs=16, pgd_steps=1, n_samples=1, device='cpu', progress=False)
    out = capsys.readouterr().out
    assert f"x: {pairs/'x'}" in out and f"x̃: {pairs/'x_tilde'}" in out
    assert '12x10 (WxH)' in out


# ---------------------------------------------------------------------------------------------------------------
# `pertlearn learn` gives a useful set or says it did not
# ---------------------------------------------------------------------------------------------------------------

def test_learn_says_when_the_set_does_not_beat_identity(pairs, tmp_path, capsys):
    "A set not better than the identity by --min-quality exits 3 with a message; defaults are shown in --help."
    rc, _, err = _cli(capsys, 'learn', pairs, tmp_path/'set', '--epochs', '1', '--latent', '4', '--ch', '4', '--pgd-steps', '1',
                      '--n-samples', '1', '--device', 'cpu', '--min-quality', '1e9')
    assert rc == 3 and 'not useful' in err and 'identity/approx' in err
    rep = json.loads((tmp_path/'set'/'report.json').read_text())
    assert rep['metrics']['identity_over_approx_pgd'] < 1e9 and 'beats_identity' in rep
    with pytest.raises(SystemExit): main(['learn', '--help'])
    h = capsys.readouterr().out
    assert 'default: 1000' in h and '--min-quality' in h


# ---------------------------------------------------------------------------------------------------------------
# Quiet, readable output
# ---------------------------------------------------------------------------------------------------------------

def test_help_prints_no_torch_jit_warning():
    "No FutureWarning from a dependency on any command, even --help."
    r = subprocess.run([str(BIN/'pertlearn'), 'learn', '--help'], capture_output=True, text=True)
    assert r.returncode == 0 and 'FutureWarning' not in r.stderr and 'torch.jit' not in r.stderr, r.stderr


def test_resumed_training_says_so_and_table_columns_are_separate(tmp_path, capsys):
    "A resumed run prints 'resuming from epoch k' and no rows for skipped epochs; table columns never run together."
    import re
    from pertlearn.data.mnist_rts import mnist_rts_dls
    from pertlearn.models.mnist import ConvCVAE
    from pertlearn.train import train_cvae, InterruptAfter, _Interrupt
    def go(cbs=None, progress=False):
        torch.manual_seed(0)
        return train_cvae(ConvCVAE(latent=4, ch=4, enc_ch=4), mnist_rts_dls(n_train=64, n_valid=32, bs=32, seed=0), 2,
                          lr_max=1e-3, progress=progress, ckpt_dir=tmp_path, cbs=cbs)
    with pytest.raises(_Interrupt): go([InterruptAfter(0)])
    capsys.readouterr(); go(progress=True)
    out = capsys.readouterr().out
    assert 'resuming from epoch 1 of 2' in out
    num = r'(-?[\d.]+(?:e[-+]\d+)?)'
    rows = re.findall(rf'(?m)(\d+) +{num} +{num} +{num} +{num} +(\d\d:\d\d)', out)
    assert [r[0] for r in rows] == ['1'], out   # the skipped epoch 0 prints nothing; five separate columns
    assert not re.search(r'\d\.\d+\.\d', out)   # no two numbers glued together


# ---------------------------------------------------------------------------------------------------------------
# Issue 25: nothing of the user's is ever lost, and no bad value trains silently
# ---------------------------------------------------------------------------------------------------------------

TINY_LEARN = ['--epochs', '1', '--latent', '4', '--ch', '4', '--pgd-steps', '1', '--n-samples', '1', '--device', 'cpu', '--min-quality', '0']

def _no_training(monkeypatch):
    import pertlearn.train
    monkeypatch.setattr(pertlearn.train.Learner, 'fit', lambda *a, **k: pytest.fail('training started'))

def _tiny_set(pairs, out, capsys):
    rc, _, err = _cli(capsys, 'learn', pairs, out, *TINY_LEARN)
    assert rc == 0, err
    return _snapshot(out)


def test_learn_overwrite_never_replaces_a_folder_it_did_not_write(pairs, tmp_path, capsys, monkeypatch):
    "`learn PAIRS OUT --overwrite` refuses a folder of notes, the pairs folder itself, a folder holding it, and `.`: all intact."
    _no_training(monkeypatch)
    notes = tmp_path/'notes'; notes.mkdir(); (notes/'todo.txt').write_text('my notes')
    p = tmp_path/'p'; shutil.copytree(pairs, p); before = _snapshot(p)
    for out, words in [(notes, ['holds no pertlearn set', 'even with --overwrite']), (p, ['is the input']), (tmp_path, ['holds the input']),
                       (p/'x', ['lies inside the input'])]:
        rc, _, err = _cli(capsys, 'learn', p, out, '--overwrite', '--device', 'cpu')
        _one_line_error(rc, err, 'pertlearn learn: error:', *words)
    monkeypatch.chdir(notes)
    rc, _, err = _cli(capsys, 'learn', p, '.', '--overwrite', '--device', 'cpu')
    _one_line_error(rc, err, 'working folder')
    rc, _, err = _cli(capsys, 'learn', p, '..', '--overwrite', '--device', 'cpu')
    _one_line_error(rc, err, 'above the working folder')
    assert (notes/'todo.txt').read_text() == 'my notes' and _snapshot(p) == before
    assert sorted(f.name for f in notes.iterdir()) == ['todo.txt']


def test_learn_overwrite_a_set_with_notes_added_is_refused(pairs, tmp_path, capsys):
    "A set folder the user added files to is not replaced: their files would go with it."
    _tiny_set(pairs, tmp_path/'set', capsys)
    assert (tmp_path/'set'/MARKER).is_file()
    (tmp_path/'set'/'my_notes.md').write_text('keep me')
    rc, _, err = _cli(capsys, 'learn', pairs, tmp_path/'set', '--overwrite', *TINY_LEARN)
    _one_line_error(rc, err, 'my_notes.md', 'did not write')
    assert (tmp_path/'set'/'my_notes.md').read_text() == 'keep me'


def test_learn_full_disk_leaves_the_old_set_and_no_partial_files(pairs, tmp_path, capsys, monkeypatch):
    "A disk that fills up while saving: one line, the partial folder removed, the previous set byte-identical."
    import errno
    from pertlearn.perturbation import PerturbationSet as PS
    before = _tiny_set(pairs, tmp_path/'set', capsys)
    def full(self, path): Path(path).mkdir(parents=True, exist_ok=True); (Path(path)/'model.safetensors').write_bytes(b'half'); raise OSError(errno.ENOSPC, 'No space left on device')
    monkeypatch.setattr(PS, 'save', full)
    rc, _, err = _cli(capsys, 'learn', pairs, tmp_path/'set', '--overwrite', *TINY_LEARN)
    _one_line_error(rc, err, 'no space left on device', 'partial files were removed', 'unchanged')
    assert len(err.strip().splitlines()) == 1
    assert _snapshot(tmp_path/'set') == before
    assert sorted(f.name for f in tmp_path.iterdir()) == ['set']


def test_learn_overwrite_replaces_its_own_set(pairs, tmp_path, capsys):
    "With --overwrite, a set pertlearn saved is replaced (by a complete new one)."
    before = _tiny_set(pairs, tmp_path/'set', capsys)
    rc, _, err = _cli(capsys, 'learn', pairs, tmp_path/'set', '--overwrite', '--seed', '1', *TINY_LEARN)
    assert rc == 0, err
    assert _snapshot(tmp_path/'set') != before and sorted(f.name for f in tmp_path.iterdir()) == ['set']


@pytest.mark.parametrize('kw,name', [(dict(lr_max=-0.003), 'lr_max'), (dict(epochs=0), 'epochs'), (dict(bs=0), 'bs'), (dict(latent=0), 'latent'),
                                     (dict(valid_pct=NAN), 'valid_pct'), (dict(recon='l1'), 'recon'), (dict(device='nosuch'), 'device'),
                                     (dict(size=0), 'size'), (dict(eps_percentile=101), 'eps_percentile'), (dict(seed='0'), 'seed')])
def test_learn_set_python_api_refuses_before_work(pairs, tmp_path, monkeypatch, kw, name):
    "The Python API refuses what the command line refuses: a ValueError naming the argument, before any work."
    from pertlearn.from_pairs import learn_set
    _no_training(monkeypatch)
    with pytest.raises(ValueError, match=f"^{name}="): learn_set(pairs, tmp_path/'out', **kw)
    assert not (tmp_path/'out').exists()


def test_learn_large_images_refused_with_the_memory_they_need(tmp_path, capsys, monkeypatch):
    "A folder of 4000×4000 pairs is refused before decoding, naming the size it would take and --size."
    import pertlearn.data.pairs as dp
    _no_training(monkeypatch)
    for sub in ('x', 'x_tilde'):
        (tmp_path/'big'/sub).mkdir(parents=True)
        for i in range(2): Image.fromarray(np.zeros((4000, 4000), np.uint8)).save(tmp_path/'big'/sub/f'{i}.png', compress_level=1)
    monkeypatch.setattr(dp, 'available_memory', lambda: 200 * 2**20)
    monkeypatch.setattr(dp, 'read_image', lambda *a, **k: pytest.fail('an image was decoded'))
    rc, _, err = _cli(capsys, 'learn', tmp_path/'big', tmp_path/'out', '--device', 'cpu')
    _one_line_error(rc, err, '244.1 MB', '--size')
    assert not (tmp_path/'out').exists()


# `pertlearn run`: parameters checked against the notebook's declarations, before any folder is made

BAD_RUN = [('lr_max', '-0.003'), ('epochs', '0'), ('batch_size', '0'), ('n_test', '-5'), ('device', 'nosuch'), ('source', 'nosuch'),
           ('latent', '0'), ('cert_alpha', '1.5'), ('n_train', '0'), ('stn_hidden', '[48, 0]'), ('beta_max', 'nan'), ('robust', '1')]
if not torch.cuda.is_available(): BAD_RUN.append(('device', 'cuda'))

@pytest.mark.parametrize('name,value', BAD_RUN)
def test_run_bad_param_refused_in_one_line_nothing_left(name, value, tmp_path, capsys, monkeypatch):
    "`pertlearn run mnist-rts -p NAME VALUE` with a value its declaration does not allow: exit 2, one line, no folder."
    import papermill as pm
    monkeypatch.setattr(pm, 'execute_notebook', lambda *a, **k: pytest.fail('notebook executed'))
    rc, _, err = _cli(capsys, 'run', 'mnist-rts', '--quick', '--out', tmp_path/'r', '-p', name, value)
    _one_line_error(rc, err, 'pertlearn run: error:', f"{name}=")
    assert len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_every_experiment_declares_every_parameter_and_its_profiles_pass():
    "Each parameter of the four notebooks has a declaration, and every profile's values satisfy them."
    from pertlearn.app.runner import EXPERIMENTS, PROFILES, experiments_dir, notebook_declarations, check_run_params, experiment_params, profiles_of
    for name, e in EXPERIMENTS.items():
        d = notebook_declarations(experiments_dir()/e['notebook'])
        assert [k for k, v in d.items() if v[2] is None] == [], name
        for prof in PROFILES:
            if prof in profiles_of(name): check_run_params(name, experiment_params(name, profile=prof), d)


def _fake_notebook(ok=True, error=None):
    "A stand-in for papermill: writes a notebook and metrics into the run's folder, or fails."
    def run(nb, out, parameters=None, cwd=None, **k):
        if not ok: raise error
        Path(out).write_text('{"cells": []}'); (Path(cwd)/'metrics.json').write_text(json.dumps({'summary': {'seed': parameters.get('seed', 0)}}))
    return run


def test_run_overwrite_refuses_a_folder_without_a_run(tmp_path, capsys, monkeypatch):
    "`pertlearn run --overwrite --out NOTES`: refused, the notes intact."
    import papermill as pm
    monkeypatch.setattr(pm, 'execute_notebook', lambda *a, **k: pytest.fail('notebook executed'))
    notes = tmp_path/'notes'; notes.mkdir(); (notes/'a.txt').write_text('mine')
    rc, _, err = _cli(capsys, 'run', 'mnist-rts', '--quick', '--out', notes, '--overwrite')
    _one_line_error(rc, err, 'holds no pertlearn run')
    assert _snapshot(notes) == {'a.txt': b'mine'} and sorted(f.name for f in tmp_path.iterdir()) == ['notes']


@pytest.mark.parametrize('error', [RuntimeError('kernel died'), OSError(28, 'No space left on device')])
def test_failing_run_leaves_the_old_run_byte_identical(error, tmp_path, capsys, monkeypatch):
    "A new run (--overwrite, other parameters) that fails, even on a full disk: one line, the old run exactly as it was, no partial folder."
    import papermill as pm
    out = tmp_path/'run'
    monkeypatch.setattr(pm, 'execute_notebook', _fake_notebook())
    rc, _, err = _cli(capsys, 'run', 'mnist-rts', '--quick', '--out', out)
    assert rc == 0, err
    assert (out/MARKER).is_file() and (out/'params.json').is_file() and not (out/'run.incomplete.json').exists()
    before = _snapshot(out)
    monkeypatch.setattr(pm, 'execute_notebook', _fake_notebook(False, error))
    rc, _, err = _cli(capsys, 'run', 'mnist-rts', '--quick', '--out', out, '--overwrite', '-p', 'seed', '7')
    assert rc == 1 and 'Traceback' not in err and len(err.strip().splitlines()) == 1, err
    assert ('no space left on device' if isinstance(error, OSError) else 'kernel died') in err and 'unchanged' in err
    assert _snapshot(out) == before and sorted(f.name for f in tmp_path.iterdir()) == ['run']
    monkeypatch.setattr(pm, 'execute_notebook', _fake_notebook())   # and a new run that succeeds replaces it
    rc, _, err = _cli(capsys, 'run', 'mnist-rts', '--quick', '--out', out, '--overwrite', '-p', 'seed', '7')
    assert rc == 0, err
    assert json.loads((out/'params.json').read_text())['seed'] == 7 and sorted(f.name for f in tmp_path.iterdir()) == ['run']


def test_run_never_into_the_working_folder_or_its_data(tmp_path, capsys, monkeypatch):
    "`--out .` and an --out that holds the data it reads are refused."
    import papermill as pm
    monkeypatch.setattr(pm, 'execute_notebook', lambda *a, **k: pytest.fail('notebook executed'))
    monkeypatch.chdir(tmp_path); (tmp_path/'mine.txt').write_text('x')
    rc, _, err = _cli(capsys, 'run', 'mnist-rts', '--quick', '--out', '.', '--overwrite')
    _one_line_error(rc, err, 'working folder')
    (tmp_path/'d').mkdir(); (tmp_path/'d'/'mnist.pkl.gz').write_bytes(b'data')
    rc, _, err = _cli(capsys, 'run', 'mnist-rts', '--profile', 'medium', '--out', tmp_path/'d', '-p', 'data_path', str(tmp_path/'d'/'mnist.pkl.gz'))
    _one_line_error(rc, err, 'holds the input')
    assert sorted(f.name for f in tmp_path.iterdir()) == ['d', 'mine.txt']


# `pertlearn docs`

def test_docs_refuses_a_folder_it_did_not_make(tmp_path, capsys):
    "`pertlearn docs --out EXISTING` of the user's: exit 2, one line, their files intact."
    pytest.importorskip('nbconvert')
    mine = tmp_path/'site'; mine.mkdir(); (mine/'index.html').write_text('my page'); (mine/'notes.txt').write_text('mine')
    rc, _, err = _cli(capsys, 'docs', '--out', mine, '--only', 'nothing*')
    _one_line_error(rc, err, 'pertlearn docs: error:', 'holds no pertlearn docs')
    assert _snapshot(mine) == {'index.html': b'my page', 'notes.txt': b'mine'}


def test_docs_renders_pertlearns_chapters_not_the_working_folders(tmp_path, monkeypatch):
    "In someone else's project (its own nbs/), the default chapters are still pertlearn's."
    from pertlearn.app.docs import docs_sources
    (tmp_path/'nbs').mkdir(); (tmp_path/'nbs'/'00_theirs.ipynb').write_text('{}')
    monkeypatch.chdir(tmp_path)
    nbs, _ = docs_sources()
    assert nbs.resolve() != (tmp_path/'nbs').resolve() and not (nbs/'00_theirs.ipynb').exists()


# `pertlearn train-ddp`: the rules of `learn`

def test_train_ddp_refuses_an_existing_set_and_zero_epochs(pairs, tmp_path, capsys, monkeypatch):
    "train-ddp --out EXISTING (no --overwrite), --out NOTES --overwrite, --epochs 0, --lr-max -1: exit 2, one line, nothing trained or lost."
    _no_training(monkeypatch)
    monkeypatch.setenv('WORLD_SIZE', '1'); monkeypatch.setenv('RANK', '0')
    (tmp_path/'set').mkdir(); (tmp_path/'set'/'set.json').write_text('{}'); (tmp_path/'set'/'model.safetensors').write_bytes(b'w')
    before = _snapshot(tmp_path/'set')
    notes = tmp_path/'notes'; notes.mkdir(); (notes/'a.txt').write_text('mine')
    for args, words in [(['--out', tmp_path/'set'], ['already exists', '--overwrite']), (['--out', notes, '--overwrite'], ['holds no pertlearn set']),
                        (['--out', tmp_path/'new', '--epochs', '0'], ['epochs=0']), (['--out', tmp_path/'new', '--lr-max', '-1'], ['lr_max=-1']),
                        (['--out', tmp_path/'new', '--source', 'nosuch'], ["source='nosuch'"]), (['--out', tmp_path/'new', '--bs', '0'], ['bs=0'])]:
        rc, _, err = _cli(capsys, 'train-ddp', '--cpu', '--no-progress', *args)
        _one_line_error(rc, err, 'pertlearn train-ddp: error:', *words)
    assert _snapshot(tmp_path/'set') == before and _snapshot(notes) == {'a.txt': b'mine'}
    assert sorted(f.name for f in tmp_path.iterdir()) == ['notes', 'set']
