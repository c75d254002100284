"""Execute one figure notebook with papermill: cache check, provenance, the kernel's environment.

:func:`run_figure` resolves the parameters (``gclib.companion.figures``), then executes the notebook with
the working directory and ``GCLIB_OUTPUT_DIR`` set to ``<out>/<id>/``, so ``savefig`` and
``Scorecard.save`` write beside the executed notebook, with ``threads`` intra-op threads in the kernel.
``<id>.provenance.json`` records what ran and the figure's cache key (``gclib.experiments.cache``, scope
"figure": parameters, threads, notebook cells and the sources a notebook runs); a rerun whose key matches a
successful, readable record is skipped. Many figures at once and parameter grids on Dask:
``gclib.companion.parallel``. [ours]
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import subprocess
import sys
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import gclib
from gclib.companion.figures import (
    ParameterError,
    default_out_dir,
    get_figure,
    repo_root,
    resolve_parameters,
)
from gclib.companion.results import code_hash
from gclib.experiments import cache

__all__ = ["RunError", "RunResult", "Job", "cache_key", "run_figure", "prepare", "execute", "cached",
           "locked", "run_locked", "usable_cores", "check_threads", "check_writable", "read_json",
           "write_atomic", "run_paths", "figure_dir", "DEFAULT_THREADS", "LOCK_NAME", "DRY_RUN_DIR",
           "reference_isa_env"]

#: intra-op threads of every kernel the runner starts, unless asked otherwise: the same figure then prints
#: the same numbers on a 2-core and a 16-core machine, and N kernels run side by side on N cores
DEFAULT_THREADS = 1
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
#: the instruction set the committed smoke outputs are computed with (x86-64 with AVX2): torch's own kernels
#: (ATen), MKL and oneDNN are held to AVX2, and NumPy's AVX-512 dispatch targets are switched off
#: (:func:`reference_isa_env`), so that an AVX-512 machine prints the same digits as an AVX2 one.
#: Measured 2026-12-04: without it, the smoke runs of gc_learning_rate (GC 46.7 vs 46.6) and gc_batch_size
#: (a run "collapsed" vs "not_reached") differ between an AVX-512 and an AVX2 EPYC, and again at ATen's
#: "default" (no SIMD) level. Used by the tests and tools/refresh_notebook.py, not by user runs (full speed).
REFERENCE_ISA = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
                 "ONEDNN_MAX_CPU_ISA": "AVX2"}
KERNEL_NAME = "python3"  # jupyter_client starts "python" kernels with sys.executable: this (venv) interpreter
SUCCESS = "success"
#: matplotlib backend of every kernel the runner starts: figures are embedded in the executed notebook.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
LOCK_NAME = ".gclib.lock"
DRY_RUN_DIR = "_dry_run"
CacheWarning = cache.CacheWarning


class RunError(RuntimeError):
    """A notebook could not be executed for a reason other than a failing cell (kernel died, I/O error)."""




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




# ---------------------------------------------------------------- cache keys and provenance
def _notebook_hash(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    src = [(c["cell_type"], "".join(c["source"]) if isinstance(c["source"], list) else c["source"])
           for c in cells]
    return hashlib.sha256(json.dumps(src).encode()).hexdigest()


def cache_key(figure: str, params: dict, *, profile: str | None = None, notebooks_dir=None,
              threads: int = DEFAULT_THREADS, dry_run: bool = False) -> str:
    """The figure's cache key (``gclib.experiments.cache``, scope "figure"): figure, profile, resolved
    parameters, kernel threads (they change the order of floating-point reductions, so they are part of a
    result) and the notebook's cell sources, with the fingerprint of the sources a notebook runs."""
    payload = {"figure": figure, "profile": profile if profile is not None else params.get("profile"),
               "parameters": params, "notebook": _notebook_hash(get_figure(figure, notebooks_dir).notebook),
               "threads": threads, "dry_run": dry_run}
    return cache.cache_key(payload, "figure")


def git_output(root: Path, *args) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def library_versions() -> dict:
    def version(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {"gclib": gclib.__version__, "torch": version("torch"), "python": platform.python_version(),
            "numpy": version("numpy"), "papermill": version("papermill")}


def _device_name(device) -> str:
    if isinstance(device, str) and (device == "auto" or device.startswith("cuda")):
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(int(device.split(":")[1]) if ":" in device else 0)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return "cpu: " + line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path)


def read_json(path: Path) -> dict | None:
    """The JSON object at ``path``; ``None`` when it is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then ``os.replace`` it into place: a reader (or a
    rerun after a kill) sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json(path: Path, data: dict) -> None:
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, default=repr) + "\n")


# ---------------------------------------------------------------- execution
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


def reference_isa_env(cpuinfo: str | None = None) -> dict[str, str]:
    """:data:`REFERENCE_ISA` where this CPU has AVX2 (``/proc/cpuinfo`` flags, or ``cpuinfo`` text), else
    ``{}`` (another architecture: its outputs differ anyway, and ATen would refuse the value)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return {}
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines()
                  if line.startswith("flags")), [])
    if "avx2" not in flags:
        return {}
    env = dict(REFERENCE_ISA)
    try:  # NumPy's own runtime dispatch: its AVX-512 targets off (names as this NumPy spells them)
        from numpy._core._multiarray_umath import __cpu_dispatch__
    except ImportError:  # NumPy 1.x
        from numpy.core._multiarray_umath import __cpu_dispatch__
    wide = [f for f in __cpu_dispatch__ if "AVX512" in f or f == "X86_V4"]
    if wide:
        env["NPY_DISABLE_CPU_FEATURES"] = " ".join(wide)
    return env


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


def run_locked(job: Job, *, force: bool = False, progress: bool = False) -> RunResult:
    """Under the figure's lock: the cached run unless ``force`` (checked again once the lock is held, so a
    run that waited for another takes its result), else the verdicts recomputed from its saved tables
    when only they can have changed (:func:`rejudgeable`, :func:`rejudge`), else :func:`execute`."""
    with locked(job):
        if not force:
            hit = cached(job)
            if hit is not None:
                return hit
            from gclib.companion.rejudge import rejudge, rejudgeable  # noqa: PLC0415 (it imports this module)

            if rejudgeable(job):
                judged = rejudge(job)
                if judged is not None:
                    return judged
        return execute(job, progress)


def env_kernel_manager(env: dict):
    """A kernel manager class starting kernels with ``env`` added (thread-safe, unlike os.environ), and
    CurveZMQ transport encryption where the kernel and libzmq support it (else ipykernel warns on stderr)."""
    import zmq
    from jupyter_client.manager import AsyncKernelManager

    class _EnvKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw):
            kw["env"] = {**os.environ, **kw.get("env", {}), **env}
            if zmq.has("curve") and "transport_encryption" in self.trait_names():
                kw.setdefault("transport_encryption", "auto")
            return await super().start_kernel(**kw)

        async def _async_interrupt_kernel(self):
            # jupyter_client's shutdown_kernel() SIGINTs the kernel before its shutdown_request. papermill
            # shuts the kernel down right after the reply to its final kernel_info_request, when the kernel
            # may not yet have left that handler (its SIGINT handler is Python's until it does): it then
            # prints "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel." on stderr after a run that
            # succeeded. Our kernels are idle at shutdown (papermill waited for every reply), so skip that
            # interrupt; a kernel still busy is terminated by shutdown's SIGTERM/SIGKILL fallback. An
            # explicit interrupt_kernel() (a cell timeout) is unchanged: it does not go through this method.
            if self.shutting_down:
                return
            await super()._async_interrupt_kernel()

    return _EnvKernelManager


class _ParserNoise(logging.Filter):
    """papermill re-parses the parameters cell with a line-based parser that trips on ``=`` inside comments
    and then warns about "unknown" parameters; :func:`notebook_parameters` has already checked them."""

    def filter(self, record):
        return not record.getMessage().startswith(("Unable to parse line", "Passed unknown parameter"))


def quiet_papermill_parser() -> None:
    for name in ("papermill", "papermill.translators"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _ParserNoise) for f in logger.filters):
            logger.addFilter(_ParserNoise())


def strip_timestamps(path: Path, job: Job) -> None:
    """Drop papermill's and nbclient's timestamps and absolute paths from the executed notebook."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    meta = nb.metadata.get("papermill", {})
    for key in ("start_time", "end_time", "duration"):
        meta.pop(key, None)
    meta.update(input_path=_rel(job.notebook, job.root), output_path=f"{job.figure}.ipynb")
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        for key in ("start_time", "end_time", "duration"):
            cell.metadata.get("papermill", {}).pop(key, None)
    nbformat.write(nb, path)


def _failed_cell(err, nb_out: Path) -> int:
    """papermill's cell index counts its injected-parameters cell; return the index in the source notebook.
    (In the saved notebook papermill also put an error banner at the top, shifting everything by one.)"""
    cells = (read_json(nb_out) or {}).get("cells", [])
    injected = next((i - 1 for i, c in enumerate(cells)
                     if "injected-parameters" in c.get("metadata", {}).get("tags", [])), -1)
    return err.cell_index - (1 if 0 <= injected < err.cell_index else 0)


def kernel_env(job: Job) -> dict:
    """The environment a figure's kernel starts with (added to the caller's): its output directory, the
    inline matplotlib backend, this checkout's gclib first on the path, and ``job.threads`` intra-op
    threads."""
    # the kernel imports the gclib whose sources are in the cache key, even from an uninstalled checkout
    path = os.pathsep.join(p for p in (str(Path(gclib.__file__).resolve().parent.parent),
                                        os.environ.get("PYTHONPATH")) if p)
    # figures must appear inline in the executed notebook (the book shows it), whatever the caller's backend
    return {"GCLIB_OUTPUT_DIR": str(job.directory), "MPLBACKEND": INLINE_BACKEND, "PYTHONPATH": path,
            **{var: str(job.threads) for var in THREAD_VARS}}  # torch reads OMP_NUM_THREADS at import


def execute(job: Job, progress: bool = False) -> RunResult:
    """Run the notebook into ``job.directory``; a failing cell gives status "failed" (the partial notebook
    stays), any other error is recorded in the provenance and raised as :class:`RunError`."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    quiet_papermill_parser()
    nb_out, prov, card = run_paths(job)
    job.directory.mkdir(parents=True, exist_ok=True)
    if prov.exists():  # a previous run of ours: clear its files so nothing stale survives a failure
        for old in job.directory.iterdir():
            if old.is_file() and old.name != LOCK_NAME:
                old.unlink()
    dirty = git_output(job.root, "status", "--porcelain", "--untracked-files=no")
    rec = {"figure": job.figure, "profile": job.profile, "parameters": job.parameters,
           "notebook": _rel(job.notebook, job.root), "git_sha": git_output(job.root, "rev-parse", "HEAD"),
           "git_dirty": None if dirty is None else bool(dirty), "versions": library_versions(),
           "device": _device_name(job.parameters.get("device")),
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
        pm.execute_notebook(str(job.notebook), str(partial), parameters=job.parameters,
                            kernel_name=KERNEL_NAME, cwd=str(job.directory), progress_bar=progress,
                            log_output=False, kernel_manager_class=env_kernel_manager(env))
    except PapermillExecutionError as err:
        cell = _failed_cell(err, partial)
        line = ((err.evalue or "").strip().splitlines() or [""])[0]
        error = f"cell {cell} (In [{err.exec_count}]) raised {err.ename}: {line}".rstrip()
    except Exception as err:  # kernel died, timeout, I/O: not the notebook's code
        crash, error = err, f"{type(err).__name__}: {err}".strip()
    if error is None and not card.exists():
        error = f"the notebook finished but wrote no {card.name} (Scorecard.save() missing?)"
    rec.update(end=now_utc(), wall_seconds=round(time.perf_counter() - t0, 3), error=error, failed_cell=cell,
               status=SUCCESS if error is None else "failed")
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
               notebooks_dir=None, threads: int = DEFAULT_THREADS, dry_run: bool = False) -> RunResult:
    """Execute one figure into ``<out_dir>/<figure>/`` unless a successful run with the same cache key is
    there (status "cached"); ``force`` reruns. The kernel runs ``threads`` intra-op threads (recorded in the
    provenance). ``dry_run``: the profile's code paths with the figure's caps (``figures.resolve_parameters``)
    into ``<out_dir>/_dry_run/<figure>/``. Bad input raises :class:`ParameterError` before any kernel
    starts; a failing cell returns status "failed" with ``error`` naming the cell."""
    out = figure_dir(out_dir, figure, dry_run=dry_run)
    job = prepare(figure, profile, overrides, device, out, notebooks_dir, threads, dry_run)
    return run_locked(job, force=force, progress=progress)
