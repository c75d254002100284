"""Sweep figures of the training notebooks (G2–G7): a quantity during training, at the end and the final
accuracies against a swept hyperparameter, and a bound against its value at every logged step. [ours]
"""
from __future__ import annotations

from gclib.companion.kernel.draw.style import PALETTE, errorbar_mean, level_colors, level_label, mean_range

__all__ = ["plot_sweep", "plot_bound"]


def _hp_positions(values) -> tuple[list, dict]:
    """Sorted distinct hyperparameter values and their evenly spaced x positions (0, 1, 2, ...): sweeps
    such as λ ∈ {0, 1e-4, 1e-3, 1e-2} include 0, which no log axis shows."""
    levels = sorted(set(values))
    return levels, {v: i for i, v in enumerate(levels)}


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
        min–max bars (:func:`~gclib.companion.kernel.draw.style.mean_range`).

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

    ax = axes[2]  # final metrics: mean over seeds with min–max bars (mean_range: lo <= mean <= hi)
    lasted = last.assign(_pos=last[hp].map(pos))
    for i, metric in enumerate(metrics):
        stats = mean_range(lasted, "_pos", metric)
        errorbar_mean(ax, stats["_pos"], stats, marker="o", capsize=3, lw=1.5,
                      color=PALETTE[i % len(PALETTE)], label=metric.replace("_", " "))
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
