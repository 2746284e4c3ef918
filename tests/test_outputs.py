"""Every chapter and index.ipynb is committed executed: outputs present, a figure under every cell that draws one, and no
absolute machine path, `Traceback` or `Warning` in any output (pertlearn.app.docs.output_problems). `make outputs` makes
them; this test reads the notebooks only (it executes nothing)."""
from pathlib import Path
import nbformat, pytest
from pertlearn.app.docs import chapters, output_problems

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = [ROOT/'index.ipynb'] + chapters(ROOT/'nbs')

@pytest.mark.parametrize('path', NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_outputs(path):
    problems = output_problems(nbformat.read(path, as_version=4), path.name)
    assert not problems, '\n'.join(problems) + '\nrun `make outputs` (or `python tools/make_outputs.py ' + str(path.relative_to(ROOT)) + '`) and fix what it reports'

def test_results_notebooks():
    "The executed experiment reports under results/ (made by `make results`) are clean too."
    nbs = sorted(f for f in ROOT.glob('results/*/*.ipynb') if not f.parent.name.startswith('.'))   # not a run still in progress (.NAME.partial)
    problems = [p for nb in nbs for p in output_problems(nbformat.read(nb, as_version=4), str(nb.relative_to(ROOT)))]
    assert not problems, '\n'.join(problems)

def _split_streams(nb)->list[int]:
    "Indices of code cells holding two consecutive stream outputs of the same name (a kernel's chunking, not merged)."
    pairs = lambda outs: zip(outs, outs[1:])
    return [i for i, c in enumerate(nb.cells) if c.cell_type == 'code' and any(
        a.output_type == b.output_type == 'stream' and a.name == b.name for a, b in pairs(c.get('outputs', [])))]

@pytest.mark.parametrize('path', NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_streams_merged(path):
    "Saved outputs do not depend on how the kernel chunked printed text (`make outputs` twice changes nothing)."
    cells = _split_streams(nbformat.read(path, as_version=4))
    assert not cells, f'split stream outputs in cells {cells}: run `make outputs` (pertlearn.app.docs.clean_outputs merges them)'

def test_clean_outputs_merges_streams():
    from pertlearn.app.docs import clean_outputs
    s = lambda name, text: nbformat.v4.new_output('stream', name=name, text=text)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('f()', outputs=[
        s('stdout', 'a\n'), s('stdout', 'b'), s('stdout', '\n'), s('stderr', 'e\n'), s('stderr', 'f\n'), s('stdout', 'c\n')])])
    assert [(o.name, o.text) for o in clean_outputs(nb).cells[0].outputs] == [('stdout', 'a\nb\n'), ('stderr', 'e\nf\n'), ('stdout', 'c\n')]
    assert _split_streams(nb) == []
