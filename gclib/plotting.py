"""One figure style and a deterministic ``savefig`` for every notebook.

Figures are written as PNG (what the book shows) and SVG (vector, stable bytes: fixed ``svg.hashsalt``,
no date metadata), so the same figure saved twice gives identical files.
"""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib as mpl

__all__ = ["set_style", "savefig", "output_dir", "PALETTE"]

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


def output_dir(out_dir: str | os.PathLike | None = None) -> Path:
    """The directory figures and scorecards are written to, created if missing.

    Order: the ``out_dir`` argument; the ``GCLIB_OUTPUT_DIR`` environment variable (set by ``gclib run``);
    ``./figures`` relative to the current directory (for notebooks run by hand or by nbval).
    """
    path = Path(out_dir if out_dir is not None else os.environ.get("GCLIB_OUTPUT_DIR", "figures"))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OSError(f"cannot create output directory {str(path)!r}: {err.strerror}") from err
    return path


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
            fig.savefig(path, format=fmt, metadata=meta[fmt], bbox_inches="tight")
            if not path.exists() or path.stat().st_size == 0:
                raise OSError(f"savefig wrote nothing to {path}")
            written[fmt] = path
    return written
