"""Statistics behind the verdicts, in one place: percentile bootstrap CIs (``scipy.stats.bootstrap`` where
the statistic is a vectorised numpy reduction), Spearman correlations (``scipy.stats.spearmanr``) with
bootstrap CIs over seeds or groups, sweep trends, curve peaks (``scipy.signal.find_peaks``) and protocol
v2's seed-mean statistics, and the statistics beside the verdicts (fixed 2026-12-03: Page's trend test,
per-seed ρ, the interval or range over seeds, Holm's adjustment), which change no verdict. [ours: the choice
of statistics is fixed in shared/papers before running]

Spearman ρ is rounded to 12 decimals: with n distinct ranks it is a rational number (e.g. a multiple of 0.2
for n = 4), and floating-point noise must not decide a check "ρ ≥ 0.8" against an exact 0.8.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from gclib.validate import check_choice, check_positive_int, check_real

__all__ = ["spearman", "spearman_columns", "percentile_ci", "bootstrap_ci", "spearman_ci", "trend_summary",
           "peak_index", "peak_prominence", "seed_mean_spearman", "seed_mean_spread", "page_trend",
           "min_page_p", "per_block_spearman", "seed_interval", "verdict_interval", "holm", "trend_strength"]

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


# ---------------------------------------------------------------- strength beside the verdicts (2026-12-03)
# Spec: shared/papers/README.md, "Statistics beside the verdicts" (fixed 2026-12-03, before any run that
# reports them). These numbers describe how strong a verdict is and change none.
_SPEC = "spec fixed 2026-12-03 in shared/papers/README.md"
_DIRECTIONS = ("increasing", "decreasing")


def _py(x):
    """A numpy scalar as the Python scalar it holds (block ids and grid values go into JSON)."""
    return x.item() if isinstance(x, np.generic) else x


def _check_table(table, columns: dict) -> None:
    if not hasattr(table, "columns") or not hasattr(table, "groupby"):
        raise TypeError(f"table must be a pandas DataFrame, got {type(table).__name__}")
    for arg, col in columns.items():
        if col is not None and col not in table.columns:
            raise ValueError(f"{arg}={col!r} is not a column of table (columns: {list(table.columns)})")


def _is_bool_column(column) -> bool:
    """True for a pandas column of booleans (numpy bool, or pandas' nullable "boolean" without NA)."""
    import pandas as pd

    return pd.api.types.is_bool_dtype(column.dtype) and not column.isna().any()


def min_page_p(n: int, k: int) -> float:
    """The smallest p-value Page's exact test can give with ``n`` ≥ 0 blocks and ``k`` ≥ 1 treatments:
    (1/k!)^n, the null probability that every block ranks the k treatments in the claimed order (the k!
    rankings of a block equally likely, blocks independent); 3 seeds × 4 grid values: (1/24)³ ≈ 7.2e-5; 0.0
    past the float range. [Page 1963; spec fixed 2026-12-03 in shared/papers/README.md]"""
    check_positive_int("n", n, allow_zero=True)
    check_positive_int("k", k)
    return 1 / math.factorial(k) ** n


def page_trend(table, *, block: str, treatment: str, value: str, order, direction: str,
               valid: str | None = None) -> dict:
    """Page's L test for an ordered alternative, one-sided in the claimed direction, seeds as blocks and
    grid values as treatments [Page 1963; spec fixed 2026-12-03 in shared/papers/README.md].

    Each block's values are ranked within the block (1 = smallest); with R_j the rank sum of the j-th
    treatment in the claimed order, L = Σ_j j · R_j, large when the values rise along the claimed order
    (``scipy.stats.page_trend_test``, whose default ``predicted_ranks`` [1, …, k] means "columns in order of
    increasing predicted value"). For ``direction="decreasing"`` the columns are reversed, so the test asks
    whether the values *fall* along ``order``. p = P(L ≥ L_obs | no trend): ``method="exact"`` (Odeh 1977's
    recursion over all (k!)^n rankings) where scipy's "auto" would choose it — k ≤ 8, n ≤ 20 and not
    (n > 12 and k > 3), Page's own table range — else scipy's default (the normal approximation). Ties get
    mid-ranks; scipy's exact p then truncates L to an integer, which is conservative.

    Missing cells (spec): a block with a NaN or infinite value, a missing (block, treatment) cell, or a row
    whose ``valid`` column is False (a protocol-v2 run that diverged, stalled or did not reach its target)
    is left out whole.

    Args:
        table: tidy pandas DataFrame, one row per block × treatment (a repeated pair is an error).
        block, treatment, value: its column names (e.g. "seed", "l2", "gc").
        order: the grid values in the claimed order (every treatment value of ``table`` must be in it);
            k = len(order).
        direction: "increasing" or "decreasing" (the claimed direction of ``value`` along ``order``).
        valid: optional name of a boolean column; False leaves the block out.

    Returns a dict: ``L`` (float), ``p`` (float), ``method`` ("exact" or "asymptotic"), ``n`` (blocks used),
    ``k``, ``p_min`` = (1/k!)^n (:func:`min_page_p`), ``blocks_left_out`` (count), ``blocks_left_out_ids``
    (list of block ids), ``direction``, ``reason`` (None). With k < 3 or fewer than 2 blocks left scipy's
    test does not apply: ``L``, ``p`` and ``method`` are None and ``reason`` is "k < 3" or "n < 2" (shown as
    "n/a (n < 2)").
    """
    from scipy.stats import page_trend_test

    _check_table(table, {"block": block, "treatment": treatment, "value": value, "valid": valid})
    check_choice("direction", direction, _DIRECTIONS)
    if isinstance(order, (str, bytes)) or not hasattr(order, "__len__") or len(order) == 0:
        raise ValueError(f"order must be a non-empty sequence of grid values, got {order!r}")
    order = [_py(v) for v in order]
    if len(set(order)) != len(order):
        raise ValueError(f"order has repeated grid values: {order!r}")
    unknown = sorted(set(table[treatment].map(_py)) - set(order), key=str)
    if unknown:
        raise ValueError(f"order is missing the {treatment!r} values {unknown!r} found in table")
    if table.duplicated(subset=[block, treatment]).any():
        raise ValueError(f"table has more than one row for some ({block!r}, {treatment!r}) pair")
    if valid is not None and not _is_bool_column(table[valid]):
        raise ValueError(f"valid={valid!r} must name a boolean column, got dtype {table[valid].dtype}")

    k = len(order)
    wide = table.pivot(index=block, columns=treatment, values=value).reindex(columns=order)  # blocks sorted
    blocks = [_py(b) for b in wide.index]
    mat = wide.to_numpy(dtype=float)  # a missing cell is NaN
    keep = np.isfinite(mat).all(axis=1)
    if valid is not None:
        bad = set(table.loc[~table[valid].astype(bool), block].map(_py))
        keep &= np.array([b not in bad for b in blocks], dtype=bool)
    left = [b for b, ok in zip(blocks, keep) if not ok]
    n = int(keep.sum())
    out = {"L": None, "p": None, "method": None, "n": n, "k": k, "p_min": min_page_p(n, k),
           "blocks_left_out": len(left), "blocks_left_out_ids": left, "direction": direction, "reason": None}
    if k < 3:
        return {**out, "reason": "k < 3"}
    if n < 2:
        return {**out, "reason": "n < 2"}
    data = mat[keep][:, ::-1] if direction == "decreasing" else mat[keep]
    exact = k <= 8 and n <= 20 and not (n > 12 and k > 3)  # scipy's "auto" rule (Page 1963's tables)
    res = page_trend_test(data, method="exact") if exact else page_trend_test(data)
    return {**out, "L": float(res.statistic), "p": min(float(res.pvalue), 1.0), "method": str(res.method)}


def per_block_spearman(table, *, block: str, treatment: str, value: str) -> dict:
    """Per block (seed), Spearman ρ(treatment, value) over that block's rows with a finite value
    (:func:`spearman`, rounded to 12 decimals) [spec fixed 2026-12-03 in shared/papers/README.md: the
    per-seed ρ beside the seed-mean ρ]. ``table``: tidy pandas DataFrame; ``block``, ``treatment``,
    ``value``: its column names. Returns ``{block id: ρ}`` in block order, ρ a float, or None where a block
    has fewer than 2 finite values or a constant treatment or value (never NaN)."""
    _check_table(table, {"block": block, "treatment": treatment, "value": value})
    out = {}
    for b, g in table.groupby(block, sort=True):
        x, y = g[treatment].to_numpy(dtype=float), g[value].to_numpy(dtype=float)
        ok = np.isfinite(x) & np.isfinite(y)
        rho = spearman(x[ok], y[ok]) if ok.sum() >= 2 else math.nan
        out[_py(b[0] if isinstance(b, tuple) else b)] = None if math.isnan(rho) else rho
    return out


def seed_interval(values, *, level: float = 0.95, seed: int = 0, unit: str = "seeds") -> dict:
    """The spread of a per-seed statistic over seeds, as the spec allows it [spec fixed 2026-12-03 in
    shared/papers/README.md]: no bootstrap interval from fewer than 5 seeds (or independent replicates).
    Non-finite values (NaN, None, ±inf) are left out first; n = the number left. n = 0: ``{"kind": "n/a",
    "reason": "no values", "n": 0}``. 1 ≤ n < 5: the range, ``{"kind": "range", "lo", "hi", "n", "unit",
    "text": "n = 3 seeds; range, not an interval"}``. n ≥ 5: ``scipy.stats.bootstrap`` of the mean (9,999
    resamples, ``default_rng(seed)``), BCa, else (a failure or a non-finite bound, e.g. constant values) the
    percentile interval: kind "bootstrap", method, lo, hi, n, unit, level, estimate (the mean), text; should
    both fail, the range saying so. Never NaN. ``unit``: what the n values are, plural ("seeds", or "targets"
    where targets are a trend's blocks)."""
    from scipy.stats import bootstrap

    check_real("level", level, low=0, high=1, low_open=True, high_open=True)
    check_positive_int("seed", seed, allow_zero=True)
    if isinstance(values, (str, bytes)):
        raise TypeError(f"values must be a sequence of numbers, got {values!r}")
    arr = np.array([math.nan if v is None else v for v in np.ravel(np.asarray(values, dtype=object))],
                   dtype=float)
    arr = arr[np.isfinite(arr)]
    n = int(arr.size)
    if n == 0:
        return {"kind": "n/a", "reason": "no values", "n": 0}
    if not isinstance(unit, str) or not unit:
        raise TypeError(f"unit must be a non-empty string, got {unit!r}")
    seeds = unit[:-1] if n == 1 and unit.endswith("s") else unit
    if n < 5:
        return {"kind": "range", "lo": float(arr.min()), "hi": float(arr.max()), "n": n, "unit": unit,
                "text": f"n = {n} {seeds}; range, not an interval"}
    for method in ("BCa", "percentile"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # BCa's 0/0 on constant values: detected below as NaN
                res = bootstrap((arr,), np.mean, method=method, confidence_level=level,
                                random_state=np.random.default_rng(seed))
        except (ValueError, FloatingPointError, ZeroDivisionError):
            continue
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if math.isfinite(lo) and math.isfinite(hi):
            return {"kind": "bootstrap", "method": method, "lo": lo, "hi": hi, "n": n, "unit": unit,
                    "level": level, "estimate": float(arr.mean()),
                    "text": f"n = {n} {seeds}; {level:.0%} bootstrap interval ({method})"}
    return {"kind": "range", "lo": float(arr.min()), "hi": float(arr.max()), "n": n, "unit": unit,
            "text": f"n = {n} {seeds}; range (the bootstrap failed)"}


def verdict_interval(ci, n: int, *, unit: str = "seeds", method: str = "percentile", values=None,
                     level: float = 0.95) -> dict:
    """The interval ``ci`` a pre-registered verdict was judged with (a bootstrap over ``n`` independent
    ``unit``: seeds, or initializations for a histogram's multinomial resampling), labelled with its method
    and n as the spec asks [fixed 2026-12-03, shared/papers/README.md]; changes no verdict. Below 5 seeds the
    range of ``values`` (the per-seed values, required then) instead, as :func:`seed_interval` gives it."""
    check_positive_int("n", n)
    check_real("level", level, low=0, high=1, low_open=True, high_open=True)
    if not isinstance(unit, str) or not unit or not isinstance(method, str) or not method:
        raise TypeError(f"unit and method must be non-empty strings, got {unit!r}, {method!r}")
    if unit == "seeds" and n < 5 and values is None:
        raise ValueError(f"below 5 seeds (n = {n}) the range is shown: pass the per-seed values")
    if unit == "seeds" and n < 5:
        return seed_interval(values, level=level)
    lo, hi = (float(v) for v in ci)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return {"kind": "n/a", "reason": "non-finite interval", "n": n}
    return {"kind": "bootstrap", "method": method, "lo": lo, "hi": hi, "n": n, "unit": unit, "level": level,
            "text": f"n = {n:,} {unit}; {level:.0%} bootstrap interval ({method})"}


def holm(pvalues) -> list:
    """Holm's step-down adjusted p-values [Holm 1979; spec fixed 2026-12-03 in shared/papers/README.md:
    across each paper's trend claims at one profile]: with p_(1) ≤ … ≤ p_(m), p̃_(i) = max_{j ≤ i} min(1,
    (m − j + 1) · p_(j)); H_(i) is rejected at family-wise α iff p̃_(i) ≤ α. ``pvalues``: numbers in [0, 1]
    or None (no p: passed through, not counted in m); input order kept. [0.01, 0.04, 0.03, 0.005] → [0.03,
    0.06, 0.06, 0.02]."""
    if isinstance(pvalues, (str, bytes)) or not hasattr(pvalues, "__iter__"):
        raise TypeError(f"pvalues must be a sequence of numbers or None, got {pvalues!r}")
    ps = list(pvalues)
    for i, p in enumerate(ps):
        if p is not None:
            check_real(f"pvalues[{i}]", _py(p), low=0, high=1)
    idx = sorted((i for i, p in enumerate(ps) if p is not None), key=lambda i: float(ps[i]))
    m = len(idx)
    out: list = [None] * len(ps)
    running = 0.0
    for rank, i in enumerate(idx):
        running = max(running, min(1.0, (m - rank) * float(ps[i])))
        out[i] = running
    return out


def trend_strength(table, treatment: str, *, value: str = "gc", block: str = "seed", direction: str,
                   order=None, valid: str | None = None, level: float = 0.95) -> dict:
    """The statistics beside an ordered-grid verdict (spec fixed 2026-12-03 in shared/papers/README.md),
    from a tidy table with one row per block × grid value: ``{"page": page_trend(...), "per_seed_rho":
    per_block_spearman(...), "interval": seed_interval(the per-block ρ)}``. ``order``: the grid values in
    the claimed order (default: ascending); ``direction``: "increasing" or "decreasing" along it; blocks with
    a missing or NaN cell, or ``valid`` False (a run that did not reach its target), leave Page's test whole;
    an empty ``table`` gives Page "n/a" ("no grid values"), no per-seed ρ and an "n/a" interval. They change
    no verdict."""
    levels = sorted(table[treatment].unique().tolist()) if order is None else list(order)
    if not levels:  # an empty set (e.g. no lr past the stability edge in a capped run): n/a, never an error
        _check_table(table, {"block": block, "treatment": treatment, "value": value, "valid": valid})
        page = {"L": None, "p": None, "method": None, "n": 0, "k": 0, "p_min": None, "blocks_left_out": 0,
                "blocks_left_out_ids": [], "direction": check_choice("direction", direction, _DIRECTIONS),
                "reason": "no grid values"}
        return {"page": page, "per_seed_rho": {}, "interval": seed_interval([], level=level)}
    per = per_block_spearman(table, block=block, treatment=treatment, value=value)
    return {"page": page_trend(table, block=block, treatment=treatment, value=value, order=levels,
                               direction=direction, valid=valid),
            "per_seed_rho": per,
            "interval": seed_interval([r for r in per.values() if r is not None], level=level,
                                      unit="seeds" if block == "seed" else f"{block}s")}
