"""Run each experiment's quick mode into results/<name>-quick/ and keep what a reader needs (what `make results` runs).

Usage: python tools/make_results.py [NAME ...]   (default: every experiment in NAMES)
       python tools/make_results.py --profile medium --data-path PATH/mnist.pkl.gz mnist-rts mnist-rts-robust
       python tools/make_results.py --profile medium illumination   (medium profiles that read no file need no --data-path)
       python tools/make_results.py --tidy results/NAME-PROFILE ...   (tidy committed run folders again, without running them)
Each run is `pertlearn run NAME --quick --out results/NAME-quick` (or `--profile medium -p data_path PATH --out
results/NAME-medium`, with PATH passed relative to the run folder so that no machine path is recorded), with figures at 80 dpi. Afterwards the folder keeps
the executed notebook, metrics.json, params.json, small CSV tables and the figures; trained weights and other bulky
files are removed. Machine paths in the notebook, its outputs and params.json become relative to the repository (and a
development folder such as ../../.devdata/ becomes PATH/ in the notebook), the front matter and papermill's timing
metadata go (the runner starts its kernel with `KERNEL_QUIET`, so no start-up warning reaches the log). Exits 1 when a run fails or its notebook's outputs have problems.
"""
import json, os, shutil, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))   # this checkout's pertlearn, whatever is installed
import nbformat
from pertlearn.app.docs import clean_outputs, figure_env, output_problems, _scrub

NAMES = ['mnist-rts', 'mnist-rts-robust', 'corruptions', 'illumination', 'mnist-limited', 'mnist-linf', 'corruption-pairings']
KEEP = {'.ipynb', '.json', '.png', '.csv', '.md'}

def tidy(out:Path)->list[str]:
    "Keep the report files of run folder `out`, make its paths relative, and return its notebook's output problems."
    for f in sorted(out.iterdir()):
        if f.is_dir() and f.name == 'classifiers': continue   # the trained classifiers stay, for anyone to re-attack (small: safetensors + JSON)
        if f.is_dir(): shutil.rmtree(f)
        elif f.suffix not in KEEP or (f.suffix != '.ipynb' and f.stat().st_size > 512_000): f.unlink()   # the report itself always stays
    p = out/'params.json'
    if p.is_file():
        params = json.loads(p.read_text())
        if 'out_dir' in params: params['out_dir'] = str(out.relative_to(ROOT))
        p.write_text(json.dumps(params, indent=1) + '\n')
    problems = []
    for f in sorted(out.glob('*.ipynb')):
        nb = nbformat.read(f, as_version=4)
        nb.metadata.pop('papermill', None); nb.metadata.pop('language_info', None)   # as nbdev-clean leaves a notebook
        nb.cells = [c for c in nb.cells if not (c.cell_type == 'raw' and c.source.lstrip().startswith('---'))]   # the experiment's front matter is for nbdev, not a reader
        for c in nb.cells:
            c.metadata.pop('papermill', None); c.metadata.pop('execution', None)
            c.source = _scrub(c.source, ROOT)
        clean_outputs(nb, ROOT)
        nbformat.write(nb, f)
        problems += output_problems(nb, str(f.relative_to(ROOT)))
    return problems

if __name__ == '__main__':
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('names', nargs='*', help=f"experiments (default: {' '.join(NAMES)})")
    ap.add_argument('--profile', default='quick', choices=['quick', 'medium'], help="parameter profile (default quick)")
    ap.add_argument('--data-path', help="the full MNIST pickle (mnist.pkl.gz) for the medium profile")
    ap.add_argument('--tidy', nargs='+', metavar='FOLDER', help="only tidy these existing run folders (as after a run), running nothing")
    args = ap.parse_args()
    if args.tidy:
        problems = [p for f in args.tidy for p in tidy(Path(f).resolve())]
        print('\n'.join(problems) or f"tidied {len(args.tidy)} folder(s)"); sys.exit(1 if problems else 0)
    names = args.names or NAMES
    from pertlearn.app.runner import EXPERIMENTS
    reads_file = lambda n: EXPERIMENTS[n].get(args.profile, {}).get('source') == 'pickle'   # medium profiles on full MNIST read a file
    if any(reads_file(n) for n in names) and not args.data_path:
        ap.error(f"--profile {args.profile} of {', '.join(n for n in names if reads_file(n))} needs --data-path (a mnist.pkl.gz)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]))
    problems = []
    for name in names:
        out = ROOT/'results'/f'{name}-{args.profile}'
        extra = ['--quick'] if args.profile == 'quick' else ['--profile', args.profile]
        if reads_file(name): extra += ['-p', 'data_path', os.path.relpath(Path(args.data_path).resolve(), out)]
        t0 = time.time()   # an earlier run in `out` stays until this one has succeeded (--overwrite swaps it in then)
        with figure_env():
            code = subprocess.call([sys.executable, '-c', 'import sys; from pertlearn.app.cli import main; sys.exit(main())',
                                'run', name, *extra, '--out', str(out), '--overwrite'], cwd=ROOT, env={**env, 'MATPLOTLIBRC': os.environ['MATPLOTLIBRC']})
        if code: problems.append(f"{name}: the run failed (exit {code})"); continue
        probs = tidy(out); problems += probs
        print(f"{name}: {time.time() - t0:.0f} s → {out.relative_to(ROOT)}{'' if not probs else ' — ' + '; '.join(probs)}", flush=True)
    if problems: print('\n'.join(problems)); sys.exit(1)
