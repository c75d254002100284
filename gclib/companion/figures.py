"""The figures: one notebook ``<notebooks>/<id>.ipynb`` whose ``parameters`` cell holds literals (the smoke
profile) plus one entry in ``<notebooks>/profiles.yaml`` (paper, family, claim, time estimates and the
``cpu`` / ``paper`` overrides); their parameters, and the resolution cell defaults → profile → overrides →
device, with every bad input (a name, a type, a value outside the figure's ``ranges:``) refused as a
:class:`ParameterError` before any kernel starts. [ours]

Locations: repository root = ``GCLIB_ROOT`` or the parent of the package; notebooks = the ``notebooks_dir``
argument, ``GCLIB_NOTEBOOKS_DIR`` or ``<root>/notebooks``.
"""
from __future__ import annotations

import ast
import io
import os
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

import gclib

__all__ = ["PROFILES", "DRY_RUN_PROFILE", "ParameterError", "Figure", "Parameter", "read_profiles",
           "list_figures", "get_figure", "notebook_parameters", "figure_params", "parse_literal",
           "parse_values", "resolve_parameters", "repo_root", "notebook_directory", "default_out_dir",
           "default_sweep_dir", "coerce_value", "check_device"]

PROFILES = ("smoke", "cpu", "paper")
#: the ``profile`` parameter of a dry run: its scorecard and summary say it is no result
DRY_RUN_PROFILE = "dry-run"
_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


class ParameterError(ValueError):
    """Bad input (figure, profile, parameter, device, output directory), raised before any notebook starts."""


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
    dry_run: dict = field(default_factory=dict)
    ranges: dict = field(default_factory=dict)  # name → range spec (gclib.companion.params)


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


def read_profiles(path: str | os.PathLike) -> dict:
    """A profiles file (``profiles.yaml``) as ``{figure id: entry}``; ``{}`` when it does not exist."""
    import yaml

    path = Path(path)
    data = (yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None) or {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ParameterError(f"{path}: expected one mapping per figure id")
    return data


def list_figures(notebooks_dir: str | os.PathLike | None = None) -> list[Figure]:
    """Every ``*.ipynb`` in the notebooks directory (sorted by id) with its ``profiles.yaml`` entry."""
    nb_dir = notebook_directory(notebooks_dir)
    entries = read_profiles(nb_dir / "profiles.yaml")
    figures = []
    for nb in sorted(nb_dir.glob("*.ipynb")):
        e = entries.get(nb.stem, {})
        text = {k: str(e.get(k, "")) for k in ("paper", "family", "title", "claim")}
        figures.append(Figure(nb.stem, nb, **text, est_seconds=dict(e.get("est_seconds") or {}),
                              profiles=dict(e.get("profiles") or {}), dry_run=dict(e.get("dry_run") or {}),
                              ranges=dict(e.get("ranges") or {})))
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


def coerce_value(figure: str, name: str, value, param: Parameter, source: str):
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


def check_device(value) -> None:
    if not isinstance(value, str) or not _DEVICE_RE.match(value):
        raise ParameterError(f"device must be auto, cpu or cuda[:N], got {value!r}")
    if value.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ParameterError(f"device {value!r} requested but torch.cuda.is_available() is False")
        index, count = int(value.partition(":")[2] or 0), torch.cuda.device_count()
        if index >= count:
            raise ParameterError(f"device {value!r} requested but only {count} CUDA device(s) are visible")


def resolve_parameters(figure: str, profile: str = "smoke", overrides: dict | None = None,
                       device: str | None = None, *, notebooks_dir=None, dry_run: bool = False,
                       check_ranges: bool = True) -> dict:
    """Notebook defaults, then the profile's overrides from profiles.yaml, then ``overrides``, then (with
    ``dry_run``) the figure's ``dry_run`` caps from profiles.yaml, then ``device``; every name and type
    checked, then every value against the figure's ``ranges:`` (``gclib.companion.params.check_ranges``);
    ``profile`` set to the profile's name (``DRY_RUN_PROFILE`` for a dry run, so the notebook's scorecard
    says so); ``check_ranges=False`` skips the ranges (to show values, as ``gclib params`` does). Raises
    :class:`ParameterError`.

    A dry run executes the notebook with the profile's models, data, optimizers and measurement code, with
    its loops, seeds, steps and sample counts capped: it proves the code paths (e.g. the paper profile's
    ResNet on the CIFAR stand-in) run, in seconds, and is never a result."""
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
    if dry_run:
        if not fig.dry_run:
            raise ParameterError(f"profiles.yaml has no dry_run caps for {figure}")
        layers.append((f"profiles.yaml[{figure}][dry_run]", fig.dry_run))
    if device is not None:
        if "device" not in spec:
            raise ParameterError(f"{figure} has no 'device' parameter")
        layers.append(("--device", {"device": device}))
    for source, values in layers:
        for name, value in values.items():
            if name not in spec:
                raise ParameterError(f"{source}: unknown parameter {name!r} for {figure}; valid: "
                                     f"{', '.join(spec)}")
            params[name] = coerce_value(figure, name, value, spec[name], source)
    if dry_run and "profile" in spec:
        params["profile"] = DRY_RUN_PROFILE
    if "device" in params:
        check_device(params["device"])
    if not check_ranges:
        return params
    from gclib.companion import params as checks  # it imports this module

    return checks.check_ranges(figure, params, ranges=fig.ranges)
