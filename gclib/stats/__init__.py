"""Statistics behind the verdicts, in one place (the notebooks import these names from ``gclib.stats``):

- :mod:`gclib.stats.basic` — Spearman ρ (scipy), percentile bootstrap CIs, the G1–G7 sweep trend, curve
  peaks
- :mod:`gclib.stats.seed_means` — protocol v2's seed-mean trend and spread with bootstrap CIs over seeds
- :mod:`gclib.stats.strength` — how strong each verdict is, changing none: Page's trend test with the floor
  of its method, per-block ρ, intervals and ranges over blocks, Holm's adjustment

[ours: the choice of statistics is fixed in shared/papers before running]
"""
from gclib.stats.basic import (
    bootstrap_ci,
    peak_index,
    peak_prominence,
    percentile_ci,
    spearman,
    spearman_ci,
    spearman_columns,
    trend_summary,
)
from gclib.stats.seed_means import seed_mean_spearman, seed_mean_spread
from gclib.stats.strength import (
    MIN_GRID,
    holm,
    min_page_p,
    page_floor,
    page_trend,
    per_block_spearman,
    seed_interval,
    trend_strength,
    verdict_interval,
)

__all__ = ["spearman", "spearman_columns", "percentile_ci", "bootstrap_ci", "spearman_ci", "trend_summary",
           "peak_index", "peak_prominence", "seed_mean_spearman", "seed_mean_spread", "page_trend",
           "page_floor", "min_page_p", "per_block_spearman", "seed_interval", "verdict_interval", "holm",
           "trend_strength", "MIN_GRID"]
