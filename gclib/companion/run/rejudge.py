"""Recompute a run's verdicts from the tables it saved, when nothing else can have changed: the runner's
middle way between a cache hit and a rerun (:func:`gclib.companion.run.runner.run_locked`). A figure notebook
whose cells tagged ``verdict`` read only its parameters, imports and saved tables (``outputs.load_table``;
it declares so in its metadata, ``gclib.verdicts_from_tables``) is *rejudged* after a change of the
statistics, the scorecard, a verdict cell or the prose: seconds instead of the figure's compute, and the
result is never made stale by it (:mod:`gclib.companion.run.committed`). [ours]
"""
from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

from gclib.companion.errors import CacheWarning
from gclib.companion.outputs import read_json, write_atomic, write_json
from gclib.companion.run.committed import code_hash
from gclib.companion.run.job import SUCCESS, Job, RunResult, run_paths
from gclib.companion.run.launch import (
    KERNEL_NAME,
    kernel_env,
    quiet_papermill_parser,
    strip_timestamps,
)
from gclib.companion.run.provenance import git_output, library_versions, now_utc, table_hashes
from gclib.companion.run.warm import kernel_for

__all__ = ["rejudgeable", "rejudge", "verdicts_from_tables", "VERDICT_TAG", "CHECK_TAG"]

VERDICT_TAG, CHECK_TAG = "verdict", "check"


def verdicts_from_tables(notebook: Path) -> bool:
    """True when the notebook declares (metadata ``gclib.verdicts_from_tables``) that its cells tagged
    ``verdict`` read only the parameters, the imports and the tables it saved (``plotting.load_table``)."""
    nb = read_json(notebook) or {}
    return bool((nb.get("metadata", {}).get("gclib") or {}).get("verdicts_from_tables"))


def _tags(cell: dict) -> list:
    return cell.get("metadata", {}).get("tags", [])


def rejudgeable(job: Job) -> bool:
    """A previous successful run in the job's folder differs from the job only where no number of its tables
    can differ — the same figure, profile, parameters and threads, the same code hash (the code that produced
    the tables, :mod:`gclib.companion.run.committed`), the same cells, the same tables (their sha256 as the
    run recorded them) — while its cache key differs (the statistics, the scorecard, a verdict cell or the
    prose changed), and the notebook's verdicts read only its saved tables: then :func:`rejudge` recomputes
    the verdicts instead of the whole figure."""
    nb, prov, _ = run_paths(job)
    rec = read_json(prov) if prov.exists() else None
    if rec is None or rec.get("status") != SUCCESS or job.dry_run or rec.get("dry_run"):
        return False
    if (rec.get("profile"), rec.get("threads"), rec.get("parameters")) != (
            job.profile, job.threads, json.loads(json.dumps(job.parameters))):
        return False
    if rec.get("code_hash") != code_hash(job.figure, notebook=job.notebook):
        return False
    if rec.get("tables") is not None and rec["tables"] != table_hashes(job.directory):
        return False  # a table is not the one the run saved (edited, lost): rerun, never judge it
    executed = read_json(nb)
    source = read_json(job.notebook)
    if executed is None or source is None or not verdicts_from_tables(job.notebook):
        return False
    ids = [c.get("id") for c in source["cells"]]
    done = [c.get("id") for c in executed["cells"] if "injected-parameters" not in _tags(c)]
    return None not in ids and ids == done


def rejudge(job: Job, kernel=None) -> RunResult | None:
    """Recompute the verdicts of the run in ``job.directory`` from its saved tables: execute the notebook's
    imports, ``parameters`` and ``check`` cells and its ``verdict`` cells (nothing that computes a table)
    with the run's parameters, write the scorecard anew, put the source's prose and the new verdict outputs
    into the executed notebook, and record ``rejudged`` (when, commit, wall time) and the new cache key in
    the provenance. ``None`` (with a warning) when that fails: the caller then reruns the figure. ``kernel``:
    a :class:`~gclib.companion.run.warm.WarmKernel` to run the cells in instead of a fresh kernel."""
    import nbformat
    import papermill as pm

    quiet_papermill_parser()
    nb_out, prov, card = run_paths(job)
    source = nbformat.read(job.notebook, as_version=4)
    first_code = next(i for i, c in enumerate(source.cells) if c.cell_type == "code")
    keep = [c for i, c in enumerate(source.cells) if c.cell_type == "code" and (
        i == first_code or {"parameters", CHECK_TAG, VERDICT_TAG} & set(c.metadata.get("tags", [])))]
    reduced = nbformat.v4.new_notebook(cells=keep, metadata=source.metadata)
    tmp_in = job.directory / f".{job.figure}.rejudge-in.ipynb"
    tmp_out = job.directory / f".{job.figure}.rejudge.ipynb"
    nbformat.write(reduced, tmp_in)
    env = kernel_env(job)
    t0 = time.perf_counter()
    try:
        with kernel_for(env, job.directory, kernel) as (where, _):
            pm.execute_notebook(str(tmp_in), str(tmp_out), parameters=job.parameters,
                                kernel_name=KERNEL_NAME, cwd=str(job.directory), progress_bar=False,
                                log_output=False, **where)
        judged = {c.get("id"): c for c in nbformat.read(tmp_out, as_version=4).cells}
    except Exception as err:  # a verdict cell that needs more than the tables: rerun the figure instead
        warnings.warn(f"{job.figure}: recomputing the verdicts from the saved tables failed "
                      f"({type(err).__name__}); rerunning the figure", CacheWarning, stacklevel=3)
        return None
    finally:
        tmp_in.unlink(missing_ok=True)
    tmp_out.unlink(missing_ok=True)
    executed = nbformat.read(nb_out, as_version=4)
    now = {c.get("id"): c for c in source.cells}
    for cell in executed.cells:
        new = now.get(cell.get("id"))
        if new is None:
            continue
        cell.source, cell.metadata["tags"] = new.source, list(new.metadata.get("tags", []))
        if not cell.metadata["tags"]:
            cell.metadata.pop("tags")
        if cell.cell_type == "code" and VERDICT_TAG in _tags(new) and cell.get("id") in judged:
            cell.outputs = judged[cell["id"]].outputs
    executed.metadata.setdefault("gclib", {}).update(source.metadata.get("gclib", {}))
    write_atomic(nb_out, nbformat.writes(executed))
    strip_timestamps(nb_out, job)
    rec = read_json(prov)
    rec.update(cache_key=job.cache_key, rejudged={
        "at": now_utc(), "git_sha": git_output(job.root, "rev-parse", "HEAD"),
        "wall_seconds": round(time.perf_counter() - t0, 3), "versions": library_versions()})
    write_json(prov, rec)
    return RunResult(job.figure, "rejudged", job.profile, job.parameters, job.directory, nb_out, prov, card,
                     rec.get("wall_seconds"), job.cache_key)
