"""gclib — geometric complexity (Dherin et al. 2022) and geometric regularization (Teague 2022) companion.

The public surface is small; everything else lives in the submodules, imported on first use:

- :mod:`gclib.complexity` — :func:`geometric_complexity`, :func:`gc_penalty`, bounds
- :mod:`gclib.hypersphere` — n-ball volumes and surfaces (log space), peak dimensions
- :mod:`gclib.sampling` — init-scheme registry, :func:`sample_init_losses`, :func:`mode_dominance`
- :mod:`gclib.models`, :mod:`gclib.data`, :mod:`gclib.train` — models, offline data, training and sweeps
- :mod:`gclib.plotting`, :mod:`gclib.scorecard` — figures and claim verdicts for the notebooks
- ``runner`` and ``cli`` — papermill execution, provenance, Dask sweeps (the ``gclib`` command); the
  library modules never import them
"""
from __future__ import annotations

import importlib

from ._device import resolve_device

__version__ = "0.1.0"

_SUBMODULES = ("complexity", "hypersphere", "sampling", "models", "data", "train", "plotting", "scorecard",
               "runner", "cli", "bookgen", "geometry_experiments")
_NAMES = {
    "GCResult": "complexity",
    "geometric_complexity": "complexity",
    "gc_penalty": "complexity",
    "volume": "hypersphere",
    "log_volume": "hypersphere",
    "sample_init_losses": "sampling",
    "init_loss_histogram": "sampling",
    "mode_dominance": "sampling",
    "MLP": "models",
    "load_dataset": "data",
    "savefig": "plotting",
    "Scorecard": "scorecard",
}

__all__ = ["__version__", "resolve_device", *_NAMES, *_SUBMODULES]


def __getattr__(name: str):
    """Import submodules and the re-exported names lazily, so ``import gclib`` stays fast."""
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'gclib' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
