"""The catalogue: what can run. One figure = one notebook ``<notebooks>/<id>.ipynb`` whose ``parameters``
cell holds literals (the smoke profile: its defaults) plus one entry in ``<notebooks>/profiles.yaml`` (paper,
family, claim, time estimates, the ``cpu`` / ``paper`` overrides, the ``dry_run`` caps, the ``ranges`` of
every parameter and whether the paper profile fits the reference CPU). Read, never executed. [ours]
"""
from __future__ import annotations

import ast
import copy
import functools
import io
import os
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from gclib.companion.errors import ParameterError
from gclib.companion.locations import notebook_directory

__all__ = ["PROFILES", "DRY_RUN_PROFILE", "Figure", "Parameter", "read_profiles", "figure_entries",
           "list_figures", "get_figure", "notebook_parameters", "figure_params", "fits_cpu"]

PROFILES = ("smoke", "cpu", "paper")
#: the ``profile`` parameter of a dry run: its scorecard and summary say it is no result
DRY_RUN_PROFILE = "dry-run"


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
    ranges: dict = field(default_factory=dict)  # name → range spec (figures.ranges)
    fuzz: dict = field(default_factory=dict)  # name → a narrower range the fuzz tests draw from (cost)


def _stamp(path: Path) -> tuple[str, int, int] | None:
    """What identifies a file's content for the caches below: its path, mtime and size (None: no file)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return str(path.resolve()), st.st_mtime_ns, st.st_size


@functools.lru_cache(maxsize=32)
def _parsed_yaml(stamp: tuple[str, int, int]):
    import yaml

    # libyaml's parser where PyYAML has it (≈ 10× faster than the pure-Python one, same resolver): every
    # run parses this file several times, in the runner and again in the kernel's check cell
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(Path(stamp[0]).read_text(encoding="utf-8"), Loader=loader)


def read_profiles(path: str | os.PathLike) -> dict:
    """A profiles file (``profiles.yaml``) as ``{figure id: entry}``; ``{}`` when it does not exist. Parsed
    once per content (path, mtime, size); each call gets its own copy."""
    path = Path(path)
    stamp = _stamp(path)
    data = (copy.deepcopy(_parsed_yaml(stamp)) if stamp is not None else None) or {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ParameterError(f"{path}: expected one mapping per figure id")
    return data


def figure_entries(notebooks_dir: str | os.PathLike | None = None) -> dict[str, dict]:
    """``{figure id: profiles.yaml entry}`` for every figure: the entries of profiles.yaml in its order, then
    every ``*.ipynb`` of the notebooks directory without one (a notebook is a figure, with an empty entry)."""
    nb_dir = notebook_directory(notebooks_dir)
    entries = read_profiles(nb_dir / "profiles.yaml")
    for nb in sorted(nb_dir.glob("*.ipynb")):
        entries.setdefault(nb.stem, {})
    return entries


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
                              ranges=dict(e.get("ranges") or {}), fuzz=dict(e.get("fuzz") or {})))
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


def fits_cpu(notebooks_dir=None) -> list[str]:
    """Figures whose paper profile runs on the reference CPU within the budget (``paper_cpu: {fits: true}``
    in profiles.yaml), in the profiles file's order: the committed set of ``results/paper``."""
    entries = read_profiles(notebook_directory(notebooks_dir) / "profiles.yaml")
    return [fid for fid, e in entries.items() if (e.get("paper_cpu") or {}).get("fits") is True]
