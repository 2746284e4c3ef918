"""Execute the chapters and index.ipynb and save their outputs back into the notebooks (what `make outputs` runs).

Usage: python tools/make_outputs.py [-j N] [NOTEBOOK ...]
Default: index.ipynb, then every nbs/*.ipynb in reading order. Each notebook runs in a fresh kernel in its own folder,
seeded, one torch thread, figures at 80 dpi; slow cells run too (a reader sees their results), cells flagged cuda/notest stay unexecuted; outputs are cleaned of
progress bars, dependency warnings and machine paths (pertlearn.app.docs.save_outputs). Run `nbdev-clean` afterwards
(the Makefile does). Exits 1 and lists the problems when a notebook fails or its outputs break tests/test_outputs.py.
"""
import argparse, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))   # this checkout's pertlearn, whatever is installed (here and in the kernels)
os.environ['PYTHONPATH'] = os.pathsep.join([str(ROOT)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p])
from pertlearn.app.docs import chapters, save_outputs

def _run(path:str)->tuple[str, float, list[str]]:
    t0 = time.time(); problems = save_outputs(path, ROOT)
    return path, time.time() - t0, problems

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('notebooks', nargs='*', help='notebooks to execute (default: index.ipynb and nbs/*.ipynb)')
    p.add_argument('-j', '--jobs', type=int, default=1, help='notebooks executed at once (default 1)')
    a = p.parse_args()
    nbs = [Path(n).resolve() for n in a.notebooks] or [ROOT/'index.ipynb'] + chapters(ROOT/'nbs')
    missing = [str(n) for n in nbs if not n.is_file()]
    if missing: sys.exit(f"no such notebook: {', '.join(missing)}")
    problems, t0 = [], time.time()
    with ProcessPoolExecutor(max(1, a.jobs)) as ex:
        for path, sec, probs in ex.map(_run, [str(n) for n in nbs]):
            print(f"{Path(path).relative_to(ROOT)}: {sec:.0f} s{'' if not probs else ' — ' + '; '.join(probs)}", flush=True)
            problems += probs
    print(f"{len(nbs)} notebooks in {time.time() - t0:.0f} s; {len(problems)} problems")
    sys.exit(1 if problems else 0)
