__version__ = "0.1.0"

# fastai's import runs `torch.jit.script`, which torch ≥ 2.10 deprecates with a FutureWarning that says nothing about
# pertlearn; every pertlearn entry point (CLI, notebooks, papermill kernels, torchrun workers) imports this package
# first, so the one filter lives here. (Kept by nbdev-export, which only rewrites the version line above.)
import warnings as _warnings
_warnings.filterwarnings('ignore', message=r'`torch\.jit\.script` is deprecated', category=FutureWarning)
