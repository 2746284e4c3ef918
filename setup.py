"""Build hook: ship the experiment notebooks (nbs/experiments/*.ipynb) inside the package as `pertlearn/experiments/`.

They are not kept in pertlearn/ in git (nbdev would find them twice); every build (wheel, sdist->wheel, editable)
copies them into the build tree, so `pertlearn run` works from an installed wheel. Everything else is in pyproject.toml.
"""
from pathlib import Path
from setuptools import setup
from setuptools.command.build_py import build_py

class build_py_with_experiments(build_py):
    def run(self):
        super().run()
        src = Path(__file__).resolve().parent/'nbs'/'experiments'
        dst = Path(self.build_lib)/'pertlearn'/'experiments'
        nbs = sorted(src.glob('*.ipynb')) if src.is_dir() else []
        if not nbs and not dst.is_dir(): raise SystemExit(f"no experiment notebooks in {src}: cannot build a package that runs them")
        dst.mkdir(parents=True, exist_ok=True)
        for nb in nbs: self.copy_file(str(nb), str(dst/nb.name))

setup(cmdclass={'build_py': build_py_with_experiments})
