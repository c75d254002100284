"""Where a figure is drawn: one figure style, its colours, and a deterministic ``savefig`` for every
notebook (inside the figure's kernel).

Figures are written as PNG (what the book shows) and SVG (vector, stable bytes: fixed ``svg.hashsalt``,
no date metadata), so the same figure saved twice gives identical files.
"""
from __future__ import annotations

import os

import matplotlib as mpl

from gclib.companion.outputs import output_dir

__all__ = ["set_style", "savefig", "PALETTE", "level_colors", "level_label", "mean_range", "errorbar_mean"]

#: Colour-blind-safe palette (seaborn "colorblind"), used in a fixed order by every figure.
PALETTE = ["#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc", "#ca9161", "#fbafe4", "#949494",
           "#ece133", "#56b4e9"]

_STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 120,
    "figure.figsize": (6.4, 4.0),
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "svg.hashsalt": "gclib",
    "svg.fonttype": "path",
    "pdf.fonttype": 42,
    "path.simplify": True,
}


def set_style() -> None:
    """Apply the companion's matplotlib style (fixed SVG hash salt, fonts as paths, colour cycle)."""
    mpl.rcParams.update(_STYLE)
    mpl.rcParams["axes.prop_cycle"] = mpl.cycler(color=PALETTE)


def savefig(fig, name: str, *, out_dir: str | os.PathLike | None = None, formats=("png", "svg")) -> dict:
    """Save ``fig`` as ``<out>/<name>.png`` and ``.svg`` with deterministic metadata.

    Args:
        fig: a ``matplotlib.figure.Figure``.
        name: file stem, letters, digits, ``-`` and ``_`` only.
        out_dir: see :func:`output_dir`.
        formats: subset of ``("png", "svg", "pdf")``.
    Returns:
        ``{format: Path}`` of the files written (each checked to exist and be non-empty).
    """
    from matplotlib.figure import Figure

    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__}")
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_" for c in name):
        raise ValueError(f"name must be a non-empty file stem of letters, digits, '-' or '_', got {name!r}")
    bad = set(formats) - {"png", "svg", "pdf"}
    if bad or not formats:
        raise ValueError(f"formats must be a non-empty subset of png, svg, pdf; got {formats!r}")
    out = output_dir(out_dir)
    meta = {
        "png": {"Software": "gclib"},
        "svg": {"Date": None, "Creator": "gclib"},
        "pdf": {"CreationDate": None, "ModDate": None, "Creator": "gclib", "Producer": "gclib"},
    }
    written = {}
    with mpl.rc_context({"svg.hashsalt": "gclib", "svg.fonttype": "path"}):
        for fmt in formats:
            path = out / f"{name}.{fmt}"
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # written whole, then moved in place
            fig.savefig(tmp, format=fmt, metadata=meta[fmt], bbox_inches="tight")
            if not tmp.exists() or tmp.stat().st_size == 0:
                raise OSError(f"savefig wrote nothing to {path}")
            os.replace(tmp, path)
            written[fmt] = path
    return written


def level_label(v) -> str:
    """A hyperparameter level as figures label it: numbers with ``:g``, anything else as text."""
    return f"{v:g}" if isinstance(v, (int, float)) else str(v)


def level_colors(levels) -> dict:
    """One viridis colour per hyperparameter level (sorted), shared by the sweep figures."""
    import matplotlib.pyplot as plt

    levels = sorted(set(levels))
    cmap = plt.get_cmap("viridis")
    return {v: cmap(0.9 * i / max(len(levels) - 1, 1)) for i, v in enumerate(levels)}


def mean_range(table, by, value: str):
    """Per group of ``by`` (a column name or list of them), the mean of ``value`` with the min and max over
    the group's rows (NaN values left out): a DataFrame ``by…, mean, lo, hi, n``, with lo ≤ mean ≤ hi
    guaranteed — the mean of equal values can lie one ulp above their max, which a plotting library then
    turns into a negative error bar and an error (seaborn's ``errorbar=("pi", 100)`` did: a valid run
    crashed its figure). Groups with no finite value are left out."""
    keys = [by] if isinstance(by, str) else list(by)
    ok = table.dropna(subset=[value])
    agg = ok.groupby(keys, sort=True)[value].agg(["mean", "min", "max", "size"]).reset_index()
    agg["lo"] = agg[["mean", "min"]].min(axis=1)
    agg["hi"] = agg[["mean", "max"]].max(axis=1)
    return agg.rename(columns={"size": "n"}).drop(columns=["min", "max"])


def errorbar_mean(ax, x, stats, **kw):
    """Draw means with min–max bars (a :func:`mean_range` table ``stats``) at positions ``x``."""
    import numpy as np

    mean = stats["mean"].to_numpy(float)
    err = np.vstack([mean - stats["lo"].to_numpy(float), stats["hi"].to_numpy(float) - mean])
    return ax.errorbar(x, mean, yerr=err, **kw)

