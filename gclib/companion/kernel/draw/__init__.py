"""Where a figure is drawn (inside the figure's kernel): one style and a deterministic ``savefig`` for every
notebook, and the panels more than one notebook draws.

- :mod:`~gclib.companion.kernel.draw.style` — the style, the palette, level colours and labels, ``savefig``
  (PNG + SVG with stable bytes), means with min–max bars that always contain the mean
- :mod:`~gclib.companion.kernel.draw.sweeps` — training sweeps (G2–G7) and a bound against its value
- :mod:`~gclib.companion.kernel.draw.regimes` — protocol v2: values at equal loss, the edge-of-stability
  regime map, sharpness traces
- :mod:`~gclib.companion.kernel.draw.histograms` — init-loss histograms, the dominance score D along a sweep,
  the E-3 / E-4 architecture figure
"""
from gclib.companion.kernel.draw.histograms import (
    plot_architecture_sweep,
    plot_dominance,
    plot_histogram_grid,
    plot_rank_correlations,
)
from gclib.companion.kernel.draw.regimes import (
    plot_levels,
    plot_regime_map,
    plot_sharpness_traces,
    status_note,
)
from gclib.companion.kernel.draw.style import (
    PALETTE,
    errorbar_mean,
    level_colors,
    level_label,
    mean_range,
    savefig,
    set_style,
)
from gclib.companion.kernel.draw.sweeps import plot_bound, plot_sweep

__all__ = ["set_style", "savefig", "PALETTE", "level_colors", "level_label", "mean_range", "errorbar_mean",
           "plot_sweep", "plot_bound",
           "plot_levels", "plot_regime_map", "plot_sharpness_traces", "status_note", "plot_histogram_grid",
           "plot_dominance", "plot_rank_correlations", "plot_architecture_sweep"]
