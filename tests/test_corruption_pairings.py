"""The corruption-pairings experiment (issue 24) on its real-format path: CIFAR-10 python batches and CIFAR-10-C `.npy`
files, tiny and made here in the distributed formats. The whole notebook runs; every strategy is scored on the same
clean → corruption pairs of all 15 corruptions; the quality-table tool reads its three sets."""
import json, subprocess, sys
from pathlib import Path
import pytest
from conftest import write_cifar_files
from pertlearn.data.corruptions import CORRUPTIONS, HELDOUT_CORRUPTIONS

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[1]




@pytest.fixture
def cifar_files(tmp_path):
    "CIFAR-10 (5 training batches of 4 images, a test batch of 4) and a CIFAR-10-C folder with all 15 corruptions at 5 severities."
    write_cifar_files(tmp_path, per_batch=4, n_test=4, corruptions=CORRUPTIONS)
    return tmp_path


def test_pairings_run_on_cifar10_files(cifar_files, tmp_path):
    out = tmp_path / 'run'
    small = dict(epochs=1, n_valid=4, batch_size=8, n_quality=3, latent=8, pgd_steps=2, n_samples=2, n_boot=50, device='cpu')
    cmd = [str(BIN / 'pertlearn'), 'run', 'corruption-pairings', '--quick', '-p', 'source', 'cifar10',
           '-p', 'data_path', str(cifar_files / 'cifar-10-batches-py'), '-p', 'c10c_path', str(cifar_files / 'CIFAR-10-C'),
           '-p', 'cache_dir', str(cifar_files / 'cache'), *[a for k, v in small.items() for a in ('-p', k, str(v))], '--out', str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    m = json.loads((out / 'metrics.json').read_text())
    assert m['params']['source'] == 'cifar10' and m['data']['n_train'] == 16 and m['data']['n_test_pairs'] == 3 * 15
    assert 'CIFAR-10-C' in m['data']['description']   # the test corruptions were read from the .npy files, not generated
    assert sorted(s['mode'] for s in m['sets'].values()) == ['clean', 'pairs', 'pairs+clean']
    for s in m['sets'].values():
        assert s['summary']['n'] == 45 and set(s['per_corruption']) == set(CORRUPTIONS)
        assert {c for c, r in s['per_corruption'].items() if r['split'] == 'held out'} == set(HELDOUT_CORRUPTIONS)
        assert s['units'] == 'squared error (mean per pixel)' and s['summary']['eps'] == pytest.approx(s['offset_stats']['valid']['eps'])
    # the sets share the test pairs: the identity error (x̃ against x, no set) is the same for all three
    ids = {round(s['summary']['identity'], 12) for s in m['sets'].values()}; assert len(ids) == 1
    v = m['verdict']
    assert {'best_training', 'best_held_out', 'pairs_vs_clean', 'pairs+clean_vs_clean', 'beats_identity', 'answer'} <= set(v)
    assert all(w in ('lower', 'higher', 'tie') for k in ('pairs_vs_clean', 'pairs+clean_vs_clean') for w in v[k].values())
    sys.path.insert(0, str(ROOT / 'tools'))
    import quality_table
    rows = quality_table.rows_of(out)
    assert len(rows) == 3 and all(r['approx_pgd'] is not None and r['median'] is not None for r in rows)
    assert all(r['search'].startswith(('converged', 'NOT converged')) for r in rows)   # each set's search checked by doubling
