"""Protocol v2's seed-mean statistics [fixed in shared/papers, 2026-11-28]: the trend and the spread of the
seed-mean value over a grid, with percentile bootstrap CIs over seeds (whole seeds resampled). [ours]
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from gclib.stats.basic import percentile_ci, spearman
from gclib.validate import check_positive_int, check_real

__all__ = ["seed_mean_spearman", "seed_mean_spread"]


def _seed_matrix(table, hp: str, value: str, seed: str):
    """(levels of ``hp``, seeds × levels matrix of ``value``; NaN where a seed has no value) from a tidy
    DataFrame ``table``."""
    for col in (hp, value, seed):
        if col not in table.columns:
            raise ValueError(f"table has no column {col!r}")
    wide = table.pivot_table(index=seed, columns=hp, values=value, aggfunc="mean", dropna=False)
    return np.asarray(wide.columns, dtype=float), wide.to_numpy(dtype=float)


def _nanmean(mat: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column: its mean is NaN
        return np.nanmean(mat, axis=0)


def _seed_bootstrap(mat: np.ndarray, stat, n_boot: int, level: float, seed: int):
    """Estimate and percentile CI of ``stat(column means)`` with seeds (rows) resampled; resamples whose
    statistic is undefined (NaN) are dropped; ``None`` CI when there is a single seed or none is defined."""
    check_positive_int("n_boot", n_boot)
    check_real("level", level, low=0, high=1, low_open=True, high_open=True)
    est = stat(_nanmean(mat))
    if mat.shape[0] < 2:
        return est, None
    rng = np.random.default_rng(seed)
    n = mat.shape[0]
    boots = np.array([stat(_nanmean(mat[rng.integers(0, n, n)])) for _ in range(n_boot)])
    if not np.isfinite(boots).any():
        return est, None
    return est, percentile_ci(boots, level)


def seed_mean_spearman(table, hp: str, value: str = "gc", *, seed: str = "seed", n_boot: int = 2000,
                       level: float = 0.95, boot_seed: int = 0) -> dict:
    """Protocol v2's trend statistic [fixed in shared/papers, 2026-11-28]: Spearman ρ between the levels of
    ``hp`` and the seed-mean of ``value`` at each level (NaN values — runs that did not reach the target —
    are left out of the mean; a level with no value left is dropped), with a percentile bootstrap CI over
    seeds (whole seeds resampled, means and ρ recomputed). ``table``: a tidy DataFrame, one row per run.
    Returns ``{"rho", "rho_ci", "levels", "means", "n_levels", "n_seeds"}`` (levels and seed means as
    arrays); ρ is NaN with fewer than 3 levels left or a constant mean."""
    levels, mat = _seed_matrix(table, hp, value, seed)

    def rho(means):
        ok = np.isfinite(means)
        return spearman(levels[ok], means[ok]) if ok.sum() >= 3 else math.nan

    est, ci = _seed_bootstrap(mat, rho, n_boot, level, boot_seed)
    means = _nanmean(mat)
    return {"rho": est, "rho_ci": ci, "levels": levels, "means": means,
            "n_levels": int(np.isfinite(means).sum()), "n_seeds": int(mat.shape[0])}


def seed_mean_spread(table, hp: str, value: str = "gc", *, seed: str = "seed", n_boot: int = 2000,
                     level: float = 0.95, boot_seed: int = 0) -> dict:
    """Relative spread max/min − 1 of the seed-mean ``value`` over the levels of ``hp`` (protocol v2's
    "varies by ≤ 5 %" of G6's stable range), NaN values left out as in :func:`seed_mean_spearman`, with a
    percentile bootstrap CI over seeds. Returns ``{"spread", "spread_ci", "levels", "means", "n_levels"}``;
    the spread is NaN with fewer than 2 levels left."""
    levels, mat = _seed_matrix(table, hp, value, seed)

    def spread(means):
        ok = means[np.isfinite(means)]
        return float(ok.max() / ok.min() - 1) if ok.size >= 2 and ok.min() > 0 else math.nan

    est, ci = _seed_bootstrap(mat, spread, n_boot, level, boot_seed)
    means = _nanmean(mat)
    return {"spread": est, "spread_ci": ci, "levels": levels, "means": means,
            "n_levels": int(np.isfinite(means).sum())}
