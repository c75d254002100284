"""Record each reproduced claim: its statistic, confidence interval, threshold and verdict, and compute the
statistics behind the verdicts (bootstrap and Spearman CIs, sweep trends, curve peaks).

A notebook creates one :class:`Scorecard`, calls :meth:`Scorecard.record` for every claim it tests (thresholds
come from ``shared/papers``, fixed before running), prints :meth:`Scorecard.summary` last (what nbval
compares) and :meth:`Scorecard.save` writes ``<out>/<figure>.scorecard.json`` for the book's scorecard page.
"""
from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ._validate import check_choice, check_positive_int, check_real

__all__ = ["Scorecard", "Claim", "bootstrap_ci", "spearman_ci", "load_scorecards", "trend_summary",
           "peak_index", "peak_prominence", "seed_mean_spearman", "seed_mean_spread"]

_DIRECTIONS = (">=", "<=", ">", "<", "in", "report")
#: Scorecard protocols: "v1" (the design notes' first recipes) and "v2" (fixed before any v2 run; it adds
#: checks beside the v1 ones and replaces none). A v2 claim's description ends with PROTOCOL_NOTES["v2"].
PROTOCOLS = ("v1", "v2")
PROTOCOL_NOTES = {"v1": "", "v2": "protocol v2, fixed 2026-11-28"}


@dataclass(frozen=True)
class Claim:
    """One checked claim. ``ci`` is ``(lo, hi)`` or ``None``; ``threshold`` a number, ``(lo, hi)`` for
    ``direction="in"``, or ``None`` for ``direction="report"`` (a measured direction with no pass bar)."""

    claim_id: str
    description: str
    statistic: float
    ci: tuple[float, float] | None
    threshold: float | tuple[float, float] | None
    direction: str
    passed: bool
    protocol: str = "v1"

    @property
    def checked(self) -> bool:
        """False for ``direction="report"``: a measured value shown beside the checks, with no verdict."""
        return self.direction != "report"

    @property
    def verdict(self) -> str:
        if not self.checked:
            return "—"
        return "✓" if self.passed else "✗"


def _num(x) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.floating, np.integer)):
        raise TypeError(f"expected a real number, got {type(x).__name__} {x!r}")
    return float(x)


def _fmt(x: float, digits: int) -> str:
    """``digits`` decimals; scientific only far outside that range (|x| < 10^-(digits+2) or
    ≥ 10^(digits+3)), so values near 10^-digits, e.g. 0.0098 and 0.0101, both print 0.01 (a switch of
    notation right at 10^-digits made a bootstrap bound print 9.78e-03 on one CPU and 0.01 on another)."""
    if x is None:
        return "—"
    if not math.isfinite(x):
        return str(x)
    if x != 0 and (abs(x) >= 10 ** (digits + 3) or abs(x) < 10 ** (-digits - 2)):
        return f"{x:.{digits}e}"
    return f"{x:.{digits}f}"


class Scorecard:
    """The claims checked by one figure notebook at one profile."""

    def __init__(self, figure: str, profile: str = "smoke"):
        if not isinstance(figure, str) or not figure:
            raise ValueError(f"figure must be a non-empty string, got {figure!r}")
        check_choice("profile", profile, ("smoke", "cpu", "paper", "custom"))
        self.figure = figure
        self.profile = profile
        self.claims: list[Claim] = []

    def record(self, claim_id: str, *, statistic, passed: bool, ci=None, threshold=None,
               direction: str = ">=", description: str = "", protocol: str = "v1") -> Claim:
        """Record one claim. ``passed`` is computed by the caller from the statistic/CI and the threshold
        fixed in ``shared/papers``; it must be a bool (numpy bools are accepted). ``protocol`` "v2" marks a
        check of the revised protocol: its description gets "(protocol v2, fixed 2026-11-28)" appended."""
        if not isinstance(claim_id, str) or not claim_id:
            raise ValueError(f"claim_id must be a non-empty string, got {claim_id!r}")
        if any(c.claim_id == claim_id for c in self.claims):
            raise ValueError(f"claim_id {claim_id!r} recorded twice")
        check_choice("direction", direction, _DIRECTIONS)
        check_choice("protocol", protocol, PROTOCOLS)
        if PROTOCOL_NOTES[protocol] and PROTOCOL_NOTES[protocol] not in description:
            description = f"{description} ({PROTOCOL_NOTES[protocol]})".strip()
        if not isinstance(passed, (bool, np.bool_)):
            raise TypeError(f"passed must be a bool, got {type(passed).__name__}")
        stat = _num(statistic)
        if ci is not None:
            lo, hi = (_num(v) for v in ci)
            ci = (lo, hi)
        if threshold is not None:
            threshold = tuple(_num(v) for v in threshold) if isinstance(threshold, (tuple, list)) \
                else _num(threshold)
        claim = Claim(claim_id, description, stat, ci, threshold, direction, bool(passed), protocol)
        self.claims.append(claim)
        return claim

    def summary(self, digits: int = 2) -> str:
        """One rounded, stable line per claim: ``id  stat=… [lo, hi]  (dir thr)  ✓/✗``."""
        check_positive_int("digits", digits)
        if not self.claims:
            return f"{self.figure} ({self.profile}): no claims recorded"
        width = max(len(c.claim_id) for c in self.claims)
        checked = [c for c in self.claims if c.checked]
        reported = len(self.claims) - len(checked)
        lines = [f"{self.figure} ({self.profile}): {sum(c.passed for c in checked)}/{len(checked)} ✓"
                 + (f" (+{reported} reported)" if reported else "")]
        for c in self.claims:
            ci = f" [{_fmt(c.ci[0], digits)}, {_fmt(c.ci[1], digits)}]" if c.ci else ""
            if c.direction == "report":
                thr = "(reported)"
            elif c.direction == "in":
                thr = f"(in [{_fmt(c.threshold[0], digits)}, {_fmt(c.threshold[1], digits)}])"
            else:
                thr = f"({c.direction} {_fmt(c.threshold, digits)})"
            lines.append(f"{c.claim_id:<{width}}  stat={_fmt(c.statistic, digits)}{ci}  {thr}  {c.verdict}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        claims = []
        for c in self.claims:
            d = asdict(c)
            d["ci"] = list(c.ci) if c.ci else None
            d["threshold"] = list(c.threshold) if isinstance(c.threshold, tuple) else c.threshold
            d["verdict"] = c.verdict
            claims.append(d)
        return {"figure": self.figure, "profile": self.profile, "claims": claims}

    def save(self, out_dir: str | os.PathLike | None = None) -> Path:
        """Write ``<out>/<figure>.scorecard.json`` (see :func:`gclib.plotting.output_dir`)."""
        from .plotting import output_dir

        path = output_dir(out_dir) / f"{self.figure}.scorecard.json"
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=True) + "\n")
        return path

    def __repr__(self) -> str:
        return f"Scorecard({self.figure!r}, profile={self.profile!r}, claims={len(self.claims)})"


def load_scorecards(paths) -> list[dict]:
    """Read scorecard JSON files (an iterable of paths) into dicts, sorted by figure id."""
    cards = [json.loads(Path(p).read_text()) for p in paths]
    return sorted(cards, key=lambda c: c["figure"])


def bootstrap_ci(values, stat=np.mean, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0):
    """Percentile bootstrap CI of ``stat`` over the first axis of ``values`` (e.g. one value per seed).

    Returns ``(estimate, (lo, hi))``; with a single value the CI collapses to that value.
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
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, arr.shape[0], size=(n_boot, arr.shape[0]))
    boots = np.array([stat(arr[i]) for i in idx], dtype=float)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(boots, [alpha, 1 - alpha])
    return est, (float(lo), float(hi))


def spearman_ci(x, y, *, groups=None, n_boot: int = 2000, level: float = 0.95, seed: int = 0):
    """Spearman ρ between ``x`` and ``y`` with a bootstrap CI.

    Without ``groups`` the (x, y) pairs are resampled. With ``groups`` (e.g. the seed of each row), whole
    groups are resampled, so a CI over seeds keeps each seed's sweep together. Returns ``(rho, (lo, hi))``.
    Degenerate resamples (constant x or y) are dropped.
    """
    from scipy.stats import spearmanr

    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or x.size < 3:
        raise ValueError(f"x and y must be 1-D of equal length >= 3, got {x.shape} and {y.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("x and y must be finite")
    check_positive_int("n_boot", n_boot)

    def rho_of(xs, ys):
        if np.ptp(xs) == 0 or np.ptp(ys) == 0:
            return np.nan
        return float(spearmanr(xs, ys).statistic)

    rho = rho_of(x, y)
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
        boots.append(rho_of(x[idx], y[idx]))
    boots = np.asarray(boots)
    boots = boots[np.isfinite(boots)]
    if boots.size == 0:
        return rho, (rho, rho)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(boots, [alpha, 1 - alpha])
    return rho, (float(lo), float(hi))


# ---------------------------------------------------------------- sweep statistics behind the verdicts
def trend_summary(final, hp: str, *, value: str = "gc", seed: str = "seed", n_boot: int = 2000) -> dict:
    """The G1–G7 scorecard statistics of a sweep [ours, as fixed in shared/papers/geometric_complexity.md]:
    per seed, Spearman ρ(hp, value) over the hp levels, and value(largest hp) − value(smallest hp).

    Returns ``{"rho": mean over seeds, "rho_ci": bootstrap CI over seeds, "rho_per_seed": array,
    "diff": mean over seeds, "diff_ci": CI, "diff_per_seed": array, "n_seeds": int}``
    (:func:`bootstrap_ci`, percentile, 95 %). Rows with a NaN ``value`` (e.g. a run that never reached
    the target loss of ``gclib.train.value_at_train_loss``) are dropped; a seed with < 3 distinct levels
    left has no ρ, one missing an extreme level has no difference; a statistic with no seed left is NaN
    with CI ``None``.
    """
    from scipy.stats import spearmanr

    for col in (hp, value, seed):
        if col not in final.columns:
            raise ValueError(f"final has no column {col!r}")
    ok = final.dropna(subset=[value])
    lo_level, hi_level = min(final[hp]), max(final[hp])
    rhos, diffs = [], []
    for _, g in ok.groupby(seed, sort=True):
        if g[hp].nunique() >= 3 and g[value].nunique() >= 2:
            rhos.append(float(spearmanr(g[hp], g[value]).statistic))
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
    boots = boots[np.isfinite(boots)]
    if not boots.size:
        return est, None
    alpha = (1 - level) / 2
    lo, hi = np.quantile(boots, [alpha, 1 - alpha])
    return est, (float(lo), float(hi))


def seed_mean_spearman(table, hp: str, value: str = "gc", *, seed: str = "seed", n_boot: int = 2000,
                       level: float = 0.95, boot_seed: int = 0) -> dict:
    """Protocol v2's trend statistic [fixed in shared/papers, 2026-11-28]: Spearman ρ between the levels of
    ``hp`` and the seed-mean of ``value`` at each level (NaN values — runs that did not reach the target —
    are left out of the mean; a level with no value left is dropped), with a percentile bootstrap CI over
    seeds (whole seeds resampled, means and ρ recomputed). ``table``: a tidy DataFrame, one row per run.
    Returns ``{"rho", "rho_ci", "levels", "means", "n_levels", "n_seeds"}`` (levels and seed means as
    arrays); ρ is NaN with fewer than 3 levels left or a constant mean."""
    from scipy.stats import spearmanr

    levels, mat = _seed_matrix(table, hp, value, seed)

    def rho(means):
        ok = np.isfinite(means)
        if ok.sum() < 3 or np.ptp(means[ok]) == 0:
            return math.nan
        return float(spearmanr(levels[ok], means[ok]).statistic)

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
