"""One figure style and a deterministic ``savefig`` for every notebook.

Figures are written as PNG (what the book shows) and SVG (vector, stable bytes: fixed ``svg.hashsalt``,
no date metadata), so the same figure saved twice gives identical files.
"""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib as mpl

__all__ = ["set_style", "savefig", "save_table", "load_table", "output_dir", "PALETTE", "plot_sweep",
           "plot_bound", "level_colors", "level_label"]

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
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # written whole, then moved in place
            fig.savefig(tmp, format=fmt, metadata=meta[fmt], bbox_inches="tight")
            if not tmp.exists() or tmp.stat().st_size == 0:
                raise OSError(f"savefig wrote nothing to {path}")
            os.replace(tmp, path)
            written[fmt] = path
    return written


def _table_path(name: str, out_dir) -> Path:
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_" for c in name):
        raise ValueError(f"name must be a non-empty file stem of letters, digits, '-' or '_', got {name!r}")
    return output_dir(out_dir) / f"{name}.csv"


def save_table(table, name: str, *, out_dir: str | os.PathLike | None = None):
    """Write a tidy results table (a pandas DataFrame) as ``<out>/<name>.csv`` (10 significant digits,
    no index), atomically (a temporary file, then ``os.replace``), beside the figure; returns the path.
    It is the figure's raw per-run table: a notebook's verdict cells read it back with :func:`load_table`,
    so a verdict can be recomputed from it alone (``gclib.companion.runner``: rejudging a result).
    ``tools/calibrate_v2.py`` reads these tables back as calibration records."""
    path = _table_path(name, out_dir)
    tmp = path.with_name(f".{path.name}.tmp")
    table.to_csv(tmp, index=False, float_format="%.10g")
    os.replace(tmp, path)
    return path


def load_table(name: str, *, out_dir: str | os.PathLike | None = None):
    """The table :func:`save_table` wrote as ``<out>/<name>.csv`` (a pandas DataFrame)."""
    import pandas as pd  # noqa: PLC0415

    path = _table_path(name, out_dir)
    if not path.exists():
        raise FileNotFoundError(f"no table {path.name} in {path.parent} (save_table writes it)")
    return pd.read_csv(path)


# ---------------------------------------------------------------- shared figure-notebook helpers [ours]

def _hp_positions(values) -> tuple[list, dict]:
    """Sorted distinct hyperparameter values and their evenly spaced x positions (0, 1, 2, ...): sweeps
    such as λ ∈ {0, 1e-4, 1e-3, 1e-2} include 0, which no log axis shows."""
    levels = sorted(set(values))
    return levels, {v: i for i, v in enumerate(levels)}


def level_label(v) -> str:
    """A hyperparameter level as figures label it: numbers with ``:g``, anything else as text."""
    return f"{v:g}" if isinstance(v, (int, float)) else str(v)


def plot_sweep(history, hp: str, *, x: str = "step", value: str = "gc", final=None,
               hp_label: str | None = None, value_label: str = "GC",
               final_label: str = "at the end of training", metrics=("test_acc", "train_acc"),
               log_value: bool = True, log_x: bool = False):
    """Three panels for a hyperparameter sweep of training runs (``gclib.experiments.runs.run_grid``
    output), used by the G2–G7 notebooks [ours]:

    (a) ``value`` (default GC) during training against ``x`` (any history column: "step", "epoch",
        "train_loss"), one thin line per run (colour = value of ``hp``, one line per seed); (b) ``value``
        at the end of training (or from ``final``) against ``hp``: each seed a dot, the mean a line;
        (c) the final ``metrics`` (default test and train accuracy) against ``hp``, mean over seeds with
        min–max bars.

    Hyperparameter values sit at evenly spaced positions labelled with their values (a sweep over
    {0, 1e-4, 1e-3, 1e-2} has no log axis).

    Args:
        history: tidy DataFrame with columns ``hp``, ``"seed"``, ``"step"``, ``x``, ``value``, ``metrics``.
        hp: the swept column.
        final: optional DataFrame with columns ``hp``, ``"seed"``, ``value`` for panel (b) (e.g.
            ``gclib.experiments.readings.value_at_train_loss``); default: each run's last logged row.
        final_label: what panel (b) shows, for its title.
        log_value: log scale for ``value`` in (a) and (b) where it spans more than a decade.
        log_x: log scale for ``x`` in (a).
    Returns:
        the ``matplotlib.figure.Figure`` (1 × 3 panels).
    """
    import matplotlib.pyplot as plt
    import numpy as np

    for col in (hp, "seed", "step", x, value, *metrics):
        if col not in history.columns:
            cols = ", ".join(map(str, history.columns))
            raise ValueError(f"history has no column {col!r}; columns: {cols}")
    hp_label = hp_label or hp
    levels, pos = _hp_positions(history[hp].tolist())
    last = history.sort_values("step", kind="stable").groupby([hp, "seed"], sort=True).tail(1)
    final = last if final is None else final
    colors = level_colors(levels)
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 3.8), layout="constrained")

    import seaborn as sns

    data = history.assign(_level=history[hp].map(level_label), _pos=history[hp].map(pos))
    palette = {level_label(v): colors[v] for v in levels}
    ax = axes[0]  # one line per run: seaborn's units, no aggregation
    sns.lineplot(data=data.sort_values("step", kind="stable"), x=x, y=value, hue="_level", units="seed",
                 estimator=None, palette=palette, hue_order=list(palette), lw=1.2, alpha=0.85, ax=ax,
                 sort=False)
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles, [f"{hp_label} = {lab}" for lab in labels], fontsize=8)
    ax.set(xlabel=x.replace("_", " "), ylabel=value_label, title=f"(a) {value_label} during training")
    if log_x:
        ax.set_xscale("log")

    ax = axes[1]  # every seed a dot, the mean a line, at evenly spaced positions
    fin = final.assign(_pos=final[hp].map(pos), _level=final[hp].map(level_label))
    sns.scatterplot(data=fin, x="_pos", y=value, hue="_level", palette=palette, s=18, alpha=0.8, zorder=3,
                    legend=False, ax=ax)
    mean = fin.groupby("_pos", sort=True)[value].mean()
    ax.plot(mean.index, mean.to_numpy(), color="k", lw=1.5, marker="_", ms=14, label="mean")
    ax.set(xlabel=hp_label, ylabel=value_label, title=f"(b) {value_label} {final_label}")
    ax.legend(fontsize=8)

    ax = axes[2]  # final metrics: mean over seeds with min–max bars (seaborn's errorbar=("pi", 100))
    lastd = last.assign(_pos=last[hp].map(pos)).melt(id_vars=["_pos", "seed"], value_vars=list(metrics),
                                                     var_name="metric", value_name="value")
    lastd["metric"] = lastd["metric"].str.replace("_", " ")
    sns.lineplot(data=lastd, x="_pos", y="value", hue="metric", palette=PALETTE[:len(metrics)],
                 errorbar=("pi", 100), err_style="bars", marker="o", err_kws={"capsize": 3}, ax=ax)
    ax.set(xlabel=hp_label, ylabel="", title="(c) final " + " / ".join(m.replace("_", " ") for m in metrics))
    ax.legend(fontsize=8)

    for ax in axes[1:]:
        ax.set_xticks(range(len(levels)), [level_label(v) for v in levels])
        ax.set_xlim(-0.5, len(levels) - 0.5)
    if log_value:  # log only where the values span more than a decade (else the ticks are unreadable)
        for ax, vals in ((axes[0], history[value]), (axes[1], final[value])):
            vals = np.asarray(vals, dtype=float)
            vals = vals[np.isfinite(vals) & (vals > 0)]
            if vals.size and vals.max() > 10 * vals.min():
                ax.set_yscale("log")
    return fig


def level_colors(levels) -> dict:
    """One viridis colour per hyperparameter level (sorted), shared by the sweep figures."""
    import matplotlib.pyplot as plt

    levels = sorted(set(levels))
    cmap = plt.get_cmap("viridis")
    return {v: cmap(0.9 * i / max(len(levels) - 1, 1)) for i, v in enumerate(levels)}


def plot_bound(history, bound: str, hp: str, *, value: str = "gc", hp_label: str | None = None,
               bound_label: str | None = None, value_label: str = "GC"):
    """``value`` (GC) against an upper ``bound`` column at every logged step of every run, log–log, coloured
    by ``hp``, with the diagonal y = x: a valid bound keeps every point on or below it [ours: G2, G3].

    Returns the ``matplotlib.figure.Figure``. Rows with a non-positive or missing bound or value are skipped.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    for col in (bound, hp, value):
        if col not in history.columns:
            raise ValueError(f"history has no column {col!r}")
    ok = history[(history[bound] > 0) & (history[value] > 0)]
    colors = level_colors(history[hp].tolist())
    fig, ax = plt.subplots(figsize=(4.8, 4.2), layout="constrained")
    for v, g in ok.groupby(hp, sort=True):
        ax.scatter(g[bound], g[value], s=10, alpha=0.7, color=colors[v],
                   label=f"{hp_label or hp} = {level_label(v)}")
    if len(ok):
        lo = float(np.minimum(ok[bound], ok[value]).min())
        hi = float(np.maximum(ok[bound], ok[value]).max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="y = x")
    ax.set(xscale="log", yscale="log", xlabel=bound_label or bound, ylabel=value_label,
           title=f"{value_label} stays below the bound")
    ax.legend(fontsize=8)
    return fig
