"""Many figures at once, and parameter grids: ``run_all`` (``gclib run all --jobs N``, ``make book``) and
``sweep`` (``gclib sweep``) as tasks on Dask distributed — a ``LocalCluster`` of single-threaded worker
processes by default, a scheduler address to scale out — never a home-made job system.

Each worker process (and this process, for ``jobs=1``) runs its figures one after another in one
:class:`~gclib.companion.run.warm.WarmKernel`, reset between runs, instead of starting a kernel and importing
torch, SciPy, pandas and matplotlib for every figure; ``warm=False`` (``--fresh-kernels``) starts a fresh
kernel for each. A kernel that crashed or hung is shut down and the next run starts a new one
(:func:`~gclib.companion.run.warm.kernel_for`). The provenance of a warm run says how many runs its kernel
made before. [ours]
"""
from __future__ import annotations

import atexit
import hashlib
import itertools
import os
import re
import sys
import threading
import time
from functools import partial
from pathlib import Path

from gclib.companion.errors import ParameterError, RunError
from gclib.companion.figures.catalogue import get_figure, list_figures
from gclib.companion.figures.resolve import resolve_parameters
from gclib.companion.locations import default_sweep_dir, repo_root
from gclib.companion.outputs import read_json
from gclib.companion.run.cache import cached
from gclib.companion.run.job import (
    DEFAULT_THREADS,
    Job,
    RunResult,
    cache_key,
    check_threads,
    check_writable,
    figure_dir,
    prepare,
    run_paths,
    usable_cores,
)
from gclib.companion.run.runner import run_locked
from gclib.companion.run.warm import WarmKernel

__all__ = ["run_all", "sweep"]


def _crashed(job: Job, err: BaseException) -> RunResult:
    nb, prov, _ = run_paths(job)
    error = str(err) if isinstance(err, RunError) else f"{type(err).__name__}: {err}"
    return RunResult(job.figure, "failed", job.profile, job.parameters, job.directory, nb, prov, None, None,
                     job.cache_key, error)


# ---------------------------------------------------------------- one warm kernel per worker
#: the warm kernel of each thread that runs tasks (a Dask worker's task thread, or this process's), by thread
_KERNELS: dict[int, WarmKernel] = {}


def _task_kernel(warm: bool) -> WarmKernel | None:
    """The calling thread's warm kernel (started on its first run), or None for a fresh kernel per run."""
    if not warm:
        return None
    ident = threading.get_ident()
    if ident not in _KERNELS:
        _KERNELS[ident] = WarmKernel()
    return _KERNELS[ident]


def close_kernels() -> int:
    """Shut down every warm kernel of this process (run on each Dask worker when a batch ends); returns
    how many there were."""
    kernels = list(_KERNELS.values())
    _KERNELS.clear()
    for kernel in kernels:
        kernel.close()
    return len(kernels)


atexit.register(close_kernels)


def _figure_task(job: Job, force: bool = False, warm: bool = True) -> RunResult:
    """One figure (in a Dask worker or here, in this thread's warm kernel unless ``warm`` is False) under its
    directory's lock: a crash (kernel died) becomes a failed result, so it stops nothing."""
    try:
        return run_locked(job, force=force, kernel=_task_kernel(warm))
    except RunError as err:
        return _crashed(job, err)


def run_all(profile: str = "smoke", *, overrides: dict | None = None, device: str | None = None,
            out_dir=None, force: bool = False, figures: list[str] | None = None, notebooks_dir=None,
            progress: bool = True, jobs: int | None = None, threads: int = DEFAULT_THREADS,
            scheduler: str | None = None, dry_run: bool = False, warm: bool = True) -> list[RunResult]:
    """Run every figure (or ``figures``), skipping cached ones, ``jobs`` at a time (default: the usable
    cores), each kernel with ``threads`` intra-op threads, longest expected first (``est_seconds`` of the
    profile), with one progress bar for the whole set. All inputs are checked before the first notebook
    starts; a failing figure does not stop the others. ``jobs > 1`` (or a ``scheduler`` address) runs the
    figures as tasks on Dask distributed (a ``LocalCluster`` of ``jobs`` single-threaded worker processes);
    results come back in the order of ``figures``. ``dry_run``: every figure's capped dry run
    (:func:`~gclib.companion.run.runner.run_figure`) into ``<out_dir>/_dry_run/``. ``warm``: each worker
    runs its figures in one kernel, reset between them (module docstring); False: a fresh kernel each."""
    from tqdm.auto import tqdm

    ids = figures if figures is not None else [f.id for f in list_figures(notebooks_dir)]
    jobs = usable_cores() if jobs is None else jobs
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ParameterError(f"jobs must be an integer >= 1, got {jobs!r}")
    prepared = [prepare(f, profile, overrides, device, figure_dir(out_dir, f, dry_run=dry_run), notebooks_dir,
                        threads, dry_run) for f in ids]
    results: list = [None] * len(prepared)
    pending = []
    for i, job in enumerate(prepared):
        hit = None if force else cached(job)
        if hit:
            results[i] = hit
        else:
            pending.append(i)
    pending.sort(key=lambda i: -prepared[i].est_seconds)  # longest expected first
    bar = tqdm(total=len(prepared), initial=len(prepared) - len(pending), desc=f"figures ({profile})",
               unit="fig", disable=not progress, file=sys.stderr)
    try:
        if pending and (jobs > 1 or scheduler):
            def done(i, result):
                results[i] = _crashed(prepared[i], result) if isinstance(result, BaseException) else result
                bar.set_postfix_str(prepared[i].figure)
                bar.update(1)

            _on_dask(partial(_figure_task, force=force, warm=warm), {i: prepared[i] for i in pending}, done,
                     scheduler, jobs, warm=warm)
        for i in pending:
            if results[i] is None:
                bar.set_postfix_str(prepared[i].figure)
                results[i] = _figure_task(prepared[i], force, warm)
                bar.update(1)
    finally:
        bar.close()
        close_kernels()
    return results


# ---------------------------------------------------------------- sweeps
def _cell_key(cell: dict) -> str:
    readable = "__".join(f"{k}={v!r}" for k, v in cell.items())
    slug = re.sub(r"[^A-Za-z0-9._=-]+", "-", readable).strip("-")[:80]
    return f"{slug}__{hashlib.sha256(repr(sorted(cell.items())).encode()).hexdigest()[:8]}"


def _sweep_task(job: Job, force: bool = False, warm: bool = True) -> RunResult:
    # module-level so Dask can pickle it; a RunError propagates and is retried (in a new kernel: kernel_for)
    return run_locked(job, force=force, kernel=_task_kernel(warm))


def _row(cell: dict, job: Job, result: RunResult | None, status: str, error: str | None = None) -> dict:
    row = {k: v if v is None or isinstance(v, (int, float, str, bool)) else repr(v) for k, v in cell.items()}
    card = read_json(run_paths(job)[2]) if status in ("ran", "cached", "rejudged") else None
    for claim in (card or {}).get("claims", []):
        row[f"{claim['claim_id']}.statistic"] = claim.get("statistic")
        row[f"{claim['claim_id']}.verdict"] = claim.get("verdict")
    row.update(status=status, wall_seconds=result.wall_seconds if result else None,
               error=error if error is not None else (result.error if result else None),
               cell=job.directory.name, provenance=str(run_paths(job)[1]))
    return row


def sweep(figure: str, grid: dict, *, profile: str = "smoke", overrides: dict | None = None,
          device: str | None = None, scheduler: str | None = None, n_workers: int = 2, out_dir=None,
          force: bool = False, notebooks_dir=None, progress: bool = True, threads: int = DEFAULT_THREADS,
          warm: bool = True):
    """Run the cartesian product of ``grid`` ({name: [values]}) as independent papermill tasks on Dask
    (a ``LocalCluster(n_workers, threads_per_worker=1, processes=True)``, or ``Client(scheduler)``) into
    ``<out_dir>/sweeps/<figure>/<cell>/``, each kernel with ``threads`` intra-op threads (the rule of
    :func:`run_all`), with ``retries=2`` for crashed tasks; cells with a successful run of the same cache
    key are not recomputed (no cluster starts when all are). Returns a DataFrame, one row per cell in grid
    order (grid values, each claim's statistic and verdict, status, wall seconds, error, cell, provenance
    path), also written to ``results.csv`` (and ``results.parquet`` with pyarrow). Every cell's resolved
    parameters are checked (names, types, ranges) and a grid repeating a value is refused, all before the
    output directory is created or a cell runs. ``warm``: as in :func:`run_all`."""
    import pandas as pd
    from tqdm.auto import tqdm

    fixed = dict(overrides or {})
    if not isinstance(grid, dict) or not grid or \
            not all(isinstance(v, (list, tuple)) and len(v) for v in grid.values()):
        raise ParameterError("grid must map each parameter name to a non-empty list of values")
    for name, values in grid.items():
        repeated = next((v for i, v in enumerate(values) if v in values[:i]), None)
        if repeated is not None or values.count(None) > 1:
            raise ParameterError(f"grid parameter {name!r} of {figure} repeats the value {repeated!r}")
    if set(grid) & set(fixed):
        raise ParameterError(f"parameters both swept and fixed: {', '.join(sorted(set(grid) & set(fixed)))}")
    if not isinstance(n_workers, int) or isinstance(n_workers, bool) or n_workers < 1:
        raise ParameterError(f"n_workers must be an integer >= 1, got {n_workers!r}")
    check_threads(threads)
    base = Path(out_dir or default_sweep_dir()) / "sweeps" / figure
    notebook = get_figure(figure, notebooks_dir).notebook
    cells, jobs = [], []
    for combo in itertools.product(*grid.values()):
        params = resolve_parameters(figure, profile, {**fixed, **dict(zip(grid, combo))}, device,
                                    notebooks_dir=notebooks_dir)
        cells.append({k: params[k] for k in grid})
        key = cache_key(figure, params, profile=profile, notebooks_dir=notebooks_dir, threads=threads)
        jobs.append(Job(figure, notebook, profile, params, (base / _cell_key(cells[-1])).resolve(), key,
                         repo_root(), threads))
    check_writable(base)
    rows: list = [None] * len(jobs)
    pending = {}
    for i, job in enumerate(jobs):
        hit = None if force else cached(job)
        if hit:
            rows[i] = _row(cells[i], job, hit, "cached")
        else:
            pending[i] = job
    if pending:
        with tqdm(total=len(pending), desc=f"sweep {figure}", unit="cell", disable=not progress,
                  file=sys.stderr) as bar:
            def done(i, result):
                if isinstance(result, BaseException):
                    rows[i] = _row(cells[i], jobs[i], None, "error", f"{type(result).__name__}: {result}")
                else:
                    rows[i] = _row(cells[i], jobs[i], result, result.status, result.error)
                bar.update(1)

            _on_dask(partial(_sweep_task, force=force, warm=warm), pending, done, scheduler, n_workers,
                     retries=2, warm=warm)
    table = pd.DataFrame(rows)
    table.to_csv(base / "results.csv", index=False)
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        pass
    else:
        table.to_parquet(base / "results.parquet", index=False)
    table.attrs["csv"] = str(base / "results.csv")
    return table


def _on_dask(task, jobs: dict, done, scheduler: str | None, n_workers: int, *, retries: int = 0,
             warm: bool = False) -> None:
    """Run ``task(job)`` for every ``{i: job}`` on Dask distributed — ``Client(scheduler)``, or a
    ``LocalCluster(n_workers, threads_per_worker=1, processes=True)`` — with priority to the longest
    expected (``job.est_seconds``), calling ``done(i, result)`` as each finishes (``result`` is the
    exception when the task failed after ``retries``). ``warm``: the tasks ran in warm kernels, shut down on
    every worker at the end (:func:`close_kernels`)."""
    from dask.distributed import Client, LocalCluster, as_completed

    # LocalCluster's nannies write their worker environment (OMP_NUM_THREADS=1, MKL_…, OPENBLAS_…,
    # PYTHONHASHSEED, …) into this process's os.environ; restored below, or every notebook this process
    # runs afterwards would be single-threaded, slower and numerically different from a fresh process.
    environ = dict(os.environ)
    cluster = client = None
    try:
        if not scheduler:
            # no dashboard; the scheduler's HTTP endpoint (metrics) on a free loopback port, not 8787: a
            # second cluster on the machine (another gclib run, a parallel test) would otherwise warn
            # "Port 8787 is already in use" on stderr
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None,
                                   scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
        client = Client(scheduler or cluster)
        name = getattr(task, "func", task).__name__
        futures = {client.submit(task, job, retries=retries, pure=False, priority=int(job.est_seconds),
                                 key=f"gclib-{name}-{job.figure}-{job.directory.name}-{time.time_ns()}"): i
                   for i, job in jobs.items()}
        for fut in as_completed(futures):
            done(futures[fut], fut.exception() if fut.status == "error" else fut.result())
    finally:
        if client is not None:
            if warm:
                try:
                    client.run(close_kernels)
                except Exception:  # a worker already gone: its kernel went too (ipykernel's parent poller)
                    pass
            client.close()
        if cluster is not None:
            cluster.close()
        os.environ.clear()
        os.environ.update(environ)
