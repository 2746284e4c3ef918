"""Build README.md from index.ipynb without Quarto: execute the notebook and convert it to Markdown.

Usage: python tools/make_readme.py [--check]
--check exits 1 if README.md is not what index.ipynb makes (used by the tests).
"""
import sys, re
from pathlib import Path
import nbformat
from nbconvert import MarkdownExporter
from traitlets.config import Config
from nbconvert.preprocessors import ExecutePreprocessor

ROOT = Path(__file__).resolve().parent.parent

def render(execute=True)->str:
    nb = nbformat.read(ROOT/'index.ipynb', as_version=4)
    # nbdev directives (#| hide) are honoured: hidden cells are dropped from the README
    if execute: ExecutePreprocessor(timeout=600, kernel_name='python3').preprocess(nb, {'metadata': {'path': str(ROOT)}})
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
    for name, data in res.get('outputs', {}).items():
        (ROOT/'_readme_files').mkdir(exist_ok=True); (ROOT/'_readme_files'/name).write_bytes(data)
        body = body.replace(f']({name})', f'](_readme_files/{name})')
    header = "<!-- generated from index.ipynb by tools/make_readme.py: edit the notebook, not this file -->\n\n"
    return header + re.sub(r'\n{3,}', '\n\n', body).strip() + '\n'

def markdown_cells()->list[str]:
    nb = nbformat.read(ROOT/'index.ipynb', as_version=4)
    return [c.source.strip() for c in nb.cells if c.cell_type == 'markdown']

def check(readme:str)->list[str]:
    "What is wrong with `readme`: markdown of index.ipynb missing, or text that is not what the README renders (stderr, raw logs)."
    problems = [f'missing: {m[:60]!r}' for m in markdown_cells() if m not in readme]
    rendered = render(execute=False)   # the notebook as committed (no outputs: nbdev-clean), so outputs are checked by pattern
    if re.search(r'(Warning|warnings\.warn)\b', readme): problems.append('a warning (stderr) is in the README')
    if re.search(r'^\s*\[\d+, [\d.]+, [\d.]+', readme, re.M): problems.append("a raw fastai recorder list is in the README")
    code = re.findall(r'```python\n(.*?)```', rendered, re.S)
    problems += [f'code cell not in README: {c[:60]!r}' for c in code if c not in readme]
    return problems

if __name__ == '__main__':
    if '--check' in sys.argv:
        problems = check((ROOT/'README.md').read_text())
        if problems: print('README.md is out of date with index.ipynb; run `make readme`:', *problems, sep='\n  '); sys.exit(1)
        print('README.md is in step with index.ipynb'); sys.exit(0)
    (ROOT/'README.md').write_text(render())
    print('wrote README.md')
