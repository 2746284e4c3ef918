__version__ = "0.1.0"

# fastai's import runs `torch.jit.script`, which torch ≥ 2.10 deprecates with a FutureWarning that says nothing about
# pertlearn; every pertlearn entry point (CLI, notebooks, papermill kernels, torchrun workers) imports this package
# first, so the one filter lives here. (Kept by nbdev-export, which only rewrites the version line above.)
import warnings as _warnings
_warnings.filterwarnings('ignore', message=r'`torch\.jit\.script` is deprecated', category=FutureWarning)

# Renamed modules: their old names still import, as the new module itself (the same object), with a DeprecationWarning.
# An import hook first on sys.meta_path (before the path finder, which would take the packaged `experiments/` notebook
# folder for a namespace package); nothing is imported until an old name is.
_RENAMED_MODULES = {'pertlearn.learn': 'pertlearn.from_pairs', 'pertlearn.experiments': 'pertlearn.runner'}

class _RenamedModule:
    "Import hook (finder and loader) of the old name of a renamed module."
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name not in _RENAMED_MODULES: return None
        from importlib.machinery import ModuleSpec
        return ModuleSpec(name, cls())
    def create_module(self, spec):
        import importlib
        new = _RENAMED_MODULES[spec.name]
        _warnings.warn(f"`{spec.name}` was renamed `{new}`: import `{new}` instead", DeprecationWarning, stacklevel=2)
        self.module = importlib.import_module(new)
        self.spec = self.module.__spec__
        return self.module
    def exec_module(self, module):
        module.__spec__ = self.spec   # the import system gave the new module the old name's spec: give it back its own

import sys as _sys
if not any(getattr(f, '__name__', None) == '_RenamedModule' for f in _sys.meta_path): _sys.meta_path.insert(0, _RenamedModule)
