"""Build README.md from index.ipynb's saved outputs, without Quarto (what `make readme` runs).

Usage: python tools/make_readme.py [--check] [--execute]
The README is index.ipynb as Markdown: its prose and the outputs saved in it (`make outputs` saves them), with
`#| hide` cells dropped and `#| echo: false` cells showing their output only.
--check   exits 1 unless README.md is exactly what index.ipynb makes, outputs included (used by the tests)
--execute executes index.ipynb first (without saving it back) instead of using its saved outputs
"""
import difflib, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))   # this checkout's pertlearn, whatever is installed
import nbformat

HEADER = "<!-- generated from index.ipynb by tools/make_readme.py: edit the notebook, not this file -->\n\n"

def render(execute:bool=False, write_files:bool=True)->str:
    "README.md's text from index.ipynb (its saved outputs, or fresh ones with `execute`)."
    from nbconvert import MarkdownExporter
    from traitlets.config import Config
    nb = nbformat.read(ROOT/'index.ipynb', as_version=4)
    if execute:
        from pertlearn.app.docs import execute_notebook, clean_outputs
        err = execute_notebook(nb, ROOT)
        if err: sys.exit(f"index.ipynb failed: {err}")
        clean_outputs(nb, ROOT)
    keep = []
    for c in nb.cells:
        src = c.source.lstrip()
        if c.cell_type == 'code' and re.search(r'^#\|\s*hide\b', src, re.M): continue
        if c.cell_type == 'code' and re.search(r'^#\|\s*echo:\s*false', src, re.M):  # output only
            c.metadata.setdefault('tags', []).append('remove_input')
        if c.cell_type == 'code':
            c.source = '\n'.join(l for l in c.source.splitlines() if not l.startswith('#|')).strip()
            # warnings and logs (stderr) name paths of the machine that ran them: the README shows results only
            c.outputs = [o for o in c.get('outputs', []) if not (o.get('output_type') == 'stream' and o.get('name') == 'stderr')]
        keep.append(c)
    nb.cells = keep
    body, res = MarkdownExporter(config=Config({'TagRemovePreprocessor': {'enabled': True, 'remove_input_tags': ['remove_input']}}),
                                 exclude_output_prompt=True, exclude_input_prompt=True).from_notebook_node(nb)
    for name, data in sorted(res.get('outputs', {}).items()):
        if write_files: (ROOT/'_readme_files').mkdir(exist_ok=True); (ROOT/'_readme_files'/name).write_bytes(data)
        body = body.replace(f']({name})', f'](_readme_files/{name})')
    return HEADER + re.sub(r'\n{3,}', '\n\n', body).strip() + '\n'

def unexecuted()->bool:
    "Whether index.ipynb has code cells but no saved output."
    nb = nbformat.read(ROOT/'index.ipynb', as_version=4)
    code = [c for c in nb.cells if c.cell_type == 'code']
    return bool(code) and not any(c.get('outputs') for c in code)

def check(readme:str)->list[str]:
    "What must never be in the README, whatever index.ipynb holds: warnings (stderr) and raw fastai recorder lists."
    problems = []
    if re.search(r'(Warning|warnings\.warn)\b', readme): problems.append('a warning (stderr) is in the README')
    if re.search(r'^\s*\[\d+, [\d.]+, [\d.]+', readme, re.M): problems.append("a raw fastai recorder list is in the README")
    return problems

if __name__ == '__main__':
    execute = '--execute' in sys.argv
    if not execute and unexecuted():
        sys.exit("index.ipynb has no saved outputs: run `make outputs NB=index.ipynb` (or pass --execute), then `make readme`")
    if '--check' in sys.argv:
        want, have = render(execute, write_files=False), (ROOT/'README.md').read_text()
        problems = check(have)
        if want != have:
            problems.append('README.md differs from what index.ipynb renders (prose or saved outputs):\n' +
                            ''.join(list(difflib.unified_diff(have.splitlines(True), want.splitlines(True), 'README.md', 'from index.ipynb'))[:60]))
        if problems: print('README.md is out of date with index.ipynb; run `make readme`:', *problems, sep='\n  '); sys.exit(1)
        print('README.md is in step with index.ipynb'); sys.exit(0)
    (ROOT/'README.md').write_text(render(execute))
    print('wrote README.md')
