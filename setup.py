"""Build hook: ship the notebooks inside the package. The experiment notebooks (nbs/experiments/*.ipynb) become
`pertlearn/experiments/`, so `pertlearn run` works from an installed wheel; the chapters (nbs/*.ipynb), the front page
(index.ipynb), the experiment reports (results/*/*.ipynb) and the figures, tables and notes their Markdown links to
become `pertlearn/notebooks/`, so `pertlearn docs` does too.

They are not kept in pertlearn/ in git (nbdev would find them twice); every build (wheel, sdist->wheel, editable)
copies them into the build tree. Everything else is in pyproject.toml.
"""
import re
from pathlib import Path
from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent

class build_py_with_notebooks(build_py):
    def run(self):
        super().run()
        pkg = Path(self.build_lib)/'pertlearn'
        src, dst = ROOT/'nbs'/'experiments', pkg/'experiments'
        nbs = sorted(src.glob('*.ipynb')) if src.is_dir() else []
        if not nbs and not dst.is_dir(): raise SystemExit(f"no experiment notebooks in {src}: cannot build a package that runs them")
        dst.mkdir(parents=True, exist_ok=True)
        for nb in nbs: self.copy_file(str(nb), str(dst/nb.name))
        chapters = sorted(p for p in (ROOT/'nbs').glob('*.ipynb') if not p.name.startswith(('_', '.'))) if (ROOT/'nbs').is_dir() else []
        if not chapters: return   # an sdist without nbs/: the wheel has no offline docs, `pertlearn docs` says so
        dst = pkg/'notebooks'; dst.mkdir(parents=True, exist_ok=True)
        for nb in chapters: self.copy_file(str(nb), str(dst/nb.name))
        index = ROOT/'index.ipynb'
        if index.is_file(): self.copy_file(str(index), str(dst/'index.ipynb'))
        reports = sorted(ROOT.glob('results/*/*.ipynb'))   # the committed experiment reports, rendered beside the chapters
        for nb in reports: (dst/nb.relative_to(ROOT)).parent.mkdir(parents=True, exist_ok=True); self.copy_file(str(nb), str(dst/nb.relative_to(ROOT)))
        # the files the front page, chapters and reports link to (figures, tables, Markdown notes), so no link in the docs is dead
        pages = [(index, 'index.ipynb')] + [(nb, f'nbs/{nb.name}') for nb in chapters] + [(nb, nb.relative_to(ROOT).as_posix()) for nb in reports]
        for _ in range(2):   # the linked Markdown notes, then what they link to (a figure)
            notes = []
            for page, rel in _links(pages):
                f = ROOT/rel
                if f.suffix.lower() in LINKED and f.is_file() and ROOT in f.resolve().parents and f.stat().st_size < 1_000_000:
                    (dst/rel).parent.mkdir(parents=True, exist_ok=True); self.copy_file(str(f), str(dst/rel))
                    if f.suffix.lower() == '.md': notes.append((f, rel))
            pages = notes

LINKED = ('.png', '.jpg', '.jpeg', '.svg', '.gif', '.csv', '.json', '.txt', '.md')

def _links(notebooks):
    "(notebook, repository path) of each relative link in the Markdown of `notebooks` ((notebook or .md file, its repository path) pairs)."
    import json, posixpath
    for nb, page in notebooks:
        if not nb.is_file(): continue
        cells = json.loads(nb.read_text()).get('cells', []) if nb.suffix == '.ipynb' else [{'cell_type': 'markdown', 'source': nb.read_text()}]
        for c in cells:
            if c.get('cell_type') != 'markdown': continue
            for href in re.findall(r'\]\(([^)\s]+)\)', ''.join(c.get('source', ''))):
                href = href.split('#')[0]
                if href and not re.match(r'[a-zA-Z][\w+.-]*:|/', href): yield nb, posixpath.normpath(posixpath.join(posixpath.dirname(page), href))

setup(cmdclass={'build_py': build_py_with_notebooks})
