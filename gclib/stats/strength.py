"""How strong each verdict is: the statistics beside the verdicts, which change none [spec: shared/papers/
README.md, "Statistics beside the verdicts" (fixed 2026-12-03) and its "second revision" (fixed 2026-12-07),
both before any run that reports them]:

- Page's L test for an ordered alternative (:func:`page_trend`), blocks = independent replicates (seeds,
  targets drawn from their own seed streams, draws); no p where blocks share random numbers; grid values with
  a missing cell dropped before blocks; the smallest p of the method that gave p (:func:`page_floor`);
- the per-block Spearman ρ (:func:`per_block_spearman`), only over ≥ 3 grid values (over two it is ±1 by
  construction);
- the interval or range over blocks (:func:`seed_interval`), the labelled interval a verdict was judged
  with (:func:`verdict_interval`; one of zero width is "no Monte Carlo spread", never an interval);
- Holm's step-down adjustment across a paper's trend claims (:func:`holm`).
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from gclib.stats.basic import spearman
from gclib.validate import check_choice, check_positive_int, check_real

__all__ = ["page_trend", "page_floor", "min_page_p", "per_block_spearman", "seed_interval",
           "verdict_interval", "holm", "trend_strength", "MIN_GRID"]

_DIRECTIONS = ("increasing", "decreasing")
#: the fewest grid values a trend statistic is computed over: Page's test needs 3, and a per-block ρ over two
#: values is ±1 by construction (spec, second revision)
MIN_GRID = 3


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
    """The smallest p-value Page's *exact* test can give with ``n`` ≥ 0 blocks and ``k`` ≥ 1 treatments:
    (1/k!)^n, the null probability that every block ranks the k treatments in the claimed order (the k!
    rankings of a block equally likely, blocks independent); 3 seeds × 4 grid values: (1/24)³ ≈ 7.2e-5; 0.0
    past the float range. [Page 1963]"""
    check_positive_int("n", n, allow_zero=True)
    check_positive_int("k", k)
    return 1 / math.factorial(k) ** n


def page_floor(n: int, k: int, method: str) -> float:
    """The smallest p the ``method`` that gave Page's p can give with ``n`` blocks and ``k`` treatments (spec,
    second revision): the exact test's (1/k!)^n (:func:`min_page_p`), or for the normal approximation
    ("asymptotic", scipy's) its p at the largest possible L, L_max = n·k(k+1)(2k+1)/6: 1 − Φ((L_max − E)/σ)
    with E = n·k(k+1)²/4 and σ² = n·k²(k+1)(k²−1)/144 [Page 1963]."""
    check_choice("method", method, ("exact", "asymptotic"))
    if method == "exact":
        return min_page_p(n, k)
    from scipy.stats import norm

    check_positive_int("n", n)
    check_positive_int("k", k)
    l_max = n * k * (k + 1) * (2 * k + 1) / 6
    mean, var = n * k * (k + 1) ** 2 / 4, n * k ** 2 * (k + 1) * (k ** 2 - 1) / 144
    return float(norm.sf((l_max - mean) / math.sqrt(var)))


def page_trend(table, *, block: str, treatment: str, value: str, order, direction: str,
               valid: str | None = None, unit: str = "seeds", shared: str | None = None) -> dict:
    """Page's L test for an ordered alternative, one-sided in the claimed direction, the blocks (``unit``:
    "seeds", "targets", "draws") as blocks and the grid values as treatments [Page 1963; spec of
    2026-12-03, second revision 2026-12-07].

    Each block's values are ranked within the block (1 = smallest); with R_j the rank sum of the j-th
    treatment in the claimed order, L = Σ_j j · R_j, large when the values rise along the claimed order
    (``scipy.stats.page_trend_test``, whose default ``predicted_ranks`` [1, …, k] means "columns in order of
    increasing predicted value"). For ``direction="decreasing"`` the columns are reversed, so the test asks
    whether the values *fall* along ``order``. p = P(L ≥ L_obs | no trend): ``method="exact"`` (Odeh 1977's
    recursion over all (k!)^n rankings) where scipy's "auto" would choose it — k ≤ 8, n ≤ 20 and not
    (n > 12 and k > 3), Page's own table range — else scipy's default (the normal approximation). Ties get
    mid-ranks; scipy's exact p then truncates L to an integer, which is conservative. ``p_min`` is the floor
    of the method that gave p (:func:`page_floor`), and ``at_floor`` says whether p sits on it.

    Missing cells (a NaN or infinite value, a missing (block, treatment) cell, or a row whose ``valid``
    column is False: a run that diverged, stalled or did not reach its target): the grid values with one
    are dropped from every block first, as long as at least 3 remain (``treatments_dropped``); only if fewer
    would remain are the blocks with one left out whole instead (``blocks_left_out``).

    ``shared``: why the blocks share random numbers (e.g. one init seed for every target), or None when
    they are independent replicates. Page's null model ranks each block independently of the others, so
    with shared random numbers no p is reported: ``reason`` says why.

    Returns a dict: ``L``, ``p``, ``method`` ("exact" or "asymptotic"), ``n`` (blocks used), ``k`` (grid
    values used), ``block_unit``, ``p_min``, ``p_min_method``, ``at_floor``, ``treatments_dropped``,
    ``blocks_left_out`` (count), ``blocks_left_out_ids``, ``direction``, ``reason`` (None, or why there is no
    p: "k < 3", "n < 2", or the ``shared`` reason).
    """
    from scipy.stats import page_trend_test

    _check_table(table, {"block": block, "treatment": treatment, "value": value, "valid": valid})
    check_choice("direction", direction, _DIRECTIONS)
    if isinstance(order, (str, bytes)) or not hasattr(order, "__len__") or len(order) == 0:
        raise ValueError(f"order must be a non-empty sequence of grid values, got {order!r}")
    if not isinstance(unit, str) or not unit:
        raise TypeError(f"unit must be a non-empty string, got {unit!r}")
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

    wide = table.pivot(index=block, columns=treatment, values=value).reindex(columns=order)  # blocks sorted
    blocks = [_py(b) for b in wide.index]
    mat = wide.to_numpy(dtype=float, copy=True)  # a missing cell is NaN
    if valid is not None:
        bad = table.loc[~table[valid].astype(bool), [block, treatment]]
        for b, t in zip(bad[block].map(_py), bad[treatment].map(_py)):
            mat[blocks.index(b), order.index(t)] = np.nan
    ok = np.isfinite(mat)
    cols, dropped = np.ones(len(order), dtype=bool), []
    missing_cols = ~ok.all(axis=0)
    if missing_cols.any() and (~missing_cols).sum() >= MIN_GRID:  # drop grid values before blocks
        cols, dropped = ~missing_cols, [v for v, m in zip(order, missing_cols) if m]
    keep = ok[:, cols].all(axis=1)
    left = [b for b, k_ in zip(blocks, keep) if not k_]
    n, k = int(keep.sum()), int(cols.sum())
    out = {"L": None, "p": None, "method": None, "n": n, "k": k, "block_unit": unit,
           "p_min": None, "p_min_method": None, "at_floor": None, "treatments_dropped": dropped,
           "blocks_left_out": len(left), "blocks_left_out_ids": left, "direction": direction, "reason": None}
    if k < MIN_GRID:
        return {**out, "reason": "k < 3"}
    if n < 2:
        return {**out, "reason": "n < 2"}
    if shared:
        return {**out, "reason": f"blocks share random numbers ({shared}): Page's null model needs "
                                 "independent blocks, so no p"}
    data = mat[keep][:, cols]
    data = data[:, ::-1] if direction == "decreasing" else data
    exact = k <= 8 and n <= 20 and not (n > 12 and k > 3)  # scipy's "auto" rule (Page 1963's tables)
    res = page_trend_test(data, method="exact") if exact else page_trend_test(data)
    method = "exact" if exact else "asymptotic"
    p, floor = min(float(res.pvalue), 1.0), page_floor(n, k, method)
    return {**out, "L": float(res.statistic), "p": p, "method": str(res.method), "p_min": floor,
            "p_min_method": "exact test: (1/k!)^n" if exact else "normal approximation at the largest L",
            "at_floor": bool(p <= floor * (1 + 1e-9))}


def per_block_spearman(table, *, block: str, treatment: str, value: str) -> dict:
    """Per block (seed), Spearman ρ(treatment, value) over that block's rows with a finite value
    (:func:`~gclib.stats.basic.spearman`, rounded to 12 decimals) [spec: the per-seed ρ beside the seed-mean
    ρ]. ``table``: tidy pandas DataFrame; ``block``, ``treatment``, ``value``: its column names. Returns
    ``{block id: ρ}`` in block order, ρ a float, or None where a block has fewer than 3 distinct grid values
    with a finite value (over two, ρ is ±1 by construction: spec, second revision) or a constant value
    (never NaN)."""
    _check_table(table, {"block": block, "treatment": treatment, "value": value})
    out = {}
    for b, g in table.groupby(block, sort=True):
        x, y = g[treatment].to_numpy(dtype=float), g[value].to_numpy(dtype=float)
        ok = np.isfinite(x) & np.isfinite(y)
        rho = spearman(x[ok], y[ok]) if np.unique(x[ok]).size >= MIN_GRID else math.nan
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
    and n as the spec asks; changes no verdict. Below 5 seeds the range of ``values`` (the per-seed values,
    required then) instead, as :func:`seed_interval` gives it. An interval of zero width (every resample gave
    the same value, e.g. a rank statistic over histograms of 10⁷ initializations) is no interval: kind
    "no-spread", with the value and the text "no Monte Carlo spread at n = … (every resample gave …)"
    (spec, second revision); the spread that does exist (across blocks) is the claim's ``interval``. With
    ``values`` given, n counts its finite entries (a diverged seed is no replicate); none: kind "n/a"."""
    if values is not None:
        n = int(np.isfinite(np.asarray([math.nan if v is None else v for v in np.ravel(values)],
                                       dtype=float)).sum())
        if n == 0:
            return {"kind": "n/a", "reason": "no values", "n": 0}
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
    if lo == hi:
        return {"kind": "no-spread", "value": lo, "n": n, "unit": unit, "method": method, "level": level,
                "text": f"no Monte Carlo spread at n = {n:,} {unit}: every resample gave {lo:.3g}"}
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
                   order=None, valid: str | None = None, level: float = 0.95, unit: str | None = None,
                   stream: str | None = None) -> dict:
    """The statistics beside an ordered-grid verdict (spec of 2026-12-03, second revision 2026-12-07), from
    a tidy table with one row per block × grid value: ``{"page": page_trend(...), "per_seed_rho":
    per_block_spearman(...), "interval": seed_interval(the per-block ρ)}``. ``order``: the grid values in
    the claimed order (default: ascending); ``direction``: "increasing" or "decreasing" along it; ``unit``:
    what a block is, plural (default: "seeds" for ``block="seed"``, else ``block + "s"``); grid values with a
    missing or NaN cell, or ``valid`` False, are dropped before blocks (:func:`page_trend`).

    ``stream``: a column naming each row's random-number stream (e.g. its init seed). When two blocks share
    a stream, they are not independent replicates: Page's test then reports no p, and says why. An empty
    ``table`` gives Page "n/a" ("no grid values"), no per-block ρ and an "n/a" interval. They change no
    verdict."""
    unit = unit or ("seeds" if block == "seed" else f"{block}s")
    levels = sorted(table[treatment].unique().tolist()) if order is None else list(order)
    if not levels:  # an empty set (e.g. no lr past the stability edge in a capped run): n/a, never an error
        _check_table(table, {"block": block, "treatment": treatment, "value": value, "valid": valid})
        page = {"L": None, "p": None, "method": None, "n": 0, "k": 0, "block_unit": unit, "p_min": None,
                "p_min_method": None, "at_floor": None, "treatments_dropped": [], "blocks_left_out": 0,
                "blocks_left_out_ids": [], "direction": check_choice("direction", direction, _DIRECTIONS),
                "reason": "no grid values"}
        return {"page": page, "per_seed_rho": {}, "interval": seed_interval([], level=level, unit=unit)}
    shared = None
    if stream is not None:
        _check_table(table, {"stream": stream})
        owners = table.groupby(stream)[block].nunique()
        if (owners > 1).any():
            shared = (f"{stream} {_py(owners[owners > 1].index[0])!r} is used by more than one of the "
                      f"{unit}")
    per = per_block_spearman(table, block=block, treatment=treatment, value=value)
    out = {"page": page_trend(table, block=block, treatment=treatment, value=value, order=levels,
                              direction=direction, valid=valid, unit=unit, shared=shared),
           "per_seed_rho": per,
           "interval": seed_interval([r for r in per.values() if r is not None], level=level, unit=unit)}
    if len(levels) < MIN_GRID:
        out["per_seed_rho_note"] = f"no per-{unit[:-1]} ρ over {len(levels)} grid values (±1 by construction)"
    return out
