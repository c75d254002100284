"""The cache of figure runs: a successful run with the same cache key is reused, a broken entry is rerun with
one warning, and the lock that keeps two gclib processes from writing one figure folder at once. [ours]
"""
from __future__ import annotations

import os
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

from gclib.companion.errors import CacheWarning
from gclib.companion.outputs import read_json
from gclib.companion.run.job import SUCCESS, Job, RunResult, run_paths

__all__ = ["LOCK_NAME", "cached", "locked"]

LOCK_NAME = ".gclib.lock"


def _unreadable(job: Job, what: str, path: Path) -> None:
    warnings.warn(f"{job.figure}: the cached {what} {path.name} is unreadable (truncated or garbage); "
                  "rerunning the figure", CacheWarning, stacklevel=3)


def cached(job: Job) -> RunResult | None:
    """The figure's previous run when it is a success with the same cache key and every file of it reads
    back (provenance, scorecard and notebook as JSON); otherwise ``None``, with one :class:`CacheWarning`
    line when a file was there but unreadable: the figure is then rerun, never taken from a broken entry."""
    nb, prov, card = run_paths(job)
    if not prov.exists():
        return None
    rec = read_json(prov)
    if rec is None:
        _unreadable(job, "provenance", prov)
        return None
    if rec.get("status") != SUCCESS or rec.get("cache_key") != job.cache_key:
        return None
    for what, path in (("scorecard", card), ("notebook", nb)):
        if read_json(path) is None:
            _unreadable(job, what, path)
            return None
    return RunResult(job.figure, "cached", job.profile, job.parameters, job.directory, nb, prov, card,
                     rec.get("wall_seconds"), job.cache_key)


@contextmanager
def locked(job: Job):
    """Hold the figure directory's lock (``.gclib.lock``, ``fcntl.flock``: released by the kernel when the
    holder dies, even by SIGKILL) while a run reads or writes it. A second gclib process on the same figure
    and directory says so on stderr in one line and waits; nothing interleaves."""
    import fcntl

    job.directory.mkdir(parents=True, exist_ok=True)
    with open(job.directory / LOCK_NAME, "a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            print(f"gclib: {job.figure} is being run into {job.directory} by another gclib process "
                  f"(pid {holder}); waiting for it to finish", file=sys.stderr, flush=True)
            fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
