"""The one cache key of the companion, and the run cache it keys: what edits invalidate which results.

A cached result is reused only when its key matches. A key is the sha256 of a canonical JSON payload (the
inputs of the computation: a training config and seed, or a figure's parameters and notebook cells) plus
the gclib version and a *fingerprint* of the source files the computation can execute, by scope:

- ``"training"`` — the core (``gclib/*.py``, ``gclib/stats/``) and the experiments wing
  (``gclib/experiments/**.py`` and its calibration records): editing any of them invalidates every cached
  training run and every figure.
- ``"figure"`` — the training scope plus what runs inside a figure's kernel: the companion's
  ``kernel/`` folder (where claims are judged and figures drawn) and the two leaves it writes and prints with
  (``outputs.py``, ``format.py``): editing those invalidates figures but no training run.
- Editing anything else of the companion — the parameter catalogue, the runner, the command line, the book
  generator — invalidates nothing: it never changes a number a kernel computes.
- ``"table"`` — the code that produces a figure's per-run table and its images: the figure scope less the
  statistics (``gclib/stats/``), the judging (``companion/kernel/judge/``) and the formatting. It is the
  *code hash* of a committed result (``gclib.companion.run.committed``): a committed result is stale when it
  differs, while an edit of the statistics or of the verdict cells leaves the numbers of the table standing.

Cache entries are written to a temporary name and moved into place (``os.replace``), so an interrupted
write never leaves a half entry under the final name; an entry that cannot be read back (truncated,
garbage, the wrong type) is recomputed with one :class:`CacheWarning` line, never a traceback. [ours]
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import pickle
import tempfile
import warnings
from pathlib import Path

import gclib

__all__ = ["SCOPES", "CacheWarning", "scope_files", "source_fingerprint", "cache_key", "cache_dir",
           "load_entry", "store_entry"]

SCOPES = ("training", "figure", "table")
#: what runs inside a figure's kernel, relative to the companion wing: its ``kernel/`` folder and the leaves
#: it writes and prints with (their edits change figures, not training)
KERNEL_SIDE = ("kernel", "outputs.py", "format.py")
#: what the "table" scope leaves out of the "figure" scope: statistics, judging and formatting, never a
#: table's number
VERDICT_SIDE = ("stats", "companion/kernel/judge", "companion/format.py")
_PACKAGE = Path(gclib.__file__).resolve().parent


class CacheWarning(UserWarning):
    """A cache entry could not be read back and is recomputed (one line: which entry, and why)."""


def scope_files(scope: str) -> list[Path]:
    """The files whose bytes make up the fingerprint of ``scope`` (see the module docstring), sorted."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; valid: {', '.join(SCOPES)}")
    files = [f for f in _PACKAGE.rglob("*.py") if f.relative_to(_PACKAGE).parts[0] != "companion"]
    files += list((_PACKAGE / "experiments" / "calibration").glob("*.csv"))
    if scope in ("figure", "table"):
        for name in KERNEL_SIDE:
            path = _PACKAGE / "companion" / name
            files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    if scope == "table":
        files = [f for f in files if not any(f.relative_to(_PACKAGE).as_posix() == v or
                                             f.relative_to(_PACKAGE).as_posix().startswith(v + "/")
                                             for v in VERDICT_SIDE)]
    return sorted(files)


@functools.lru_cache(maxsize=None)
def source_fingerprint(scope: str) -> str:
    """sha256 over the relative paths and bytes of :func:`scope_files` (computed once per process)."""
    h = hashlib.sha256()
    for path in scope_files(scope):
        h.update(path.relative_to(_PACKAGE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _canonical(value):
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    raise TypeError(f"a cache key can only hold JSON-like values (and sets), got {type(value).__name__} "
                    f"{value!r}")


def cache_key(payload: dict, scope: str) -> str:
    """sha256 of the canonical JSON of ``payload`` with the gclib version and the ``scope`` fingerprint.
    A value JSON cannot express (other than a set) raises ``TypeError`` before any compute: its ``repr``
    may hold a memory address, which would key the same inputs differently in every process."""
    full = {"payload": payload, "version": gclib.__version__, "scope": scope,
            "source": source_fingerprint(scope)}
    text = json.dumps(full, sort_keys=True, separators=(",", ":"), default=_canonical)
    return hashlib.sha256(text.encode()).hexdigest()


def cache_dir(directory=None) -> Path:
    """The run cache: ``directory``, else ``GCLIB_CACHE_DIR``, else ``~/.cache/gclib/sweeps``."""
    if directory is None:
        directory = os.environ.get("GCLIB_CACHE_DIR") or Path.home() / ".cache" / "gclib" / "sweeps"
    return Path(directory)


def load_entry(path: Path, expected: type | None = None):
    """The object pickled at ``path``; ``None`` when there is none, or (with one :class:`CacheWarning`) when
    it cannot be read back or is not an instance of ``expected``: the caller recomputes it."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        with path.open("rb") as fh:
            obj = pickle.load(fh)
    except Exception as err:  # truncated or garbage bytes raise many kinds of errors
        warnings.warn(f"cache entry {path.name} is unreadable ({type(err).__name__}); recomputing it",
                      CacheWarning, stacklevel=2)
        return None
    if expected is not None and not isinstance(obj, expected):
        warnings.warn(f"cache entry {path.name} holds a {type(obj).__name__}, not a {expected.__name__}; "
                      "recomputing it", CacheWarning, stacklevel=2)
        return None
    return obj


def store_entry(path: Path, obj) -> None:
    """Pickle ``obj`` to ``path`` atomically (a temporary file in the same folder, then ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
