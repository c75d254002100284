"""The module names of release 0.2, kept importable for one release (removed in 0.4): ``import
gclib.companion.plotting``, ``from gclib.companion.scorecard import Scorecard``, ``from
gclib.companion.params import check_parameters``, … still work, and the first name taken from each old module
warns once with a :class:`DeprecationWarning` naming the new home, so a notebook written against the old names
keeps running and says what to change. The old names of :mod:`gclib.companion.format` that moved to
:mod:`gclib.companion.kernel.judge.verdicts` warn the same way.

An old module is made by a finder on ``sys.meta_path`` (:func:`install`, called by ``gclib.companion``): no
file of the old layout is left in the folders. [ours]
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

__all__ = ["OLD_MODULES", "install", "moved_names"]

_C = "gclib.companion"
#: old module (under gclib.companion) → the new modules its names now live in, searched in order
OLD_MODULES = {
    "plotting": (f"{_C}.kernel.draw.style", f"{_C}.kernel.draw.sweeps", f"{_C}.outputs"),
    "regime_plots": (f"{_C}.kernel.draw.regimes",),
    "dominance_plots": (f"{_C}.kernel.draw.histograms",),
    "scorecard": (f"{_C}.kernel.judge.claims", f"{_C}.kernel.judge.trends"),
    "params": (f"{_C}.figures.check", f"{_C}.figures.ranges", f"{_C}.figures.values", f"{_C}.errors"),
    "runner": (f"{_C}.run.runner", f"{_C}.run.job", f"{_C}.run.cache", f"{_C}.run.launch",
               f"{_C}.run.provenance", f"{_C}.run.numerics", f"{_C}.outputs", f"{_C}.errors",
               f"{_C}.figures"),
    "rejudge": (f"{_C}.run.rejudge",),
    "results": (f"{_C}.run.committed", f"{_C}.locations"),
    "parallel": (f"{_C}.run.parallel",),
}
_warned: set[str] = set()


def _forward(old: str, homes, name: str, *, what: str | None = None):
    if name.startswith("__"):
        raise AttributeError(name)
    for home in homes:
        module = importlib.import_module(home)
        if hasattr(module, name):
            if old not in _warned:
                _warned.add(old)
                warnings.warn(f"{what or old} is deprecated and goes in gclib 0.4: import {name} from {home}",
                              DeprecationWarning, stacklevel=3)
            return getattr(module, name)
    raise AttributeError(f"module {old!r} has no attribute {name!r} (it moved; see gclib.companion)")


def moved_names(old: str, names: dict[str, str]):
    """A module-level ``__getattr__`` for ``old`` that forwards each of ``names`` (name → new module) with one
    :class:`DeprecationWarning` per module."""

    def __getattr__(name: str):
        if name not in names:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        return _forward(old, (names[name],), name, what=f"{old}.{name}")

    return __getattr__


class _Loader(importlib.abc.Loader):
    def create_module(self, spec):
        return None

    def exec_module(self, module):
        old = module.__name__
        homes = OLD_MODULES[old.rsplit(".", 1)[1]]
        module.__doc__ = f"Deprecated alias of release 0.2; its names now live in {', '.join(homes)}."
        module.__getattr__ = lambda name: _forward(old, homes, name)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        prefix, _, leaf = fullname.rpartition(".")
        if prefix == _C and leaf in OLD_MODULES:
            return importlib.util.spec_from_loader(fullname, _Loader())
        return None


def install() -> None:
    """Put the finder of the old module names on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.append(_Finder())
