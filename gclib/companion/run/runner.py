"""Execute one figure notebook with papermill: the cache check, the verdicts rejudged from the saved tables
where only they can have changed, or a run in a kernel with its provenance.

:func:`run_figure` resolves the parameters (the one path, :mod:`gclib.companion.figures.resolve`), then
executes the notebook with the working directory and ``GCLIB_OUTPUT_DIR`` set to ``<out>/<id>/``, so
``savefig``, ``save_table`` and ``Scorecard.save`` write beside the executed notebook, with ``threads``
intra-op threads in the kernel. ``<id>.provenance.json`` records what ran, the figure's cache key and the
sha256 of every table it saved; a rerun whose key matches a successful, readable record is skipped. Many
figures at once and parameter grids on Dask: :mod:`gclib.companion.run.parallel`. [ours]
"""
from __future__ import annotations

import os
import time

from gclib.companion.errors import RunError
from gclib.companion.outputs import write_json
from gclib.companion.run.cache import LOCK_NAME, cached, locked
from gclib.companion.run.committed import code_hash
from gclib.companion.run.job import DEFAULT_THREADS, SUCCESS, Job, RunResult, figure_dir, prepare, run_paths
from gclib.companion.run.launch import (
    KERNEL_NAME,
    failed_cell,
    kernel_env,
    quiet_papermill_parser,
    relative,
    strip_timestamps,
)
from gclib.companion.run.provenance import (
    code_dirty,
    device_name,
    git_output,
    library_versions,
    now_utc,
    table_hashes,
)
from gclib.companion.run.rejudge import rejudge, rejudgeable
from gclib.companion.run.warm import kernel_for

#: a committed result's discussion (a template people write: ``gclib.companion.book.prose``), never deleted
DISCUSSION = "discussion.md"
__all__ = ["run_figure", "run_locked", "execute"]


def run_locked(job: Job, *, force: bool = False, progress: bool = False, kernel=None) -> RunResult:
    """Under the figure's lock: the cached run unless ``force`` (checked again once the lock is held, so a
    run that waited for another takes its result), else the verdicts recomputed from its saved tables
    when only they can have changed (:func:`rejudgeable`, :func:`rejudge`), else :func:`execute` (both in
    ``kernel``, a :class:`~gclib.companion.run.warm.WarmKernel`, when given)."""
    with locked(job):
        if not force:
            hit = cached(job)
            if hit is not None:
                return hit
            if rejudgeable(job):
                judged = rejudge(job, kernel=kernel)
                if judged is not None:
                    return judged
        return execute(job, progress, kernel=kernel)


def execute(job: Job, progress: bool = False, kernel=None) -> RunResult:
    """Run the notebook into ``job.directory``, in a fresh kernel or in ``kernel`` (a
    :class:`~gclib.companion.run.warm.WarmKernel`, reset first); a failing cell gives status "failed" (the
    partial notebook stays), any other error is recorded in the provenance and raised as :class:`RunError`."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    quiet_papermill_parser()
    nb_out, prov, card = run_paths(job)
    job.directory.mkdir(parents=True, exist_ok=True)
    if prov.exists():  # a previous run of ours: clear its files so nothing stale survives a failure
        for old in job.directory.iterdir():  # (a committed result's discussion is written by people: kept)
            if old.is_file() and old.name not in (LOCK_NAME, DISCUSSION):
                old.unlink()
    dirty = code_dirty(job.root, job.notebook)
    rec = {"figure": job.figure, "profile": job.profile, "parameters": job.parameters,
           "notebook": relative(job.notebook, job.root), "git_sha": git_output(job.root, "rev-parse", "HEAD"),
           "git_dirty": None if dirty is None else bool(dirty), "git_dirty_files": dirty,
           "versions": library_versions(),
           "device": device_name(job.parameters.get("device")),
           "seed": job.parameters.get("seed", job.parameters.get("seeds")), "threads": job.threads,
           "dry_run": job.dry_run,
           "start": now_utc(), "end": None,
           "wall_seconds": None, "cache_key": job.cache_key,
           "code_hash": code_hash(job.figure, notebook=job.notebook), "status": "running", "error": None,
           "failed_cell": None}
    write_json(prov, rec)
    env = kernel_env(job)
    t0 = time.perf_counter()
    error = cell = crash = None
    partial = nb_out.with_name(f".{job.figure}.partial.ipynb")  # papermill saves as it goes: not final
    try:
        with kernel_for(env, job.directory, kernel) as (where, before):
            if before is not None:  # a kernel that ran other notebooks before: said so in the record
                rec["warm_kernel"] = {"runs_before": before}
            pm.execute_notebook(str(job.notebook), str(partial), parameters=job.parameters,
                                kernel_name=KERNEL_NAME, cwd=str(job.directory), progress_bar=progress,
                                log_output=False, **where)
    except PapermillExecutionError as err:
        cell = failed_cell(err, partial)
        line = ((err.evalue or "").strip().splitlines() or [""])[0]
        error = f"cell {cell} (In [{err.exec_count}]) raised {err.ename}: {line}".rstrip()
    except Exception as err:  # kernel died, timeout, I/O: not the notebook's code
        crash, error = err, f"{type(err).__name__}: {err}".strip()
    if error is None and not card.exists():
        error = f"the notebook finished but wrote no {card.name} (Scorecard.save() missing?)"
    rec.update(end=now_utc(), wall_seconds=round(time.perf_counter() - t0, 3), error=error, failed_cell=cell,
               status=SUCCESS if error is None else "failed", tables=table_hashes(job.directory))
    if partial.exists():
        strip_timestamps(partial, job)
        os.replace(partial, nb_out)
    write_json(prov, rec)
    if crash is not None:
        raise RunError(f"{job.figure}: {error}") from crash
    return RunResult(job.figure, "ran" if error is None else "failed", job.profile, job.parameters,
                     job.directory, nb_out, prov, card if card.exists() else None, rec["wall_seconds"],
                     job.cache_key, error, cell)


def run_figure(figure: str, *, profile: str = "smoke", overrides: dict | None = None,
               device: str | None = None, out_dir=None, force: bool = False, progress: bool = False,
               notebooks_dir=None, threads: int = DEFAULT_THREADS, dry_run: bool = False,
               kernel=None) -> RunResult:
    """Execute one figure into ``<out_dir>/<figure>/`` unless a successful run with the same cache key is
    there (status "cached"); ``force`` reruns. The kernel runs ``threads`` intra-op threads (recorded in the
    provenance). ``dry_run``: the profile's code paths with the figure's caps (``figures.resolve_parameters``)
    into ``<out_dir>/_dry_run/<figure>/``. Bad input raises :class:`ParameterError` before any kernel
    starts; a failing cell returns status "failed" with ``error`` naming the cell. ``kernel``: a
    :class:`~gclib.companion.run.warm.WarmKernel` to run in instead of a fresh kernel (many small runs)."""
    out = figure_dir(out_dir, figure, dry_run=dry_run)
    job = prepare(figure, profile, overrides, device, out, notebooks_dir, threads, dry_run)
    return run_locked(job, force=force, progress=progress, kernel=kernel)
