"""The basic statistics behind the verdicts: percentile bootstrap CIs (``scipy.stats.bootstrap`` where the
statistic is a vectorised numpy reduction), Spearman correlations (``scipy.stats.spearmanr``) with bootstrap
CIs over seeds or groups, the G1–G7 sweep trend and curve peaks (``scipy.signal.find_peaks``). [ours: the
choice of statistics is fixed in shared/papers before running]

Spearman ρ is rounded to 12 decimals: with n distinct ranks it is a rational number (e.g. a multiple of 0.2
for n = 4), and floating-point noise must not decide a check "ρ ≥ 0.8" against an exact 0.8.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from gclib.validate import check_positive_int, check_real

__all__ = ["spearman", "spearman_columns", "percentile_ci", "bootstrap_ci", "spearman_ci", "trend_summary",
           "peak_index", "peak_prominence"]

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
        stat = spearmanr(np.column_stack([x, d])).statistic
        if np.ndim(stat) == 2:
            rho = stat[0, 1:]
        else:
            # scipy returns one number, not a matrix, for two columns and as soon as any column is constant
            # (then NaN for all): Pearson's r of the ranks, column by column, NaN where a column is constant
            from scipy.stats import rankdata

            rx = rankdata(x) - (x.size + 1) / 2.0
            rd = rankdata(d, axis=0)
            rd = rd - rd.mean(axis=0)
            den = np.sqrt((rx ** 2).sum() * (rd ** 2).sum(axis=0))
            rho = np.divide(rx @ rd, den, out=np.full(d.shape[1], np.nan), where=den > 0)
    return np.round(np.clip(rho, -1.0, 1.0), _DIGITS)


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
    hi))``; with a single value the CI collapses to that value. Entries (rows) with a NaN or infinite value
    — a seed whose run diverged — are left out first; with none left, ``(nan, (nan, nan))``: no statistic
    (a check such as ``ci[1] < 1`` is then False, and the scorecard records the claim as not judged).
    """
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 0 or arr.shape[0] == 0:
        raise ValueError("values must be a non-empty array (one entry per seed or resample unit)")
    arr = arr[np.isfinite(arr).reshape(arr.shape[0], -1).all(axis=1)]
    if arr.shape[0] == 0:
        return math.nan, (math.nan, math.nan)
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
    """The curve as a 1-D array (seeds averaged), or None where it has no interior point (fewer than 3
    points) or a non-finite value (a run that diverged)."""
    arr = np.asarray(curves, dtype=float)
    if arr.ndim == 2:
        arr = arr.mean(axis=0) if arr.size else arr.reshape(-1)
    if arr.ndim != 1:
        raise ValueError(f"curves must be 1-D (points) or 2-D (seeds × points), got shape {np.shape(curves)}")
    return arr if arr.size >= 3 and np.all(np.isfinite(arr)) else None


def peak_index(curves) -> int:
    """Index of the most prominent *interior* local maximum of a curve (``scipy.signal.find_peaks``), or
    −1 when there is none [ours: G8, double descent]. ``curves``: (P,) or (S, P) — rows (seeds) are averaged
    first, so ``bootstrap_ci(curves, stat=peak_index)`` resamples seeds. Fewer than 3 points or a
    non-finite value: −1 (no interior peak can be found)."""
    from scipy.signal import find_peaks

    arr = _curve(curves)
    if arr is None:
        return -1
    peaks, props = find_peaks(arr, prominence=0)
    return int(peaks[props["prominences"].argmax()]) if len(peaks) else -1


def peak_prominence(curves) -> float:
    """Relative prominence (``prominence / |peak height|``) of the most prominent interior local maximum of a
    curve, 0 when there is none [ours: G8]. ``curves`` as in :func:`peak_index`; NaN where no interior
    point exists (fewer than 3 points) or a value is not finite: no statistic."""
    from scipy.signal import find_peaks

    arr = _curve(curves)
    if arr is None:
        return math.nan
    peaks, props = find_peaks(arr, prominence=0)
    if not len(peaks):
        return 0.0
    i = props["prominences"].argmax()
    return float(props["prominences"][i] / max(abs(arr[peaks[i]]), 1e-300))
