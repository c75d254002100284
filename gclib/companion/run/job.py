"""One figure run as data: the :class:`Job` (everything one execution needs, picklable for Dask) prepared
from the resolved parameters, its cache key, its output folder and files, and the :class:`RunResult` it
gives. Nothing here starts a kernel. [ours]

The cache key (:mod:`gclib.experiments.cache`, scope "figure") covers the figure, profile, resolved
parameters, kernel threads (they change the order of floating-point reductions, so they are part of a
result), the notebook's cell sources and the fingerprint of the sources a notebook runs.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from gclib.companion.errors import ParameterError
from gclib.companion.figures.catalogue import get_figure
from gclib.companion.figures.resolve import resolve_parameters
from gclib.companion.locations import default_out_dir, repo_root
from gclib.experiments import cache

__all__ = ["Job", "RunResult", "DEFAULT_THREADS", "THREAD_VARS", "DRY_RUN_DIR", "SUCCESS", "cache_key",
           "prepare", "run_paths", "figure_dir", "check_threads", "check_writable", "usable_cores"]

#: intra-op threads of every kernel the runner starts, unless asked otherwise: the same figure then prints
#: the same numbers on a 2-core and a 16-core machine, and N kernels run side by side on N cores
DEFAULT_THREADS = 1
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
DRY_RUN_DIR = "_dry_run"
#: the provenance status of a run that finished and wrote its scorecard
SUCCESS = "success"


@dataclass
class RunResult:
    """One execution. ``status``: "ran", "cached", "rejudged" (the verdicts recomputed from the saved tables
    of a run whose tables still stand) or "failed"; ``wall_seconds`` of the execution that made the files
    (the recorded one when "cached" or "rejudged"); ``failed_cell``: 0-based index in the source notebook."""

    figure: str
    status: str
    profile: str
    parameters: dict
    directory: Path
    notebook: Path
    provenance: Path
    scorecard: Path | None
    wall_seconds: float | None
    cache_key: str
    error: str | None = None
    failed_cell: int | None = None

    @property
    def ok(self) -> bool:
        return self.status != "failed"


@dataclass(frozen=True)
class Job:  # everything one execution needs; picklable for Dask
    figure: str
    notebook: Path
    profile: str
    parameters: dict
    directory: Path
    cache_key: str
    root: Path
    threads: int = 1
    est_seconds: float = 0.0
    dry_run: bool = False


def notebook_hash(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    src = [(c["cell_type"], "".join(c["source"]) if isinstance(c["source"], list) else c["source"])
           for c in cells]
    return hashlib.sha256(json.dumps(src).encode()).hexdigest()


def cache_key(figure: str, params: dict, *, profile: str | None = None, notebooks_dir=None,
              threads: int = DEFAULT_THREADS, dry_run: bool = False) -> str:
    """The figure's cache key (module docstring)."""
    payload = {"figure": figure, "profile": profile if profile is not None else params.get("profile"),
               "parameters": params, "notebook": notebook_hash(get_figure(figure, notebooks_dir).notebook),
               "threads": threads, "dry_run": dry_run}
    return cache.cache_key(payload, "figure")


def check_writable(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".gclib-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise ParameterError(f"cannot write to output directory {str(directory)!r}: "
                             f"{err.strerror or err}") from None


def check_threads(threads) -> int:
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ParameterError(f"threads must be an integer >= 1, got {threads!r}")
    return threads


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. under ``taskset``), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def figure_dir(out_dir, figure: str, *, dry_run: bool = False) -> Path:
    """Where a figure's files go: ``<out>/<figure>/``, or ``<out>/_dry_run/<figure>/`` for a dry run (never
    where real results go: the book skips folders whose name starts with ``_``)."""
    out = Path(out_dir or default_out_dir())
    return (out / DRY_RUN_DIR if dry_run else out) / figure


def prepare(figure, profile, overrides, device, directory, notebooks_dir,
            threads: int = DEFAULT_THREADS, dry_run: bool = False) -> Job:
    """The job of one figure run: its parameters resolved and checked (the one path,
    :func:`~gclib.companion.figures.resolve.resolve_parameters`), the threads checked, the cache key, and
    the output folder checked to be writable — all before any kernel starts."""
    params = resolve_parameters(figure, profile, overrides, device, notebooks_dir=notebooks_dir,
                                dry_run=dry_run)
    check_threads(threads)
    key = cache_key(figure, params, profile=profile, notebooks_dir=notebooks_dir, threads=threads,
                    dry_run=dry_run)
    check_writable(directory)
    fig = get_figure(figure, notebooks_dir)
    est = fig.est_seconds.get("smoke" if dry_run else profile)
    return Job(figure, fig.notebook, profile, params, directory.resolve(), key, repo_root(), threads,
               float(est) if isinstance(est, (int, float)) else 0.0, dry_run)


def run_paths(job: Job):
    d, f = job.directory, job.figure
    return d / f"{f}.ipynb", d / f"{f}.provenance.json", d / f"{f}.scorecard.json"
