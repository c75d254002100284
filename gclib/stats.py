"""Statistics behind the verdicts, in one place: percentile bootstrap CIs (``scipy.stats.bootstrap`` where
the statistic is a vectorised numpy reduction), Spearman correlations (``scipy.stats.spearmanr``) with
bootstrap CIs over seeds or groups, sweep trends, curve peaks (``scipy.signal.find_peaks``) and protocol
v2's seed-mean statistics. [ours: the choice of statistics is fixed in shared/papers before running]

Spearman ρ is rounded to 12 decimals: with n distinct ranks it is a rational number (e.g. a multiple of 0.2
for n = 4), and floating-point noise must not decide a check "ρ ≥ 0.8" against an exact 0.8.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from gclib.validate import check_positive_int, check_real

__all__ = ["spearman", "spearman_columns", "percentile_ci", "bootstrap_ci", "spearman_ci", "trend_summary",
           "peak_index", "peak_prominence", "seed_mean_spearman", "seed_mean_spread"]

_DIGITS = 12


def spearman(x, y) -> float:
    """Spearman ρ of two 1-D samples (``scipy.stats.spearmanr``), rounded to 12 decimals; NaN when either
    is constant."""
    from scipy.stats import spearmanr

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return round(float(spearmanr(x, y).statistic), _DIGITS)


def spearman_columns(x, d) -> np.ndarray:
    """Spearman ρ between ``x`` (n,) and every column of ``d`` (n, B) at once (``scipy.stats.spearmanr`` on
    the stacked columns), rounded to 12 decimals; NaN for a constant column."""
    from scipy.stats import ConstantInputWarning, spearmanr

    x, d = np.asarray(x, dtype=float), np.asarray(d, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConstantInputWarning)
        warnings.simplefilter("ignore", RuntimeWarning)  # 0/0 of a constant column
        rho = np.atleast_2d(spearmanr(np.column_stack([x, d])).statistic)[0, 1:]
    return np.round(rho, _DIGITS)


def percentile_ci(values, level: float = 0.95) -> tuple[float, float]:
    """The ``level`` percentile interval of ``values`` (non-finite values left out; NaN, NaN when none is
    left): the quantiles (1 − level)/2 and (1 + level)/2, numpy's linear interpolation."""
    check_real("level", level, low=0, high=1, low_open=True, high_open=True)
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(values, [a, 1.0 - a])
    return float(lo), float(hi)


def bootstrap_ci(values, stat=np.mean, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0):
    """Percentile bootstrap CI of ``stat`` over the first axis of ``values`` (e.g. one value per seed).

    ``stat`` = ``np.mean`` or ``np.median`` on 1-D values: ``scipy.stats.bootstrap`` (percentile method,
    ``default_rng(seed)``). Any other statistic (e.g. :func:`peak_index` of a seeds × points array) is
    applied to each resample in a loop with the same draws (``rng.integers(0, n, (n_boot, n))``), which
    ``scipy.stats.bootstrap`` cannot express for a statistic over whole rows. Returns ``(estimate, (lo,
    hi))``; with a single value the CI collapses to that value.
    """
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 0 or arr.shape[0] == 0:
        raise ValueError("values must be a non-empty array (one entry per seed or resample unit)")
    if not np.all(np.isfinite(arr)):
        raise ValueError("values contains NaN or infinite entries")
    check_positive_int("n_boot", n_boot)
    check_real("level", level, low=0, high=1, low_open=True, high_open=True)
    est = float(stat(arr))
    if arr.shape[0] == 1:
        return est, (est, est)
    if arr.ndim == 1 and stat in (np.mean, np.median):
        from scipy.stats import bootstrap

        res = bootstrap((arr,), lambda s, axis: stat(s, axis=axis), n_resamples=n_boot, vectorized=True,
                        method="percentile", confidence_level=level, random_state=np.random.default_rng(seed))
        return est, (float(res.confidence_interval.low), float(res.confidence_interval.high))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, arr.shape[0], size=(n_boot, arr.shape[0]))
    return est, percentile_ci(np.array([stat(arr[i]) for i in idx], dtype=float), level)


def spearman_ci(x, y, *, groups=None, n_boot: int = 2000, level: float = 0.95, seed: int = 0):
    """Spearman ρ between ``x`` and ``y`` with a bootstrap CI.

    Without ``groups`` the (x, y) pairs are resampled. With ``groups`` (e.g. the seed of each row), whole
    groups are resampled, so a CI over seeds keeps each seed's sweep together. Returns ``(rho, (lo, hi))``.
    Degenerate resamples (constant x or y) are dropped.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or x.size < 3:
        raise ValueError(f"x and y must be 1-D of equal length >= 3, got {x.shape} and {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("x and y must be finite")
    check_positive_int("n_boot", n_boot)

    rho = spearman(x, y)
    rng = np.random.default_rng(seed)
    if groups is None:
        units = [np.array([i]) for i in range(x.size)]
    else:
        g = np.asarray(groups)
        if g.shape != x.shape:
            raise ValueError("groups must have the same shape as x")
        units = [np.flatnonzero(g == u) for u in np.unique(g)]
    boots = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(units), size=len(units))
        idx = np.concatenate([units[i] for i in pick])
        boots.append(spearman(x[idx], y[idx]))
    if not np.isfinite(boots).any():
        return rho, (rho, rho)
    return rho, percentile_ci(boots, level)


# ---------------------------------------------------------------- sweep statistics behind the verdicts
def trend_summary(final, hp: str, *, value: str = "gc", seed: str = "seed", n_boot: int = 2000) -> dict:
    """The G1–G7 scorecard statistics of a sweep [ours, as fixed in shared/papers/geometric_complexity.md]:
    per seed, Spearman ρ(hp, value) over the hp levels, and value(largest hp) − value(smallest hp).

    Returns ``{"rho": mean over seeds, "rho_ci": bootstrap CI over seeds, "rho_per_seed": array,
    "diff": mean over seeds, "diff_ci": CI, "diff_per_seed": array, "n_seeds": int}``
    (:func:`bootstrap_ci`, percentile, 95 %). Rows with a NaN ``value`` (e.g. a run that never reached
    the target loss of ``gclib.experiments.readings.value_at_train_loss``) are dropped; a seed with < 3
    distinct levels left has no ρ, one missing an extreme level has no difference; a statistic with no
    seed left is NaN with CI ``None``.
    """
    for col in (hp, value, seed):
        if col not in final.columns:
            raise ValueError(f"final has no column {col!r}")
    ok = final.dropna(subset=[value])
    lo_level, hi_level = min(final[hp]), max(final[hp])
    rhos, diffs = [], []
    for _, g in ok.groupby(seed, sort=True):
        if g[hp].nunique() >= 3 and g[value].nunique() >= 2:
            rhos.append(spearman(g[hp], g[value]))
        ends = g.set_index(hp)[value]
        if lo_level in ends.index and hi_level in ends.index:
            diffs.append(float(ends[hi_level].mean() - ends[lo_level].mean()))
    out = {"n_seeds": int(final[seed].nunique())}
    for name, vals in (("rho", rhos), ("diff", diffs)):
        arr = np.asarray(vals, dtype=float)
        est, ci = bootstrap_ci(arr, n_boot=n_boot) if arr.size else (float("nan"), None)
        out.update({name: est, f"{name}_ci": ci, f"{name}_per_seed": arr})
    return out


def _curve(curves):
    arr = np.asarray(curves, dtype=float)
    if arr.ndim == 2:
        arr = arr.mean(axis=0)
    if arr.ndim != 1 or arr.size < 3 or not np.all(np.isfinite(arr)):
        raise ValueError(f"curves must be finite, 1-D (points) or 2-D (seeds × points) with >= 3 points, "
                         f"got shape {np.shape(curves)}")
    return arr


def peak_index(curves) -> int:
    """Index of the most prominent *interior* local maximum of a curve (``scipy.signal.find_peaks``), or
    −1 when there is none [ours: G8, double descent]. ``curves``: (P,) or (S, P) — rows (seeds) are averaged
    first, so ``bootstrap_ci(curves, stat=peak_index)`` resamples seeds."""
    from scipy.signal import find_peaks

    arr = _curve(curves)
    peaks, props = find_peaks(arr, prominence=0)
    return int(peaks[props["prominences"].argmax()]) if len(peaks) else -1


def peak_prominence(curves) -> float:
    """Relative prominence (``prominence / |peak height|``) of the most prominent interior local maximum of a
    curve, 0 when there is none [ours: G8]. ``curves`` as in :func:`peak_index`."""
    from scipy.signal import find_peaks

    arr = _curve(curves)
    peaks, props = find_peaks(arr, prominence=0)
    if not len(peaks):
        return 0.0
    i = props["prominences"].argmax()
    return float(props["prominences"][i] / max(abs(arr[peaks[i]]), 1e-300))


# ---------------------------------------------------------------- protocol v2 statistics (seed means)
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
