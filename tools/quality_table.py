"""One quality table for every learned set in results/ (the paper's condensed table), written as results/quality_table.{md,json}.

Usage: python tools/quality_table.py   (reads results/*/metrics.json; no model is run)

A run folder holds one set (`summary` and `offset_stats` at the top of its metrics.json) or several (`sets`: name →
{summary, offset_stats, units}). Columns: ε, encoder / PGD / expected approximation error, reconstruction error, KL, the
identity baseline (the error of x̃ ≈ x, no set at all) and the statistics of the whitened latent offsets ‖u‖ from which
radii are chosen. Errors are in the paper's units, stated per row (BCE per pixel for MNIST — mnist-limited's summed BCE
divided by its 42×42 pixels — squared error per pixel elsewhere); they compare within a row, and across rows of the
same units only. The paper's published Multi-Illumination statistics (real data, mip5) stand beside the lighting row.
"""
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ERRORS = ['approx_encoder', 'approx_pgd', 'expected', 'recon', 'kl', 'identity']
NORMS = ['mean', 'std', 'q25', 'median', 'q75', 'max']
MSE = 'squared error (mean per pixel)'
# what each experiment's unit word means (from its notebook): mnist-limited sums BCE over a pair's 42×42 pixels (the
# training loss), mnist-linf averages it per pixel; every squared error is pertlearn.metrics.mse_dist, a mean per pixel
BCE = 'BCE (mean per pixel)'
UNITS = {('mnist-limited', 'BCE'): BCE, ('mnist-linf', 'BCE'): BCE, ('illumination', 'squared error'): MSE}
# mnist-limited records BCE summed over a pair's 42×42 pixels (its training loss): its errors are divided by the pixel count
# so that every MNIST row is in the paper's unit, BCE per pixel (KL is not an error and stays as it is)
PER_PIXEL = {'mnist-limited': 42 * 42}
# ../shared/REFERENCE.md: the paper's table of quality metrics per resolution (mip5, ε = 17) and its latent-norm statistics
PAPER_LIGHTING = dict(set='paper: MIT Multi-Illumination, mip5 (real data, published)', run='Wong & Kolter 2021', units='squared error',
                      eps=17.0, approx_encoder=0.019, approx_pgd=0.006, expected=0.13, recon=0.0040, kl=65.8,
                      mean=7.42, median=7.35, q75=8.81, max=16.63)

def rows_of(run:Path)->list[dict]:
    "Quality rows of one run folder (none when its metrics.json records no set quality)."
    m = json.loads((run/'metrics.json').read_text())
    sets = m.get('sets') or ({run.name: dict(summary=m['summary'], offset_stats=m.get('offset_stats', {}), units=m.get('units', MSE))}
                            if isinstance(m.get('summary'), dict) and 'approx_pgd' in m['summary'] else {})
    if isinstance(m.get('quality_bce'), dict):   # the same set's metrics in BCE (mnist-rts), beside its squared-error row
        sets = {**sets, f'{run.name} (BCE)': dict(m['quality_bce'], offset_stats=m.get('offset_stats', {}))}
    rows = []
    for name, s in sets.items():
        su, st = s.get('summary', {}), s.get('offset_stats', {})
        st = st.get('test', st)   # runs that record validation and test offsets: the test pairs, as the errors
        if 'approx_pgd' not in su: continue
        units = s.get('units', MSE); units = next((v for (exp, u), v in UNITS.items() if run.name.startswith(exp) and u == units), units)
        div = next((v for exp, v in PER_PIXEL.items() if run.name.startswith(exp)), 1)
        errs = {k: (su.get(k) / div if k != 'kl' and su.get(k) is not None else su.get(k)) for k in ERRORS}
        qc = s.get('quality_convergence') or m.get('quality_convergence') or {}
        qc = qc if 'converged' in qc else (qc.get(name) or qc.get(s.get('mode'), {}))   # one check per run, or one per set (by name or mode)
        rows.append(dict(set=name, run=run.name, units=units, eps=su.get('eps', st.get('eps')),
                         **errs, **{k: st.get(k) for k in NORMS}, n=su.get('n'), search=search(qc, name)))
    return rows

def search(qc:dict, name:str)->str:
    "How far the PGD error can be trusted: the change when the search's steps and starts are doubled, or why it is unknown."
    if name.endswith('(BCE)'): return 'checked in squared error: the row above'
    if 'converged' not in qc: return 'unchecked (run before issue 28)'
    return f"{'converged' if qc['converged'] else 'NOT converged'} ({-qc['relative_change']:+.1%} doubled)"

def fmt(v)->str:
    if v is None: return '—'
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"

def main():
    runs = [run for run in sorted((ROOT/'results').iterdir()) if not run.name.startswith('.')]   # not a run still in progress (.NAME.partial)
    rows = [r for run in runs if (run/'metrics.json').is_file() for r in rows_of(run)]
    rows.append(PAPER_LIGHTING)
    cols = ['eps'] + ERRORS + NORMS
    head = ['set', 'run', 'units', 'ε', 'encoder', 'PGD', 'expected', 'recon', 'KL', 'identity', '‖u‖ mean', 'std', '25%', '50%', '75%', 'max', 'PGD search']
    lines = ["# Quality of every learned set", "",
             "Made by `python tools/quality_table.py` from `results/*/metrics.json` (test pairs of each run; n pairs per run in the JSON). "
             "Errors: approximation error of the encoder's code, of latent PGD within ε, and of prior samples (expected); reconstruction "
             "error; KL(q‖p); identity = the error of x̃ ≈ x without any set. Lower is better, and a set is useful where PGD is well below "
             "identity. ‖u‖: the whitened encoder offsets, from which ε is chosen (on validation pairs). The last row is the paper's, "
             "measured on the real data set, not by pertlearn. PGD search: the change of the mean PGD error when the search is "
             "repeated with twice its steps and starts (converged: at most 5% lower); runs made before the spectral search "
             "(issue 28) used 50 fixed steps, unchecked: their PGD errors are upper bounds that the spectral search lowered by "
             "10% (the quick mnist-rts run, same trained set) and 23% (the shipped set, `benchmarks/results/quality_convergence.md`).", "",
             '| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for r in rows:
        lines.append('| ' + ' | '.join([r['set'], r['run'], r['units']] + [fmt(r.get(c)) for c in cols] + [r.get('search', '—')]) + ' |')
    (ROOT/'results'/'quality_table.md').write_text('\n'.join(lines) + '\n')
    (ROOT/'results'/'quality_table.json').write_text(json.dumps(rows, indent=1) + '\n')
    print('\n'.join(lines))

if __name__ == '__main__': main()
