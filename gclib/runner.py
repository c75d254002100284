"""Execute figure notebooks with papermill: profiles, parameter checks, cache keys, provenance, Dask sweeps.

One figure = one notebook ``<notebooks>/<id>.ipynb`` whose ``parameters`` cell holds literals (the smoke
profile) plus one entry in ``<notebooks>/profiles.yaml`` (paper, family, claim, time estimates and the
``cpu`` / ``paper`` overrides). :func:`run_figure` resolves the parameters (cell defaults → profile →
overrides → device), refuses bad input with :class:`ParameterError` before any kernel starts, and executes
the notebook with the working directory and ``GCLIB_OUTPUT_DIR`` set to ``<out>/<id>/``, so
``gclib.plotting.savefig`` and ``Scorecard.save`` write beside the executed notebook. ``<id>.provenance.json``
records what ran and a cache key = sha256(figure, profile, parameters, notebook cell sources, gclib sources);
a rerun whose key matches a successful provenance is skipped. :func:`sweep` runs a parameter grid as
independent papermill tasks on Dask distributed, cached per grid cell, so an interrupted sweep resumes. [ours]

Locations: repository root = ``GCLIB_ROOT`` or the parent of the package; notebooks = the ``notebooks_dir``
argument, ``GCLIB_NOTEBOOKS_DIR`` or ``<root>/notebooks``. Nothing in gclib imports this module.
"""
from __future__ import annotations

import ast
import hashlib
import io
import itertools
import json
import logging
import os
import platform
import re
import subprocess
import sys
import time
import tokenize
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import gclib

__all__ = ["PROFILES", "ParameterError", "RunError", "Figure", "Parameter", "RunResult", "list_figures",
           "get_figure", "notebook_parameters", "figure_params", "parse_literal", "parse_values",
           "resolve_parameters", "cache_key", "run_figure", "run_all", "sweep", "repo_root",
           "notebook_directory", "default_out_dir", "default_sweep_dir", "usable_cores", "DEFAULT_THREADS"]

PROFILES = ("smoke", "cpu", "paper")
#: intra-op threads of every kernel the runner starts, unless asked otherwise: the same figure then prints
#: the same numbers on a 2-core and a 16-core machine, and N kernels run side by side on N cores
DEFAULT_THREADS = 1
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
KERNEL_NAME = "python3"  # jupyter_client starts "python" kernels with sys.executable: this (venv) interpreter
SUCCESS = "success"
# Modules a notebook never imports: editing them does not invalidate cached figures.
_NOT_IN_KEY = frozenset({"runner.py", "cli.py", "__main__.py", "bookgen.py"})
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


#: matplotlib backend of every kernel the runner starts: figures are embedded in the executed notebook.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


class ParameterError(ValueError):
    """Bad input (figure, profile, parameter, device, output directory), raised before any notebook starts."""


class RunError(RuntimeError):
    """A notebook could not be executed for a reason other than a failing cell (kernel died, I/O error)."""


@dataclass(frozen=True)
class Parameter:
    name: str
    default: object
    type: type
    help: str = ""


@dataclass(frozen=True)
class Figure:
    id: str
    notebook: Path
    paper: str = ""
    family: str = ""
    title: str = ""
    claim: str = ""
    est_seconds: dict = field(default_factory=dict)
    profiles: dict = field(default_factory=dict)


@dataclass
class RunResult:
    """One execution. ``status``: "ran", "cached" or "failed"; ``wall_seconds`` of the execution that made
    the files (the recorded one when "cached"); ``failed_cell``: 0-based index in the source notebook."""

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
class _Job:  # everything one execution needs; picklable for Dask
    figure: str
    notebook: Path
    profile: str
    parameters: dict
    directory: Path
    cache_key: str
    root: Path
    threads: int = 1
    est_seconds: float = 0.0


# ---------------------------------------------------------------- locations, figures, parameters
def repo_root() -> Path:
    return Path(os.environ.get("GCLIB_ROOT") or Path(gclib.__file__).resolve().parent.parent).resolve()


def notebook_directory(path: str | os.PathLike | None = None) -> Path:
    """The ``path`` argument, else ``GCLIB_NOTEBOOKS_DIR``, else ``<root>/notebooks``."""
    return Path(path or os.environ.get("GCLIB_NOTEBOOKS_DIR") or repo_root() / "notebooks").resolve()


def default_out_dir() -> Path:
    return repo_root() / "book" / "_generated" / "figures"


def default_sweep_dir() -> Path:
    """Sweeps go to ``<this>/sweeps/<figure>/``, outside the book's figures directory."""
    return repo_root() / "book" / "_generated"


def _load_profiles(nb_dir: Path) -> dict:
    import yaml

    path = nb_dir / "profiles.yaml"
    data = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ParameterError(f"{path}: expected one mapping per figure id")
    return data


def list_figures(notebooks_dir: str | os.PathLike | None = None) -> list[Figure]:
    """Every ``*.ipynb`` in the notebooks directory (sorted by id) with its ``profiles.yaml`` entry."""
    nb_dir = notebook_directory(notebooks_dir)
    entries = _load_profiles(nb_dir)
    figures = []
    for nb in sorted(nb_dir.glob("*.ipynb")):
        e = entries.get(nb.stem, {})
        text = {k: str(e.get(k, "")) for k in ("paper", "family", "title", "claim")}
        figures.append(Figure(nb.stem, nb, **text, est_seconds=dict(e.get("est_seconds") or {}),
                              profiles=dict(e.get("profiles") or {})))
    return figures


def get_figure(figure: str, notebooks_dir=None) -> Figure:
    figures = list_figures(notebooks_dir)
    for f in figures:
        if f.id == figure:
            return f
    valid = ", ".join(f.id for f in figures) or "(none found)"
    raise ParameterError(f"unknown figure {figure!r}; valid: {valid}")


def notebook_parameters(figure: str, notebooks_dir=None) -> dict[str, Parameter]:
    """The ``parameters`` cell of a figure notebook: ``name = literal  # help`` lines, in order."""
    import nbformat

    path = get_figure(figure, notebooks_dir).notebook
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ParameterError(f"{path.name}: expected one cell tagged 'parameters', found {len(cells)}")
    src = cells[0].source
    comments = {t.start[0]: t.string.lstrip("#").strip()
                for t in tokenize.generate_tokens(io.StringIO(src).readline) if t.type == tokenize.COMMENT}
    params = {}
    for node in ast.parse(src).body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else \
            getattr(node, "target", None) if isinstance(node, ast.AnnAssign) and node.value else None
        if not isinstance(target, ast.Name):
            raise ParameterError(f"{path.name}: parameters cell line {node.lineno}: only `name = literal`")
        try:
            default = ast.literal_eval(node.value)
        except ValueError:
            raise ParameterError(f"{path.name}: parameter {target.id!r} is not a literal "
                                 f"(line {node.lineno})") from None
        params[target.id] = Parameter(target.id, default, type(default), comments.get(node.end_lineno, ""))
    return params


def figure_params(figure: str, *, notebooks_dir=None) -> dict[str, tuple[object, type]]:
    """``{name: (default, type)}`` read from the notebook's ``parameters`` cell."""
    return {p.name: (p.default, p.type) for p in notebook_parameters(figure, notebooks_dir).values()}


def parse_literal(text: str):
    """A command-line value as a Python literal (int, float, bool incl. true/false, None, list, tuple, dict,
    quoted str) via ``ast.literal_eval``, never ``eval``; anything else stays the string itself."""
    stripped = text.strip()
    if stripped in ("true", "false"):
        return stripped == "true"
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def parse_values(text: str) -> list:
    """``"v1,v2,..."`` split on top-level commas (brackets and quotes respected), each parsed by
    :func:`parse_literal`: ``"1,2"`` → [1, 2]; ``"[1,2],[3]"`` → [[1, 2], [3]]; ``"relu,tanh"``."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    if any(not p.strip() for p in parts):
        raise ParameterError(f"empty value in list {text!r}")
    return [parse_literal(p) for p in parts]


def _coerce(figure: str, name: str, value, param: Parameter, source: str):
    """Type-check ``value`` against the parameter's default: int accepted for float, list ↔ tuple, a None
    default accepts anything; a string is parsed as a literal first when the default is not a string
    (so YAML's ``1e-3``, read as a string, works)."""
    default = param.default
    if default is None:
        return value
    if isinstance(value, str) and not isinstance(default, str):
        value = parse_literal(value)
    expected = type(default)
    if expected is bool:
        ok = isinstance(value, bool)
    elif expected is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif expected is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif expected in (list, tuple):
        ok = isinstance(value, (list, tuple))
        value = expected(value) if ok else value
    else:
        ok = isinstance(value, expected)
    if not ok:
        raise ParameterError(f"{source}: parameter {name!r} of {figure} expects {expected.__name__} "
                             f"(default {default!r}), got {type(value).__name__} {value!r}")
    return value


def _check_device(value) -> None:
    if not isinstance(value, str) or not _DEVICE_RE.match(value):
        raise ParameterError(f"device must be auto, cpu or cuda[:N], got {value!r}")
    if value.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ParameterError(f"device {value!r} requested but torch.cuda.is_available() is False")


def resolve_parameters(figure: str, profile: str = "smoke", overrides: dict | None = None,
                       device: str | None = None, *, notebooks_dir=None) -> dict:
    """Notebook defaults, then the profile's overrides from profiles.yaml, then ``overrides``, then
    ``device``; every name and type checked; ``profile`` set to the profile's name. Raises
    :class:`ParameterError`."""
    fig = get_figure(figure, notebooks_dir)
    if profile not in PROFILES:
        raise ParameterError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    if profile != "smoke" and profile not in fig.profiles:
        raise ParameterError(f"profiles.yaml has no {profile!r} profile for {figure}")
    spec = notebook_parameters(figure, notebooks_dir)
    params = {name: p.default for name, p in spec.items()}
    if "profile" in spec:
        params["profile"] = profile
    layers = [(f"profiles.yaml[{figure}][{profile}]", fig.profiles.get(profile) or {}),
              ("parameter override", dict(overrides or {}))]
    if device is not None:
        if "device" not in spec:
            raise ParameterError(f"{figure} has no 'device' parameter")
        layers.append(("--device", {"device": device}))
    for source, values in layers:
        for name, value in values.items():
            if name not in spec:
                raise ParameterError(f"{source}: unknown parameter {name!r} for {figure}; valid: "
                                     f"{', '.join(spec)}")
            params[name] = _coerce(figure, name, value, spec[name], source)
    if "device" in params:
        _check_device(params["device"])
    return params


# ---------------------------------------------------------------- cache keys and provenance
def _notebook_hash(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    src = [(c["cell_type"], "".join(c["source"]) if isinstance(c["source"], list) else c["source"])
           for c in cells]
    return hashlib.sha256(json.dumps(src).encode()).hexdigest()


def _source_hash() -> str:
    pkg = Path(gclib.__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(pkg.rglob("*.py")):
        if not (path.name in _NOT_IN_KEY and path.parent == pkg):
            h.update(path.relative_to(pkg).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def cache_key(figure: str, params: dict, *, profile: str | None = None, notebooks_dir=None,
              threads: int = DEFAULT_THREADS) -> str:
    """sha256 of (figure, profile, resolved parameters, kernel threads, notebook cell sources, gclib
    sources): the thread count changes the order of floating-point reductions, so it is part of a result."""
    payload = {"figure": figure, "profile": profile if profile is not None else params.get("profile"),
               "parameters": params, "notebook": _notebook_hash(get_figure(figure, notebooks_dir).notebook),
               "gclib": _source_hash(), "threads": threads}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=repr).encode()).hexdigest()


def _git(root: Path, *args) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _versions() -> dict:
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


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=repr) + "\n")


# ---------------------------------------------------------------- execution
def _check_writable(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".gclib-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise ParameterError(f"cannot write to output directory {str(directory)!r}: "
                             f"{err.strerror or err}") from None


def _check_threads(threads) -> int:
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise ParameterError(f"threads must be an integer >= 1, got {threads!r}")
    return threads


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. under ``taskset``), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _prepare(figure, profile, overrides, device, directory, notebooks_dir,
             threads: int = DEFAULT_THREADS) -> _Job:
    params = resolve_parameters(figure, profile, overrides, device, notebooks_dir=notebooks_dir)
    _check_threads(threads)
    key = cache_key(figure, params, profile=profile, notebooks_dir=notebooks_dir, threads=threads)
    _check_writable(directory)
    fig = get_figure(figure, notebooks_dir)
    est = fig.est_seconds.get(profile)
    return _Job(figure, fig.notebook, profile, params, directory.resolve(), key, repo_root(), threads,
                float(est) if isinstance(est, (int, float)) else 0.0)


def _paths(job: _Job):
    d, f = job.directory, job.figure
    return d / f"{f}.ipynb", d / f"{f}.provenance.json", d / f"{f}.scorecard.json"


def _cached(job: _Job) -> RunResult | None:
    nb, prov, card = _paths(job)
    rec = _read_json(prov) or {}
    if rec.get("status") != SUCCESS or rec.get("cache_key") != job.cache_key or not nb.exists():
        return None
    return RunResult(job.figure, "cached", job.profile, job.parameters, job.directory, nb, prov,
                     card if card.exists() else None, rec.get("wall_seconds"), job.cache_key)


def _env_kernel_manager(env: dict):
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

    return _EnvKernelManager


class _ParserNoise(logging.Filter):
    """papermill re-parses the parameters cell with a line-based parser that trips on ``=`` inside comments
    and then warns about "unknown" parameters; :func:`notebook_parameters` has already checked them."""

    def filter(self, record):
        return not record.getMessage().startswith(("Unable to parse line", "Passed unknown parameter"))


def _quiet_papermill_parser() -> None:
    for name in ("papermill", "papermill.translators"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _ParserNoise) for f in logger.filters):
            logger.addFilter(_ParserNoise())


def _strip_timestamps(path: Path, job: _Job) -> None:
    """Drop papermill's and nbclient's timestamps and absolute paths from the executed notebook."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    meta = nb.metadata.get("papermill", {})
    for key in ("start_time", "end_time", "duration"):
        meta.pop(key, None)
    meta.update(input_path=_rel(job.notebook, job.root), output_path=path.name)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        for key in ("start_time", "end_time", "duration"):
            cell.metadata.get("papermill", {}).pop(key, None)
    nbformat.write(nb, path)


def _failed_cell(err, nb_out: Path) -> int:
    """papermill's cell index counts its injected-parameters cell; return the index in the source notebook.
    (In the saved notebook papermill also put an error banner at the top, shifting everything by one.)"""
    cells = (_read_json(nb_out) or {}).get("cells", [])
    injected = next((i - 1 for i, c in enumerate(cells)
                     if "injected-parameters" in c.get("metadata", {}).get("tags", [])), -1)
    return err.cell_index - (1 if 0 <= injected < err.cell_index else 0)


def _execute(job: _Job, progress: bool = False) -> RunResult:
    """Run the notebook into ``job.directory``; a failing cell gives status "failed" (the partial notebook
    stays), any other error is recorded in the provenance and raised as :class:`RunError`."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    _quiet_papermill_parser()
    nb_out, prov, card = _paths(job)
    job.directory.mkdir(parents=True, exist_ok=True)
    if prov.exists():  # a previous run of ours: clear its files so nothing stale survives a failure
        for old in job.directory.iterdir():
            if old.is_file():
                old.unlink()
    dirty = _git(job.root, "status", "--porcelain", "--untracked-files=no")
    rec = {"figure": job.figure, "profile": job.profile, "parameters": job.parameters,
           "notebook": _rel(job.notebook, job.root), "git_sha": _git(job.root, "rev-parse", "HEAD"),
           "git_dirty": None if dirty is None else bool(dirty), "versions": _versions(),
           "device": _device_name(job.parameters.get("device")),
           "seed": job.parameters.get("seed", job.parameters.get("seeds")), "threads": job.threads,
           "start": _now(), "end": None,
           "wall_seconds": None, "cache_key": job.cache_key, "status": "running", "error": None,
           "failed_cell": None}
    _write_json(prov, rec)
    # the kernel imports the gclib whose sources are in the cache key, even from an uninstalled checkout
    path = os.pathsep.join(p for p in (str(Path(gclib.__file__).resolve().parent.parent),
                                        os.environ.get("PYTHONPATH")) if p)
    # figures must appear inline in the executed notebook (the book shows it), whatever the caller's backend
    env = {"GCLIB_OUTPUT_DIR": str(job.directory), "MPLBACKEND": INLINE_BACKEND, "PYTHONPATH": path,
           **{var: str(job.threads) for var in _THREAD_VARS}}  # torch reads OMP_NUM_THREADS at import
    t0 = time.perf_counter()
    error = cell = crash = None
    try:
        pm.execute_notebook(str(job.notebook), str(nb_out), parameters=job.parameters,
                            kernel_name=KERNEL_NAME, cwd=str(job.directory), progress_bar=progress,
                            log_output=False, kernel_manager_class=_env_kernel_manager(env))
    except PapermillExecutionError as err:
        cell = _failed_cell(err, nb_out)
        line = ((err.evalue or "").strip().splitlines() or [""])[0]
        error = f"cell {cell} (In [{err.exec_count}]) raised {err.ename}: {line}".rstrip()
    except Exception as err:  # kernel died, timeout, I/O: not the notebook's code
        crash, error = err, f"{type(err).__name__}: {err}".strip()
    if error is None and not card.exists():
        error = f"the notebook finished but wrote no {card.name} (Scorecard.save() missing?)"
    rec.update(end=_now(), wall_seconds=round(time.perf_counter() - t0, 3), error=error, failed_cell=cell,
               status=SUCCESS if error is None else "failed")
    if nb_out.exists():
        _strip_timestamps(nb_out, job)
    _write_json(prov, rec)
    if crash is not None:
        raise RunError(f"{job.figure}: {error}") from crash
    return RunResult(job.figure, "ran" if error is None else "failed", job.profile, job.parameters,
                     job.directory, nb_out, prov, card if card.exists() else None, rec["wall_seconds"],
                     job.cache_key, error, cell)


def run_figure(figure: str, *, profile: str = "smoke", overrides: dict | None = None,
               device: str | None = None, out_dir=None, force: bool = False, progress: bool = False,
               notebooks_dir=None, threads: int = DEFAULT_THREADS) -> RunResult:
    """Execute one figure into ``<out_dir>/<figure>/`` unless a successful run with the same cache key is
    there (status "cached"); ``force`` reruns. The kernel runs ``threads`` intra-op threads (recorded in the
    provenance). Bad input raises :class:`ParameterError` before any kernel starts; a failing cell returns
    status "failed" with ``error`` naming the cell."""
    out = Path(out_dir or default_out_dir()) / figure
    job = _prepare(figure, profile, overrides, device, out, notebooks_dir, threads)
    return (None if force else _cached(job)) or _execute(job, progress)


def _crashed(job: _Job, err: BaseException) -> RunResult:
    nb, prov, _ = _paths(job)
    error = str(err) if isinstance(err, RunError) else f"{type(err).__name__}: {err}"
    return RunResult(job.figure, "failed", job.profile, job.parameters, job.directory, nb, prov, None, None,
                     job.cache_key, error)


def _figure_task(job: _Job) -> RunResult:
    """One figure in a Dask worker: a crash (kernel died) becomes a failed result, so it stops nothing."""
    try:
        return _execute(job)
    except RunError as err:
        return _crashed(job, err)


def run_all(profile: str = "smoke", *, overrides: dict | None = None, device: str | None = None,
            out_dir=None, force: bool = False, figures: list[str] | None = None, notebooks_dir=None,
            progress: bool = True, jobs: int | None = None, threads: int = DEFAULT_THREADS,
            scheduler: str | None = None) -> list[RunResult]:
    """Run every figure (or ``figures``), skipping cached ones, ``jobs`` at a time (default: the usable
    cores), each kernel with ``threads`` intra-op threads, longest expected first (``est_seconds`` of the
    profile), with one progress bar for the whole set. All inputs are checked before the first notebook
    starts; a failing figure does not stop the others. ``jobs > 1`` (or a ``scheduler`` address) runs the
    figures as tasks on Dask distributed (a ``LocalCluster`` of ``jobs`` single-threaded worker processes);
    results come back in the order of ``figures``."""
    from tqdm.auto import tqdm

    out = Path(out_dir or default_out_dir())
    ids = figures if figures is not None else [f.id for f in list_figures(notebooks_dir)]
    jobs = usable_cores() if jobs is None else jobs
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ParameterError(f"jobs must be an integer >= 1, got {jobs!r}")
    prepared = [_prepare(f, profile, overrides, device, out / f, notebooks_dir, threads) for f in ids]
    results: list = [None] * len(prepared)
    pending = []
    for i, job in enumerate(prepared):
        hit = None if force else _cached(job)
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

            _on_dask(_figure_task, {i: prepared[i] for i in pending}, done, scheduler, jobs)
        for i in pending:
            if results[i] is None:
                bar.set_postfix_str(prepared[i].figure)
                try:
                    results[i] = _execute(prepared[i])
                except RunError as err:
                    results[i] = _crashed(prepared[i], err)
                bar.update(1)
    finally:
        bar.close()
    return results


# ---------------------------------------------------------------- sweeps
def _cell_key(cell: dict) -> str:
    readable = "__".join(f"{k}={v!r}" for k, v in cell.items())
    slug = re.sub(r"[^A-Za-z0-9._=-]+", "-", readable).strip("-")[:80]
    return f"{slug}__{hashlib.sha256(repr(sorted(cell.items())).encode()).hexdigest()[:8]}"


def _sweep_task(job: _Job) -> RunResult:
    return _execute(job)  # module-level so Dask can pickle it; a RunError propagates and is retried


def _row(cell: dict, job: _Job, result: RunResult | None, status: str, error: str | None = None) -> dict:
    row = {k: v if v is None or isinstance(v, (int, float, str, bool)) else repr(v) for k, v in cell.items()}
    card = _read_json(_paths(job)[2]) if status in ("ran", "cached") else None
    for claim in (card or {}).get("claims", []):
        row[f"{claim['claim_id']}.statistic"] = claim.get("statistic")
        row[f"{claim['claim_id']}.verdict"] = claim.get("verdict")
    row.update(status=status, wall_seconds=result.wall_seconds if result else None,
               error=error if error is not None else (result.error if result else None),
               cell=job.directory.name, provenance=str(_paths(job)[1]))
    return row


def sweep(figure: str, grid: dict, *, profile: str = "smoke", overrides: dict | None = None,
          device: str | None = None, scheduler: str | None = None, n_workers: int = 2, out_dir=None,
          force: bool = False, notebooks_dir=None, progress: bool = True, threads: int = DEFAULT_THREADS):
    """Run the cartesian product of ``grid`` ({name: [values]}) as independent papermill tasks on Dask
    (a ``LocalCluster(n_workers, threads_per_worker=1, processes=True)``, or ``Client(scheduler)``) into
    ``<out_dir>/sweeps/<figure>/<cell>/``, each kernel with ``threads`` intra-op threads (the rule of
    :func:`run_all`), with ``retries=2`` for crashed tasks; cells with a successful run of the same cache
    key are not recomputed (no cluster starts when all are). Returns a DataFrame, one row per cell in grid
    order (grid values, each claim's statistic and verdict, status, wall seconds, error, cell, provenance
    path), also written to ``results.csv`` (and ``results.parquet`` with pyarrow)."""
    import pandas as pd
    from tqdm.auto import tqdm

    fixed = dict(overrides or {})
    if not isinstance(grid, dict) or not grid or \
            not all(isinstance(v, (list, tuple)) and len(v) for v in grid.values()):
        raise ParameterError("grid must map each parameter name to a non-empty list of values")
    if set(grid) & set(fixed):
        raise ParameterError(f"parameters both swept and fixed: {', '.join(sorted(set(grid) & set(fixed)))}")
    if not isinstance(n_workers, int) or isinstance(n_workers, bool) or n_workers < 1:
        raise ParameterError(f"n_workers must be an integer >= 1, got {n_workers!r}")
    _check_threads(threads)
    base = Path(out_dir or default_sweep_dir()) / "sweeps" / figure
    notebook = get_figure(figure, notebooks_dir).notebook
    cells, jobs = [], []
    for combo in itertools.product(*grid.values()):
        params = resolve_parameters(figure, profile, {**fixed, **dict(zip(grid, combo))}, device,
                                    notebooks_dir=notebooks_dir)
        cells.append({k: params[k] for k in grid})
        key = cache_key(figure, params, profile=profile, notebooks_dir=notebooks_dir, threads=threads)
        jobs.append(_Job(figure, notebook, profile, params, (base / _cell_key(cells[-1])).resolve(), key,
                         repo_root(), threads))
    _check_writable(base)
    rows: list = [None] * len(jobs)
    pending = {}
    for i, job in enumerate(jobs):
        hit = None if force else _cached(job)
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

            _on_dask(_sweep_task, pending, done, scheduler, n_workers, retries=2)
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


def _on_dask(task, jobs: dict, done, scheduler: str | None, n_workers: int, *, retries: int = 0) -> None:
    """Run ``task(job)`` for every ``{i: job}`` on Dask distributed — ``Client(scheduler)``, or a
    ``LocalCluster(n_workers, threads_per_worker=1, processes=True)`` — with priority to the longest
    expected (``job.est_seconds``), calling ``done(i, result)`` as each finishes (``result`` is the
    exception when the task failed after ``retries``)."""
    from dask.distributed import Client, LocalCluster, as_completed

    # LocalCluster's nannies write their worker environment (OMP_NUM_THREADS=1, MKL_…, OPENBLAS_…,
    # PYTHONHASHSEED, …) into this process's os.environ; restored below, or every notebook this process
    # runs afterwards would be single-threaded, slower and numerically different from a fresh process.
    environ = dict(os.environ)
    cluster = client = None
    try:
        if not scheduler:
            cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
        client = Client(scheduler or cluster)
        futures = {client.submit(task, job, retries=retries, pure=False, priority=int(job.est_seconds),
                                 key=f"gclib-{job.figure}-{job.directory.name}-{time.time_ns()}"): i
                   for i, job in jobs.items()}
        for fut in as_completed(futures):
            done(futures[fut], fut.exception() if fut.status == "error" else fut.result())
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
        os.environ.clear()
        os.environ.update(environ)
