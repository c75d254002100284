"""Interrupted, concurrent and corrupted runs, with real processes (SIGKILL, two commands at once), and the
parallel figure runner: kernel threads, --jobs, one failed figure among others, and printed outputs that do
not depend on the core count (taskset) or on --jobs."""
from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from gclib.companion import run
from gclib.companion.errors import CacheWarning, ParameterError
from gclib.companion.figures import resolve_parameters
from gclib.companion.run import parallel

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
GCLIB = [sys.executable, "-m", "gclib"]

pytestmark = pytest.mark.notebooks


def _fixture_dir(tmp_path, est=None, **variants):
    """A notebooks directory with fx_demo and copies of it under other ids whose parameter defaults are
    changed (``variants = {id: {param: literal source}}``), with profiles (``est``: smoke-profile expected
    seconds per id)."""
    import yaml

    nb_dir = tmp_path / "nbs"
    nb_dir.mkdir()
    shutil.copy(FIXTURES / "fx_demo.ipynb", nb_dir / "fx_demo.ipynb")
    profiles = yaml.safe_load((FIXTURES / "profiles.yaml").read_text())
    for fid, params in variants.items():
        nb = nbformat.read(FIXTURES / "fx_demo.ipynb", as_version=4)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        cell.source = "\n".join(f"{ln.split(' = ')[0]} = {params[ln.split(' = ')[0]]}  # changed"
                                if ln.split(" = ")[0] in params else ln for ln in cell.source.splitlines())
        for c in nb.cells:  # scorecards and figures are named after the figure id
            c.source = c.source.replace('"fx_demo"', f'"{fid}"')
        nbformat.write(nb, nb_dir / f"{fid}.ipynb")
        profiles[fid] = json.loads(json.dumps(profiles["fx_demo"]))
    for fid, seconds in (est or {}).items():
        profiles[fid]["est_seconds"]["smoke"] = seconds
    (nb_dir / "profiles.yaml").write_text(yaml.safe_dump(profiles, allow_unicode=True))
    return nb_dir


def _env(nb_dir, **extra):
    return {**os.environ, "GCLIB_NOTEBOOKS_DIR": str(nb_dir), "MPLBACKEND": "agg", **extra}


def _provenance(out, fid):
    return json.loads((out / fid / f"{fid}.provenance.json").read_text())


def _wait_for(predicate, timeout=120.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():
            return True
        time.sleep(0.2)
    raise TimeoutError("condition not met in time")


def _kill_group(proc, root=None):
    """SIGKILL the command's process group, then (``root``) any process left working under ``root``: a
    kernel or Dask worker runs in its own session and outlives the group until it notices its parent died."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    if root is None:
        return
    root = str(Path(root).resolve())
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            if os.readlink(f"/proc/{pid}/cwd").startswith(root):
                os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass


# ---------------------------------------------------------------- kernel threads and --jobs
def test_kernel_threads_are_set_and_recorded(tmp_path, monkeypatch):
    monkeypatch.setenv("GCLIB_NOTEBOOKS_DIR", str(FIXTURES))
    for threads in (1, 2):
        res = run.run_figure("fx_demo", out_dir=tmp_path / str(threads), threads=threads)
        nb = nbformat.read(res.notebook, as_version=4)
        printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
        assert f"torch threads: {threads}" in printed
        assert json.loads(res.provenance.read_text())["threads"] == threads
    one = run.cache_key("fx_demo", resolve_parameters("fx_demo"), threads=1)
    assert one != run.cache_key("fx_demo", resolve_parameters("fx_demo"), threads=2)
    with pytest.raises(ParameterError, match="threads"):
        run.run_figure("fx_demo", out_dir=tmp_path, threads=0)
    with pytest.raises(ParameterError, match="jobs"):
        parallel.run_all(out_dir=tmp_path, jobs=0)


def test_run_all_on_dask_runs_longest_first_and_a_failure_stops_nothing(tmp_path):
    nb_dir = _fixture_dir(tmp_path, fx_fail={"fail": "True"}, fx_slow={"sleep": "2.0"})
    env = _env(nb_dir)
    proc = subprocess.run([*GCLIB, "run", "all", "--jobs", "2", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "2/3 figures ok; failed: fx_fail" in proc.stdout
    for fid in ("fx_demo", "fx_slow"):
        assert _provenance(tmp_path / "out", fid)["status"] == "success"
    assert _provenance(tmp_path / "out", "fx_fail")["status"] == "failed"
    # each of the two workers ran its figures in one warm kernel: one of them ran two of the three
    befores = [_provenance(tmp_path / "out", fid)["warm_kernel"]["runs_before"]
               for fid in ("fx_demo", "fx_fail", "fx_slow")]
    assert min(befores) == 0 and max(befores) >= 1, befores


def test_run_all_runs_a_workers_figures_in_one_kernel_unless_told_otherwise(tmp_path, monkeypatch):
    """``jobs=1``: this process's figures one after another in one warm kernel (a failing figure does not
    spoil the next), shut down when the batch ends; ``warm=False`` (``--fresh-kernels``): a kernel each."""
    nb_dir = _fixture_dir(tmp_path, est={"fx_a": 30, "fx_b": 20}, fx_a={"n": "4"}, fx_b={"fail": "True"})
    monkeypatch.setenv("GCLIB_NOTEBOOKS_DIR", str(nb_dir))
    results = parallel.run_all(out_dir=tmp_path / "warm", jobs=1, progress=False)
    assert [r.status for r in results] == ["ran", "failed", "ran"], [r.error for r in results]
    assert [_provenance(tmp_path / "warm", r.figure)["warm_kernel"] for r in results] == [
        {"runs_before": 0}, {"runs_before": 1}, {"runs_before": 2}]  # longest expected first: fx_a, fx_b
    assert parallel._KERNELS == {}  # shut down
    fresh = parallel.run_all(out_dir=tmp_path / "fresh", jobs=1, progress=False, warm=False,
                             figures=["fx_a"])
    assert fresh[0].status == "ran" and "warm_kernel" not in _provenance(tmp_path / "fresh", "fx_a")
    assert fresh[0].parameters == results[0].parameters


def test_a_warm_kernel_whose_run_crashed_is_replaced(tmp_path, monkeypatch):
    """A run that fails other than by a cell raising (its kernel died or hung) shuts that warm kernel down, so
    the next run starts a new one; a cell that raised leaves it running. The figure is reported failed, and
    a sweep cell's task raises (Dask retries it)."""
    from papermill.exceptions import PapermillExecutionError

    from gclib.companion.errors import RunError
    from gclib.companion.run.warm import kernel_for

    with run.WarmKernel() as kernel:
        with pytest.raises(PapermillExecutionError), kernel_for({}, tmp_path, kernel) as (where, before):
            raise PapermillExecutionError(0, 1, "", "RuntimeError", "boom", [])
        alive = kernel.km
        assert alive is not None and before == 0  # a cell raised: the kernel stays, reset by the next run
        with pytest.raises(RuntimeError), kernel_for({}, tmp_path, kernel) as (where, before):
            assert where == {"km": alive} and before == 1
            raise RuntimeError("DeadKernelError: Kernel died")
        assert kernel.km is None  # shut down
        with kernel_for({}, tmp_path, kernel) as (where, before):
            assert where["km"] is not alive and before == 0  # a new kernel
    monkeypatch.setenv("GCLIB_NOTEBOOKS_DIR", str(FIXTURES))
    job = run.prepare("fx_demo", "smoke", None, None, tmp_path / "fx_demo", None)

    def died(job, force=False, kernel=None):
        raise RunError("fx_demo: DeadKernelError: Kernel died")

    monkeypatch.setattr(parallel, "run_locked", died)
    res = parallel._figure_task(job)
    assert res.status == "failed" and "Kernel died" in res.error
    with pytest.raises(RunError):
        parallel._sweep_task(job)
    assert parallel.close_kernels() == 1 and parallel._task_kernel(False) is None


def test_run_all_longest_expected_first(tmp_path, monkeypatch):
    nb_dir = _fixture_dir(tmp_path, est={"fx_b": 30, "fx_c": 10}, fx_b={"n": "4"}, fx_c={"n": "5"})
    monkeypatch.setenv("GCLIB_NOTEBOOKS_DIR", str(nb_dir))
    order = []

    def fake(job, force=False, warm=True):
        order.append(job.figure)
        return run.RunResult(job.figure, "ran", job.profile, job.parameters, job.directory,
                                job.directory / "x.ipynb", job.directory / "p.json", None, 0.0, job.cache_key)

    monkeypatch.setattr(parallel, "_figure_task", fake)
    results = parallel.run_all(out_dir=tmp_path / "out", jobs=1, progress=False)
    assert order == ["fx_b", "fx_c", "fx_demo"]
    assert [r.figure for r in results] == ["fx_b", "fx_c", "fx_demo"]  # results in the figures' order


def _stream_outputs(path):
    nb = nbformat.read(path, as_version=4)
    return [o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if o.get("output_type") == "stream"]


@pytest.mark.slow
def test_printed_outputs_do_not_depend_on_cores_or_jobs(tmp_path, smoke_cli):
    """gc_l2 at the smoke profile, computed in a one-core process (taskset, one figure in a fresh kernel, no
    Dask, its own empty training cache), prints the same numbers and saves byte for byte the same tables as
    in the session's smoke run (two cores, ``run all --jobs 2``: two warm kernels at a time on Dask, gc_l2
    after other figures in its kernel): one intra-op thread per kernel, whatever the cores and jobs, and a
    warm kernel computes what a fresh one computes."""
    from conftest import SMOKE_ENV

    if shutil.which("taskset") is None or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs taskset and two usable cores")
    smoke_out, smoke = smoke_cli
    assert smoke.returncode == 0, smoke.stderr[-3000:]
    env = {**SMOKE_ENV.apply(), "MPLBACKEND": "agg", "GCLIB_CACHE_DIR": str(tmp_path / "cache"),
           "GCLIB_NOTEBOOKS_DIR": str(Path(__file__).resolve().parents[1] / "notebooks")}
    out = tmp_path / "one_core"
    proc = subprocess.run(["taskset", "-c", "0", *GCLIB, "run", "gc_l2", "--profile", "smoke", "--out",
                           str(out)], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    one_core = _stream_outputs(out / "gc_l2" / "gc_l2.ipynb")
    assert any("final values" in t for t in one_core)
    assert one_core == _stream_outputs(smoke_out / "gc_l2" / "gc_l2.ipynb")
    fresh, warm = _provenance(out, "gc_l2"), _provenance(smoke_out, "gc_l2")
    assert "warm_kernel" not in fresh and warm["warm_kernel"]["runs_before"] >= 1, warm.get("warm_kernel")
    assert fresh["tables"] and fresh["tables"] == warm["tables"]  # sha256 of every table it saved


# ---------------------------------------------------------------- interrupted runs
def test_run_all_killed_mid_figure_reruns_only_that_figure(tmp_path):
    nb_dir = _fixture_dir(tmp_path, est={"fx_slow": 1}, fx_slow={"sleep": "600.0"})
    out = tmp_path / "out"
    env = _env(nb_dir)
    proc = subprocess.Popen([*GCLIB, "run", "all", "--jobs", "1", "--out", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:  # fx_demo (3 s expected) runs first and finishes; fx_slow (1 s expected) hangs in its cell
        _wait_for(lambda: (out / "fx_demo" / "fx_demo.provenance.json").exists()
                  and _provenance(out, "fx_demo")["status"] == "success")
        _wait_for(lambda: (out / "fx_slow" / "fx_slow.provenance.json").exists())
        _wait_for(lambda: _provenance(out, "fx_slow")["status"] == "running")
        time.sleep(3)  # the kernel is inside the 600 s cell
    finally:
        _kill_group(proc, tmp_path)
    assert not (out / "fx_slow" / "fx_slow.scorecard.json").exists()
    assert not (out / "fx_slow" / "fx_slow.ipynb").exists()  # only a .partial, never the final name
    fast = subprocess.run([*GCLIB, "run", "fx_slow", "-p", "sleep", "0.0", "--out", str(out)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert fast.returncode == 0, fast.stderr
    assert "fx_slow: ran" in fast.stdout  # the killed run was never taken as a result
    rerun = subprocess.run([*GCLIB, "run", "fx_demo", "--out", str(out)], env=env, capture_output=True,
                           text=True, timeout=300)
    assert rerun.returncode == 0 and "fx_demo: cached" in rerun.stdout  # the finished figure is kept


def test_sweep_killed_mid_grid_recomputes_only_unfinished_cells(tmp_path):
    nb_dir = _fixture_dir(tmp_path)
    out = tmp_path / "out"
    env = _env(nb_dir)
    cells = out / "sweeps" / "fx_demo"

    def finished():
        return {p.parent.name for p in cells.glob("*/fx_demo.provenance.json")
                if (json.loads(p.read_text() or "{}") or {}).get("status") == "success"}

    # n=1 is quick, n=2 and n=3 sleep long: killed while one worker sits in n=2
    grid = ["-g", "n", "1,2,3", "-g", "sleep", "0.0,600.0", "--workers", "1", "--out", str(out)]
    proc = subprocess.Popen([*GCLIB, "sweep", "fx_demo", *grid], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for(lambda: len(finished()) >= 1, timeout=240)
        time.sleep(2)
    finally:
        _kill_group(proc, tmp_path)
    done = finished()
    assert 1 <= len(done) < 6
    quick = ["-g", "n", "1,2,3", "-g", "sleep", "0.0", "--workers", "1", "--out", str(out)]
    rerun = subprocess.run([*GCLIB, "sweep", "fx_demo", *quick], env=env, capture_output=True, text=True,
                           timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    table = pd.read_csv(cells / "results.csv")
    quick_done = {c for c in done if "sleep=0.0" in c}
    assert quick_done <= set(table.loc[table["status"] == "cached", "cell"])
    assert set(table["status"]) == {"cached", "ran"} or set(table["status"]) == {"cached"}


def test_two_runs_of_one_figure_do_not_interleave(tmp_path):
    nb_dir = _fixture_dir(tmp_path)
    out = tmp_path / "out"
    env = _env(nb_dir)
    cmd = [*GCLIB, "run", "fx_demo", "-p", "sleep", "4.0", "--out", str(out)]
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: (out / "fx_demo" / ".gclib.lock").exists())
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    first_out, first_err = first.communicate(timeout=300)
    assert first.returncode == 0 and second.returncode == 0, (first_err, second.stderr)
    assert "waiting" in second.stderr and "another gclib process" in second.stderr
    assert "fx_demo: cached" in second.stdout and "fx_demo: ran" in first_out
    prov = _provenance(out, "fx_demo")
    assert prov["status"] == "success"
    assert json.loads((out / "fx_demo" / "fx_demo.scorecard.json").read_text())["claims"]


# ---------------------------------------------------------------- corrupted cache entries
@pytest.mark.parametrize("what", ["provenance", "scorecard", "notebook"])
def test_corrupt_figure_cache_entries_are_recomputed_with_one_warning(tmp_path, monkeypatch, what,
                                                                     warm_kernel):
    """(The runs in the worker's warm kernel: what is checked is the runner's reading of its cache.)"""
    monkeypatch.setenv("GCLIB_NOTEBOOKS_DIR", str(FIXTURES))
    first = run.run_figure("fx_demo", out_dir=tmp_path, kernel=warm_kernel)
    target = {"provenance": first.provenance, "scorecard": first.scorecard, "notebook": first.notebook}[what]
    target.write_text(target.read_text()[: len(target.read_text()) // 2])  # truncated
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = run.run_figure("fx_demo", out_dir=tmp_path, kernel=warm_kernel)
    assert again.status == "ran"
    msgs = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    assert len(msgs) == 1 and "\n" not in msgs[0] and what in msgs[0], msgs
    assert json.loads(again.provenance.read_text())["status"] == "success"


def test_corrupt_training_cache_entry_is_recomputed_with_one_warning(tmp_path):
    from gclib.experiments import runs as train

    base = {"dataset": "digits", "n_train": 64, "n_test": 32, "hidden": [8], "steps": 2, "eval_every": 2,
            "batch_size": 16, "eval_subset": 32}
    first = train.run_grid({"lr": [0.1]}, base=base, seeds=[0], cache_dir=tmp_path, progress=False)
    (entry,) = list(tmp_path.glob("*.pkl"))
    for garbage in (b"", b"not a pickle", pickle.dumps({"a": 1})):
        entry.write_bytes(garbage)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            again = train.run_grid({"lr": [0.1]}, base=base, seeds=[0], cache_dir=tmp_path, progress=False)
        msgs = [str(w.message) for w in caught if issubclass(w.category, train.CacheWarning)]
        assert len(msgs) == 1 and "\n" not in msgs[0] and entry.name in msgs[0]
        pd.testing.assert_frame_equal(again, first)
