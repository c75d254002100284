"""Figures of protocol v2 (G4, G6, G7, G9): quantities read at equal training loss, the edge-of-stability
regime map, sharpness over training and the equal-loss / equal-steps / equal-epochs contrasts [ours].

Every function draws into a given ``matplotlib`` Axes (so a notebook composes panels) with seaborn where it
fits, and uses the companion style (:mod:`~gclib.companion.kernel.draw.style`). Inputs are the tidy tables of
``gclib.experiments.readings.crossings`` (one row per run) and ``gclib.experiments.runs.run_grid`` (one row
per logged step).
"""
from __future__ import annotations

import math

import numpy as np

from gclib.companion.kernel.draw.style import PALETTE, errorbar_mean, level_colors, level_label, mean_range

__all__ = ["plot_levels", "plot_regime_map", "plot_sharpness_traces", "status_note"]

_MARKERS = {"reached": "o", "not_reached": "s", "diverged": "X", "collapsed": "v", "interrupted": "P",
            "completed": "o"}


def status_note(table, hp: str) -> str:
    """One line counting the runs that did not reach the target, by status and level, e.g.
    "not in the statistic: diverged lr=2 (3 runs)" ("every run reached the target" when none)."""
    bad = table[table["status"] != "reached"]
    if bad.empty:
        return "every run reached the target"
    parts = [f"{status} {hp}={level_label(level)} ({len(g)} run{'s' if len(g) > 1 else ''})"
             for (status, level), g in bad.groupby(["status", hp], sort=True)]
    return "not in the statistic: " + ", ".join(parts)


def plot_levels(ax, table, hp: str, value: str = "gc", *, hue: str | None = None, hp_label: str | None = None,
                value_label: str = "GC", title: str = "", logy: bool = False, span=None):
    """``value`` against the levels of ``hp`` on evenly spaced categorical positions (a strength grid with 0
    has no log axis): every run a dot, the seed mean a line with min–max bars
    (:func:`~gclib.companion.kernel.draw.style.mean_range`), one colour per ``hue`` level, side by side.
    Runs with a NaN value (target not reached) are left out of the dots and the means; ``span`` = (lo, hi)
    shades the levels in that closed range (e.g. the lrs past the stability edge)."""
    import numpy as np

    data = table.dropna(subset=[value])
    levels = sorted(set(table[hp]))
    order = [level_label(v) for v in levels]
    pos = {v: i for i, v in enumerate(levels)}
    hues = sorted(set(table[hue])) if hue is not None else [None]
    width = 0.4 if len(hues) > 1 else 0.0  # side by side only where there is more than one hue
    rng = np.random.default_rng(0)  # the dots' jitter: fixed, so the figure's bytes are too
    for k, h in enumerate(hues):
        sub = data if h is None else data[data[hue] == h]
        if sub.empty:
            continue
        shift = (k / (len(hues) - 1) - 0.5) * width if len(hues) > 1 else 0.0
        color = PALETTE[k % len(PALETTE)] if h is not None else PALETTE[0]
        x = sub[hp].map(pos).to_numpy(float) + shift
        ax.scatter(x + rng.uniform(-0.06, 0.06, len(x)), sub[value], s=16, alpha=0.6, color=color, zorder=2)
        stats = mean_range(sub, hp, value)
        errorbar_mean(ax, stats[hp].map(pos).to_numpy(float) + shift, stats, marker="o", ms=5, capsize=3,
                      lw=1.5, color=color if h is not None else "k", zorder=3,
                      label=None if h is None else level_label(h))
    if span is not None:
        inside = [i for i, v in enumerate(levels) if span[0] <= v <= span[1]]
        if inside:
            ax.axvspan(min(inside) - 0.5, max(inside) + 0.5, color=PALETTE[7], alpha=0.15, lw=0)
    ax.set_xticks(range(len(order)), order)
    ax.set_xlim(-0.5, len(order) - 0.5)
    ax.set(xlabel=hp_label or hp, ylabel=value_label, title=title)
    if logy:
        ax.set_yscale("log")
    if hue is not None and ax.get_legend_handles_labels()[0]:
        ax.legend(title=hue, fontsize=8, title_fontsize=8)
    return ax


def plot_regime_map(ax, table, *, hp: str = "lr", x: str = "edge_ratio", value: str = "gc",
                    value_label: str = "GC at the target loss", title: str = ""):
    """The regime map of G6 v2: ``value`` (GC at the target loss) against each run's peak lr·λ_max/2
    (column ``x``, log axis), every run of every seed, colour = level of ``hp``; the dashed line x = 1 is
    the stability edge of gradient descent (lr·λ_max/2 = 1). Runs that did not reach the target are drawn
    at the bottom of the panel with their status marker (× diverged, ▽ collapsed, □ not reached)."""
    colors = level_colors(table[hp].tolist())
    ok = table[table["status"] == "reached"]
    for level, g in ok.groupby(hp, sort=True):
        ax.scatter(g[x], g[value], color=colors[level], s=22, alpha=0.85, zorder=3,
                   label=f"{hp} = {level_label(level)}")
    bad = table[(table["status"] != "reached") & np.isfinite(table[x]) & (table[x] > 0)]
    if not bad.empty:
        y0 = float(ok[value].min()) if len(ok) else 1.0
        for (status, level), g in bad.groupby(["status", hp], sort=True):
            ax.scatter(g[x], np.full(len(g), y0), marker=_MARKERS.get(status, "x"), color=colors[level],
                       s=30, label=f"{hp} = {level_label(level)}: {status.replace('_', ' ')}", zorder=3)
    ax.axvline(1.0, color="k", ls="--", lw=1, label="stability edge lr·λ/2 = 1")
    ax.set_xscale("log")
    ax.set(xlabel="peak lr · λ_max / 2 during training", ylabel=value_label, title=title)
    ax.legend(fontsize=7, ncol=1)
    return ax


def plot_sharpness_traces(ax, history, *, hp: str = "lr", seed=None, title: str = ""):
    """λ_max over training (log step axis) for each level of ``hp`` (one seed: ``seed`` or the first),
    each with its own stability threshold 2/lr dashed in the same colour: gradient descent past the edge
    hovers at 2/lr (the edge of stability, Cohen et al. 2021), below it λ_max rises freely (progressive
    sharpening)."""
    data = history.dropna(subset=["sharpness"])
    seed = sorted(set(data["seed"]))[0] if seed is None else seed
    data = data[data["seed"] == seed]
    colors = level_colors(history[hp].tolist())
    for level, g in data.groupby(hp, sort=True):
        g = g.sort_values("step")
        ax.plot(np.maximum(g["step"], 1), g["sharpness"], color=colors[level], lw=1.3, marker=".", ms=3,
                label=f"{hp} = {level_label(level)}")
        if hp == "lr":
            ax.axhline(2 / level, color=colors[level], ls="--", lw=0.9)
    ax.set(xscale="log", yscale="log", xlabel="step (step 0 drawn at 1)", ylabel="λ_max of the loss Hessian",
           title=title or f"λ_max during training (seed {seed}; dashed: 2/lr)")
    finite = data["sharpness"].to_numpy(dtype=float)
    finite = finite[np.isfinite(finite) & (finite > 0)]
    if finite.size:
        ax.set_ylim(0.5 * finite.min(), min(2 * finite.max(), 100 * math.exp(np.median(np.log(finite)))))
    ax.legend(fontsize=7)
    return ax
