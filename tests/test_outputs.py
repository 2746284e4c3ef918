"""Every chapter and index.ipynb is committed executed: outputs present, a figure under every cell that draws one, and no
absolute machine path, `Traceback` or `Warning` in any output (pertlearn.docs.output_problems). `make outputs` makes
them; this test reads the notebooks only (it executes nothing)."""
from pathlib import Path
import nbformat, pytest
from pertlearn.docs import chapters, output_problems

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = [ROOT/'index.ipynb'] + chapters(ROOT/'nbs')

@pytest.mark.parametrize('path', NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_outputs(path):
    problems = output_problems(nbformat.read(path, as_version=4), path.name)
    assert not problems, '\n'.join(problems) + '\nrun `make outputs` (or `python tools/make_outputs.py ' + str(path.relative_to(ROOT)) + '`) and fix what it reports'

def test_results_notebooks():
    "The executed experiment reports under results/ (made by `make results`) are clean too."
    nbs = sorted(ROOT.glob('results/*/*.ipynb'))
    problems = [p for nb in nbs for p in output_problems(nbformat.read(nb, as_version=4), str(nb.relative_to(ROOT)))]
    assert not problems, '\n'.join(problems)
