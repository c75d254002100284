"""Figures of the init-loss notebooks (Teague 2022): small multiples of loss histograms, the dominance
score D with its bootstrap CI along a sweep, and the E-3 / E-4 architecture figure with its per-target
rank-correlation panel. [ours]
"""
from __future__ import annotations

from gclib.companion.kernel.draw.style import PALETTE, level_label

__all__ = ["plot_histogram_grid", "plot_dominance", "plot_rank_correlations", "plot_architecture_sweep"]


def _live_density(hist, log: bool):
    """(edges, density) of a ``sampling.LossHistogram`` with the dead-network atom removed: per unit u on
    linear bins, per unit ln u (dF/d ln u) on log bins."""
    import numpy as np

    live = np.asarray(hist.counts, dtype=float).copy()
    if hist.dead and hist.dead_bin is not None and 0 <= hist.dead_bin < live.size:
        live[hist.dead_bin] -= hist.dead
    e = np.asarray(hist.edges, dtype=float)
    width = np.diff(np.log(e)) if log else np.diff(e)
    return e, live / (hist.n * width)


def plot_histogram_grid(hists, *, modes=None, row_labels=None, col_labels=None, logx=False,
                        sharey: str | bool = "row", panel_size=(2.3, 1.7), xlabel: str = "u = ℓ / L₀",
                        fig=None):
    """Small multiples of init-loss histograms (``gclib.sampling.LossHistogram``), used by the gr_*
    notebooks [ours].

    Each panel shows the density of u (the dead-network atom removed) as a step curve; the atom itself is
    drawn separately as a dotted grey line at its loss (u = 1 for L₀-normalised losses) with its share of
    all initializations; with ``modes`` (``sampling.ModeDominance`` per panel) the zero mode (◆), the
    highest central mode (▼) and D are marked. ``logx`` (one bool, or one per row): the histograms have
    geometric edges and the density is per unit ln u on a log axis (this shows the power law of the CDF
    near u = 0).

    Args:
        hists: rows × columns nested list of histograms (``None`` leaves a panel empty); a flat list is
            one row.
        modes: same shape as ``hists`` or None. row_labels / col_labels: strings per row / column.
        sharey: passed to ``subplots``. panel_size: (width, height) of one panel in inches.
        fig: draw into this ``Figure`` or ``SubFigure`` (e.g. one of ``fig.subfigures``) instead of a new one.
    Returns:
        the figure drawn into.
    """
    import matplotlib.pyplot as plt
    import numpy as np
    import seaborn as sns

    grid = [list(r) for r in hists] if hists and isinstance(hists[0], (list, tuple)) else [list(hists)]
    if not grid or not grid[0]:
        raise ValueError("hists must be a non-empty list (or list of lists) of LossHistogram")
    nr, nc = len(grid), max(len(r) for r in grid)
    mgrid = None
    if modes is not None:
        mgrid = [list(r) for r in modes] if isinstance(modes[0], (list, tuple)) else [list(modes)]
        if [len(r) for r in mgrid] != [len(r) for r in grid]:
            raise ValueError("modes must have the same shape as hists")
    for name, labels, size in (("row_labels", row_labels, nr), ("col_labels", col_labels, nc)):
        if labels is not None and len(labels) != size:
            raise ValueError(f"{name} must have {size} entries, got {len(labels)}")
    logs = [bool(v) for v in logx] if isinstance(logx, (list, tuple)) else [bool(logx)] * nr
    if len(logs) != nr:
        raise ValueError(f"logx must be a bool or one bool per row ({nr}), got {logx!r}")
    if fig is None:
        fig = plt.figure(figsize=(panel_size[0] * nc, panel_size[1] * nr), layout="constrained")
    axes = fig.subplots(nr, nc, sharex="col" if len(set(logs)) == 1 else False, sharey=sharey, squeeze=False)
    for i in range(nr):
        for j in range(nc):
            ax = axes[i][j]
            h = grid[i][j] if j < len(grid[i]) else None
            if h is None:
                ax.set_visible(False)
                continue
            log = logs[i]
            e, p = _live_density(h, log)
            # streamed counts, not samples: one weighted point per bin on the histogram's own edges
            centres = np.sqrt(e[:-1] * e[1:]) if log else 0.5 * (e[:-1] + e[1:])
            sns.histplot(x=centres, weights=p, bins=e.tolist(), element="step", color=PALETTE[0], alpha=0.35,
                         lw=1.0, ax=ax)
            if h.dead:
                ax.axvline(h.dead_loss, color=PALETTE[7], ls=":", lw=1.2)
                ax.text(0.97, 0.62, f"dead {100 * h.dead / h.n:.2g}%", transform=ax.transAxes, ha="right",
                        fontsize=7, color="0.35")
            md = mgrid[i][j] if mgrid is not None else None
            if md is not None:
                if md.zero_mode and md.h0 > 0 and not log:
                    ax.plot([0.5 * (md.edges[0] + md.edges[1])], [md.h0], "D", color=PALETTE[2], ms=4)
                if np.isfinite(md.uc):
                    k = int(np.searchsorted(e, md.uc)) - 1
                    ax.plot([md.uc], [p[min(max(k, 0), p.size - 1)]], "v", color=PALETTE[3], ms=5)
                ax.text(0.97, 0.85, f"D = {md.D:.1f}", transform=ax.transAxes, ha="right", fontsize=8)
            if log:
                ax.set_xscale("log")
            if i == 0 and col_labels is not None:
                ax.set_title(col_labels[j], fontsize=9)
            if j == 0:
                dens = "density per ln u" if log else "density"
                ax.set_ylabel(f"{row_labels[i]}\n{dens}" if row_labels is not None else dens, fontsize=8)
            if i == nr - 1 or len(set(logs)) > 1:
                ax.set_xlabel(xlabel, fontsize=8)
            ax.tick_params(labelsize=7)
    return fig


def plot_dominance(ax, table, x: str, *, group: str | None = None, logx: bool = False,
                   xlabel: str | None = None, group_label: str | None = None):
    """The dominance score D with its bootstrap CI (columns ``D``, ``D_lo``, ``D_hi`` of
    ``gclib.experiments.init_loss.dominance_sweep(...).table``) against the column ``x``, one line per value
    of ``group`` [ours]. String-valued ``x`` (e.g. init names) is placed at evenly spaced positions.
    D > 0: zero-mode dominant; D < 0: central-mode dominant (a dashed line marks D = 0). Returns ``ax``.
    (Matplotlib's errorbar, not seaborn: the intervals are the multinomial bootstrap over initializations
    computed beforehand, which seaborn's estimators cannot take as given.)"""
    import numpy as np

    for col in (x, "D", "D_lo", "D_hi") + ((group,) if group else ()):
        if col not in table.columns:
            raise ValueError(f"table has no column {col!r}")
    categorical = table[x].map(lambda v: isinstance(v, str)).any()
    levels = list(dict.fromkeys(table[x])) if categorical else None
    keys = list(dict.fromkeys(table[group])) if group else [None]
    n = len(keys)
    for k, key in enumerate(keys):
        t = table if key is None else table[table[group] == key]
        if categorical:
            xs = np.array([levels.index(v) for v in t[x]], float) + (k - (n - 1) / 2) * 0.6 / max(n, 1)
        else:
            xs = t[x].to_numpy(float)
        d = t["D"].to_numpy(float)
        err = np.vstack([d - t["D_lo"].to_numpy(float), t["D_hi"].to_numpy(float) - d]).clip(min=0)
        label = None if key is None else f"{group_label or group} = {level_label(key)}"
        ax.errorbar(xs, d, yerr=err, marker="o", ms=4, capsize=2, lw=1.2, color=PALETTE[k % len(PALETTE)],
                    ls="none" if categorical else "-", label=label)
    ax.axhline(0.0, color="0.4", ls="--", lw=0.8)
    if categorical:
        ax.set_xticks(range(len(levels)), [str(v).replace("_", "\n", 1) for v in levels], fontsize=7)
    elif logx:
        ax.set_xscale("log", base=2)
    ax.set(xlabel=xlabel or x, ylabel="D = ln((h₀+δ)/(h_c+δ))")
    if group:
        ax.legend(fontsize=7)
    return ax


def plot_rank_correlations(ax, targets, ranks: dict, vary: str):
    """Spearman ρ(``vary``, D) per target with its bootstrap CI, and the mean over targets (the scorecard
    statistic) as a line with its CI in the legend; ``ranks`` from ``init_loss.rank_summary``."""
    import numpy as np

    rho, ci = ranks["rho"], ranks["ci"]
    rhos = np.array([r for r, _ in ranks["per_target"]])
    errors = np.array([[r - lo, hi - r] for r, (lo, hi) in ranks["per_target"]]).T.clip(min=0)
    ax.errorbar(range(len(targets)), rhos, yerr=errors, fmt="o", capsize=3)
    ax.axhline(rho, color=PALETTE[3], lw=1, label=f"mean ρ = {rho:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]")
    ax.axhline(0, color="0.4", ls="--", lw=0.8)
    ax.set_xticks(range(len(targets)), [f"y = {y:g}" for y in targets])
    ax.set(ylim=(-1.05, 1.05), ylabel=f"Spearman ρ({vary}, D)", title="rank correlation per target")
    ax.legend(fontsize=7)
    return ax


def plot_architecture_sweep(sweep, vary: str, values, targets, ranks: dict, *, title: str):
    """The E-3 / E-4 figure: the histograms of an ``init_loss.architecture_sweep`` (rows: targets, columns:
    the ``values`` of ``vary``) with their modes, under ``title``; below, D with its CI along ``vary`` per
    target, and the rank-correlation panel. Returns the figure."""
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(max(2.0 * len(values), 9.0), 1.6 * len(targets) + 3.2), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.6 * len(targets), 3.2])
    grid = [[sweep.hists[i] for i in sweep.rows(target=y)] for y in targets]
    modes = [[sweep.modes[i] for i in sweep.rows(target=y)] for y in targets]
    plot_histogram_grid(grid, modes=modes, row_labels=[f"y = {y:g}" for y in targets],
                        col_labels=[f"{vary} {v}" for v in values], panel_size=(2.0, 1.6), fig=top)
    top.suptitle(title, fontsize=10)
    ax_d, ax_r = bottom.subplots(1, 2, width_ratios=[2, 1])
    plot_dominance(ax_d, sweep.table, vary, group="target", group_label="y", logx=True)
    ax_d.set_title("dominance score D (95% bootstrap CI); D > 0: zero-mode dominant", fontsize=10)
    plot_rank_correlations(ax_r, targets, ranks, vary)
    return fig
