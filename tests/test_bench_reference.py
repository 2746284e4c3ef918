"The side-by-side benchmark against the reference implementation (benchmarks/bench_reference.py) runs in its smoke mode."
import math, os, re, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'benchmarks'))
from bench_reference import find_reference


def _run(*args, env=None):
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1', **(env or {})}
    return subprocess.run([sys.executable, str(ROOT / 'benchmarks' / 'bench_reference.py'), *args],
                          capture_output=True, text=True, env=env, timeout=900)


def test_without_a_checkout_it_skips_with_one_message(tmp_path):
    if find_reference() is not None and (ROOT.parent / 'perturbation_learning').exists():
        pytest.skip("a checkout beside the repository is always found: the no-checkout path cannot be shown here")
    r = _run('--quick', env={'PERTLEARN_REFERENCE': str(tmp_path / 'nowhere')})
    assert r.returncode == 0 and 'skipped' in r.stdout and 'PERTLEARN_REFERENCE' in r.stdout, r.stdout + r.stderr


def test_quick_mode_draws_the_table():
    if find_reference() is None:
        pytest.skip("no checkout of the reference (locuslab/perturbation_learning): set PERTLEARN_REFERENCE or clone it "
                    "to ../perturbation_learning beside the repository root")
    r = _run('--quick', '--no-memory', '--threads', '1')
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    out = r.stdout
    for row in ('train step', 'end to end', 'latent attack', 'certification', 'default attack'):
        line = next((l for l in out.splitlines() if l.startswith(f'| {row}')), None)
        assert line is not None, f"no row {row!r} in:\n{out}"
        ratios = [float(v) for v in re.findall(r'\*\*([0-9.]+)×\*\*', line)]
        assert ratios and all(math.isfinite(v) and v > 0 for v in ratios), line
    fr = [l for l in out.splitlines() if l.startswith(('| full |', '| quick |', '| wide |'))]
    assert len(fr) == 3, out
    ceiling = next((l for l in out.splitlines() if l.startswith("certification's ceiling")), None)
    assert ceiling is not None and re.search(r'past ([0-9.]+)×', ceiling), out   # the bound the classifier alone sets
    assert 'load' in out   # the machine's load is stated
