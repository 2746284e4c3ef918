__version__ = "0.1.0"

# fastai's import runs `torch.jit.script`, which torch ≥ 2.10 deprecates with a FutureWarning that says nothing about
# pertlearn; every pertlearn entry point (CLI, notebooks, papermill kernels, torchrun workers) imports this package
# first, so the one filter lives here. (Kept by nbdev-export, which only rewrites the version line above.)
import warnings as _warnings
_warnings.filterwarnings('ignore', message=r'`torch\.jit\.script` is deprecated', category=FutureWarning)

# The public API, imported on first use (PEP 562): `import pertlearn` stays light (no torch) until a name is used.
# Each name lives in its chapter's module; this table only says where.
_API = {'PerturbationSet': 'perturbation', 'build_cvae': 'architectures', 'train_cvae': 'train', 'learn_set': 'from_pairs',
        'LatentPGD': 'attacks', 'AutoLatentAttack': 'attacks', 'robust_accuracy': 'attacks', 'LatentSmoother': 'certify',
        'SetAugmentation': 'robust', 'LatentAdversarialTraining': 'robust', 'LatentNoise': 'robust',
        'RealPerturbationAugmentation': 'robust', 'load_classifier': 'models.classifiers'}
__all__ = sorted(_API)

def __getattr__(name:str):
    "A public name, imported from its module on first use (submodules and unknown names: AttributeError, as usual)."
    if name not in _API: raise AttributeError(f"module 'pertlearn' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(f'{__name__}.{_API[name]}'), name)
    globals()[name] = value
    return value

def __dir__(): return sorted(set(globals()) | set(_API))
