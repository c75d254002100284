"""Calibration records of protocol v2: runs on a calibration seed that fixed a grid before the verdict runs.

The protocol (``shared/papers/geometric_complexity.md``, "Protocol v2") lets a choice it leaves open — an
exact learning-rate or strength grid, a step cap, a scaling — be made from runs on a *calibration seed* that
the verdicts do not use. Each figure's record is ``<figure>.csv`` in this folder: the per-run table the
figure notebook itself wrote when run with ``seeds=[<calibration seed>]``, headed by ``#`` lines that say
how it was made. ``tools/calibrate_v2.py`` rewrites them; the notebooks only read and show them.
"""
from __future__ import annotations

from importlib import resources

__all__ = ["FIGURES", "load", "notes", "describe"]

#: figures with a calibration record
FIGURES = ("gc_flatness", "gc_learning_rate", "gc_batch_size", "gc_dirichlet_1d")


def _path(figure: str):
    if figure not in FIGURES:
        raise ValueError(f"unknown figure {figure!r} for calibration; valid: {', '.join(FIGURES)}")
    path = resources.files(__name__) / f"{figure}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"no calibration record for {figure}: run tools/calibrate_v2.py {figure}")
    return path


def load(figure: str, *, missing_ok: bool = False):
    """The calibration runs of ``figure`` as a DataFrame (one row per run, as the notebook wrote it);
    ``None`` when there is no record yet and ``missing_ok``."""
    import pandas as pd

    try:
        path = _path(figure)
    except FileNotFoundError:
        if missing_ok:
            return None
        raise
    with path.open(encoding="utf-8") as fh:
        return pd.read_csv(fh, comment="#")


def notes(figure: str) -> str:
    """The ``#`` header of the record: seed, parameters, date and commit of the calibration run."""
    text = _path(figure).read_text(encoding="utf-8")
    return "\n".join(line[1:].strip() for line in text.splitlines() if line.startswith("#"))


def describe(figure: str, columns=None) -> str:
    """The record as text for a notebook to print: its header, then the table (``columns`` only, when
    given), 4 significant digits; a one-line notice when the record does not exist yet (the calibration
    run itself executes the notebook before the record is written)."""
    try:
        table = load(figure)
    except FileNotFoundError as err:
        return f"No calibration record yet: {err}"
    if columns is not None:
        table = table[[c for c in columns if c in table.columns]]
    return notes(figure) + "\n" + table.to_string(index=False, float_format="{:.4g}".format)
