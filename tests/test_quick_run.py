"The README's main job, exactly as documented, and the quality the issue asks of it."
import json, subprocess, sys
from pathlib import Path
import pytest

BIN = Path(sys.executable).parent


@pytest.mark.slow
def test_quick_mnist_rts_run_learns_a_real_set(tmp_path):
    out = tmp_path / 'quick'
    r = subprocess.run([str(BIN / 'pertlearn'), 'run', 'mnist-rts', '--quick', '--out', str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads((out / 'metrics.json').read_text())['summary']
    # on held-out fixed pairs, per-pixel squared error, at the eps the run chose:
    assert s['approx_pgd'] * 3 <= s['identity'], s         # >= 3x below the identity baseline
    assert s['approx_pgd'] < s['expected'], s               # and below the expected (sampled) error
    assert s['criterion_pgd_3x_below_identity_and_below_expected'] is True
