"Two CPU processes under torchrun (gloo) train to the weights one process reaches on the same global batches (float64)."
import os, subprocess, sys
from pathlib import Path
import pytest

BIN = Path(sys.executable).parent
ARGS = ['-m', 'pertlearn.app.cli', 'train-ddp', '--cpu', '--n-train', '256', '--bs', '64', '--epochs', '2', '--ch', '4', '--latent', '8',
        '--arch', 'mnist_conv', '--no-progress', '--double']

def _run(cmd, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r

def test_two_processes_match_one(tmp_path):
    two = _run([str(BIN/'torchrun'), '--standalone', '--nproc_per_node', '2', *ARGS, '--out', str(tmp_path/'two')], tmp_path)
    assert '2 process(es)' in two.stdout
    one = _run([sys.executable, *ARGS, '--out', str(tmp_path/'one')], tmp_path)
    assert '1 process(es)' in one.stdout
    from pertlearn.distributed import _compare_sets
    from pertlearn.perturbation import PerturbationSet
    d = _compare_sets(tmp_path/'one', tmp_path/'two')
    # float64 (--double): the only difference left is the order of sums, far below Adam's ε; every tensor agrees
    # (in float32 Adam amplifies rounding noise where a true gradient is ~0: see nbs/12_distributed.ipynb)
    assert d['all_tensors'] < 1e-6, d
    assert d['outputs'] < 1e-6, d
    a, b = PerturbationSet.load(tmp_path/'one'), PerturbationSet.load(tmp_path/'two')
    assert a.eps == pytest.approx(b.eps, rel=2e-2)
    assert b.meta['distributed']['world_size'] == 2 and a.meta['distributed']['world_size'] == 1
