"""Build hook: ship the notebooks inside the package. The experiment notebooks (nbs/experiments/*.ipynb) become
`pertlearn/experiments/`, so `pertlearn run` works from an installed wheel; the chapters (nbs/*.ipynb), the front page
(index.ipynb) and the images its Markdown shows become `pertlearn/notebooks/`, so `pertlearn docs` does too.

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
        if index.is_file():
            self.copy_file(str(index), str(dst/'index.ipynb'))
            for rel in sorted(set(re.findall(r'!\[[^\]]*\]\(([^)\s]+\.(?:png|jpg|jpeg|svg|gif))\)', index.read_text()))):
                f = ROOT/rel
                if f.is_file() and ROOT in f.resolve().parents:
                    (dst/rel).parent.mkdir(parents=True, exist_ok=True); self.copy_file(str(f), str(dst/rel))

setup(cmdclass={'build_py': build_py_with_notebooks})
