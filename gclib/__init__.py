"""gclib — geometric complexity (Dherin et al. 2022) and geometric regularization (Teague 2022) companion.

One house with three wings; this package is the science core (torch, numpy and scipy only):

- :mod:`gclib.complexity` — :func:`geometric_complexity`, :func:`gc_penalty`, the spectral and
  parameter-norm bounds
- :mod:`gclib.curvature` — the sharpness λ_max of the loss Hessian, the Gauss–Newton trace and penalty
- :mod:`gclib.hypersphere` — n-ball volumes and surfaces (log space), peak dimensions
- :mod:`gclib.sampling` — init-scheme registry, :func:`sample_init_losses`, :func:`mode_dominance`
- :mod:`gclib.stats` — bootstrap CIs, Spearman correlations, trends and peaks
- :mod:`gclib.functions`, :mod:`gclib.linalg`, :mod:`gclib.device`, :mod:`gclib.validate` — shared pieces

:mod:`gclib.experiments` (models, data, training, init-loss sweeps) and :mod:`gclib.companion` (runner,
command line, scorecard, plots, book) build on it; ``import gclib`` loads neither.
"""
from __future__ import annotations

import importlib

from gclib.device import resolve_device

__version__ = "0.2.0"

_SUBMODULES = ("complexity", "curvature", "hypersphere", "sampling", "dominance", "stats", "functions",
               "linalg", "device", "validate", "experiments", "companion")
_NAMES = {
    "GCResult": "complexity",
    "geometric_complexity": "complexity",
    "gc_penalty": "complexity",
    "sharpness": "curvature",
    "gn_trace": "curvature",
    "volume": "hypersphere",
    "log_volume": "hypersphere",
    "sample_init_losses": "sampling",
    "init_loss_histogram": "sampling",
    "mode_dominance": "dominance",
    "derive_generator": "device",
}

__all__ = ["__version__", "resolve_device", *_NAMES]


def __getattr__(name: str):
    """Import submodules and the re-exported names lazily, so ``import gclib`` stays fast."""
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'gclib' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))
