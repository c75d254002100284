"""Init-loss dominance experiments of the ``gr_*`` notebooks (Teague 2022, geometric regularization): fixed
training sets, sweeps of mode dominance over conditions (widths, depths, targets, schemes), rank
correlations and contrasts of the dominance score D with bootstrap CIs from resampling initializations,
and the architecture sweep with its per-target rank summary that E-3 and E-4 share. All of it is ours;
the double-descent link (GR-2) is in ``gclib.experiments.double_descent``.

A *condition* is one network and training set: a dict with the sampling keys of
``gclib.sampling.init_loss_histogram`` (``layer_sizes``, ``init``, ``x``, ``y`` and optionally ``method``,
``bias``, ``activation``, ``loss``, ``std``) plus any scalar *labels* (``width``, ``target``, …) that become
columns of the result table. Losses are normalised by L₀ = mean y² (the loss of the constant-zero predictor)
and binned on the same fixed edges for every condition, as the design notes require.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from gclib import sampling
from gclib.device import derive_generator
from gclib.dominance import dominance_replicates, mode_dominance
from gclib.stats import percentile_ci, spearman, spearman_columns
from gclib.validate import check_positive_int, check_real

__all__ = ["DominanceSweep", "init_loss_problem", "dominance_sweep", "rank_correlation_ci", "contrast_ci",
           "max_standardized_drop", "architecture_sweep", "rank_summary", "TARGET_SEED_STRIDE", "target_seed"]

_SAMPLING_KEYS = ("layer_sizes", "init", "x", "y", "method", "bias", "activation", "loss", "std")
#: the init seed of target number t of an architecture sweep is ``seed + TARGET_SEED_STRIDE * t``: every
#: target draws its initializations from its own stream, so targets are independent blocks of Page's test
#: (spec, second revision, 2026-12-07); within a target, its sizes share the stream (common random numbers)
TARGET_SEED_STRIDE = 1000


def target_seed(seed: int, t: int) -> int:
    """The init seed of target number ``t`` (0, 1, …) of an :func:`architecture_sweep` run with ``seed``."""
    check_positive_int("t", t, allow_zero=True)
    return int(seed) + TARGET_SEED_STRIDE * t


def init_loss_problem(d_in: int, n_samples: int = 1, *, seed: int = 0, target: float | None = None):
    """A fixed training set for init-loss histograms [ours]: ``x`` (m, d_in) with rows drawn uniformly on
    the sphere of radius √d_in (so ‖x_i‖² = d_in exactly: under He init the network output then has
    variance 2 in the infinite-width limit for every row), and ``y`` (m,): all equal to ``target``, or
    i.i.d. N(0, 1) when ``target`` is None. Both from ``derive_generator(seed, "init-loss-problem")``.
    """
    check_positive_int("d_in", d_in)
    check_positive_int("n_samples", n_samples)
    if target is not None:
        check_real("target", target)
        if target == 0:
            raise ValueError("target must be non-zero (losses are normalised by L0 = mean y^2)")
    g = derive_generator(seed, "init-loss-problem")
    x = torch.randn(n_samples, d_in, generator=g, dtype=torch.float64)
    x = (x * (math.sqrt(d_in) / x.norm(dim=1, keepdim=True))).float()
    y = torch.randn(n_samples, generator=g, dtype=torch.float64).float() if target is None \
        else torch.full((n_samples,), float(target))
    return x, y


@dataclass(frozen=True, eq=False)
class DominanceSweep:
    """Result of :func:`dominance_sweep`. ``table``: one row per condition (its labels, then D, D_lo, D_hi,
    h0, hc, uc, zero_mode, central_mode_count, dominant, first_bin_mass, dead_fraction, overflow_fraction,
    contracting, log_cdf_slope, n). ``hists``: the ``LossHistogram`` on the linear edges; ``log_hists``:
    on the log edges (or None); ``modes``: the ``ModeDominance`` of each; ``boot``: (conditions, n_boot)
    bootstrap replicates of D (resampled initializations)."""

    table: pd.DataFrame
    hists: list
    log_hists: list | None
    modes: list
    boot: np.ndarray

    def boot_frame(self) -> pd.DataFrame:
        """The bootstrap replicates of D as a table: one row per condition (the table's order), one column
        ``b<i>`` per replicate — saved beside the per-condition table so the verdicts can be recomputed
        from the two tables alone (:meth:`from_tables`)."""
        return pd.DataFrame(self.boot, columns=[f"b{i}" for i in range(self.boot.shape[1])])

    @classmethod
    def from_tables(cls, table: pd.DataFrame, boot: pd.DataFrame) -> "DominanceSweep":
        """A sweep rebuilt from its saved ``table`` and :meth:`boot_frame` (no histograms or modes): enough
        for :func:`rank_correlation_ci`, :func:`rank_summary`, :func:`contrast_ci` and :meth:`mean_by`."""
        if len(table) != len(boot):
            raise ValueError(f"table has {len(table)} conditions but boot has {len(boot)} rows")
        return cls(table.reset_index(drop=True), [], None, [], boot.to_numpy(dtype=float))

    def rows(self, **labels) -> np.ndarray:
        """Indices of the conditions whose labels equal all of ``labels``."""
        mask = np.ones(len(self.table), dtype=bool)
        for key, value in labels.items():
            if key not in self.table.columns:
                raise KeyError(f"no label {key!r}; labels: {list(self.table.columns)}")
            mask &= (self.table[key] == value).to_numpy()
        return np.flatnonzero(mask)

    def mean_by(self, label: str, *, level: float = 0.95) -> tuple[pd.DataFrame, np.ndarray]:
        """Average the conditions over everything but ``label`` (e.g. D over training examples per width).

        Returns ``(table, boot)``: one row per value of ``label`` (first-appearance order) with the means of
        D, uc, dead_fraction and the percentile CI (D_lo, D_hi) of the mean's bootstrap replicates, and
        those replicates, (values, n_boot)."""
        check_real("level", level, low=0.0, high=1.0, low_open=True, high_open=True)
        values = list(dict.fromkeys(self.table[label]))
        rows, boots = [], []
        for v in values:
            idx = self.rows(**{label: v})
            boots.append(self.boot[idx].mean(0))
            lo, hi = percentile_ci(boots[-1], level)
            t = self.table.iloc[idx]
            rows.append({label: v, "D": float(t.D.mean()), "D_lo": lo, "D_hi": hi, "uc": float(t.uc.mean()),
                         "dead_fraction": float(t.dead_fraction.mean())})
        return pd.DataFrame(rows), np.vstack(boots)


def _split(hist, edge_sets):
    """Re-aggregate a histogram on the union of several edge sets into one ``LossHistogram`` per set
    (exact: every edge of every set is an edge of the union)."""
    cum = np.concatenate([[0], np.cumsum(hist.counts)])
    out = []
    for edges in edge_sets:
        pos = np.searchsorted(hist.edges, edges)
        counts = np.diff(cum[pos]).astype(np.int64)
        under = hist.underflow + int(cum[pos[0]])
        over = hist.overflow + int(cum[-1] - cum[pos[-1]])
        dbin = int(np.searchsorted(edges, hist.dead_loss, side="right")) - 1 if hist.dead else None
        out.append(sampling.LossHistogram(counts, np.asarray(edges, float), under, over, hist.n, hist.dead,
                                          dbin, hist.dead_loss))
    return out


def dominance_sweep(conditions, *, n_inits: int, edges, log_edges=None, bin_sensitivity=(), seed: int = 0,
                    device="cpu", n_boot: int = 200, level: float = 0.95,
                    chunk_size: int = 4096) -> DominanceSweep:
    """Init-loss histograms and mode dominance (design notes' definition) for every condition.

    For each condition: ``n_inits`` initializations streamed by ``sampling.init_loss_histogram`` with
    u = ℓ/L₀, L₀ = mean y², on the shared ``edges`` (equally spaced from 0, e.g. ``np.linspace(0, 4, 101)``)
    and, when given, on ``log_edges`` too (from the same draws: one pass over the union of the edge sets);
    for each B in ``bin_sensitivity`` the table gains a column ``D_B<B>``: D with B equal bins over the same
    range (design notes, step 7: the sensitivity of our definition to the bin count);
    ``sampling.mode_dominance`` on the linear histogram; and ``n_boot`` bootstrap replicates of D (numpy
    ``default_rng((seed, i))`` for condition i) with the percentile CI at ``level``. ``method="auto"`` (the
    default) means "preactivation" for Gaussian schemes on a single sample (m = 1: exact, and ~3× faster on
    CPU), "weights" otherwise (for m > 1 the batched QR of the shortcut is slower on CPU than ``bmm``).
    Every condition uses the same init ``seed`` (common random numbers across conditions of equal shape),
    unless it names its own stream: a condition's ``init_seed`` (then also a column of the table) seeds its
    initializations and its bootstrap instead.
    """
    if isinstance(conditions, dict) or not conditions:
        raise TypeError("conditions must be a non-empty list of dicts")
    check_positive_int("n_inits", n_inits)
    check_positive_int("n_boot", n_boot)
    check_real("level", level, low=0.0, high=1.0, low_open=True, high_open=True)
    lin = np.asarray(edges, dtype=float)
    if lin.ndim != 1 or lin.size < 4 or lin[0] != 0 or not np.allclose(np.diff(lin), lin[1] - lin[0]):
        raise ValueError("edges must be >= 4 equally spaced values starting at 0")
    sets = [lin]
    if log_edges is not None:
        lg = np.asarray(log_edges, dtype=float)
        if lg.ndim != 1 or lg.size < 2 or lg[0] <= 0 or not np.all(np.diff(lg) > 0):
            raise ValueError("log_edges must be >= 2 strictly increasing positive values")
        sets.append(lg)
    if isinstance(bin_sensitivity, int) or not all(isinstance(b, int) and b >= 3 for b in bin_sensitivity):
        raise ValueError(f"bin_sensitivity must be a sequence of integers >= 3, got {bin_sensitivity!r}")
    sets += [np.linspace(0.0, lin[-1], b + 1) for b in bin_sensitivity]
    both = sets[0]
    for e in sets[1:]:
        both = np.union1d(both, e)
    rows, hists, log_hists, modes, boots = [], [], [], [], []
    for i, cond in enumerate(conditions):
        if not isinstance(cond, dict) or not {"layer_sizes", "init", "x", "y"} <= set(cond):
            raise ValueError(f"conditions[{i}] must be a dict with layer_sizes, init, x and y")
        kw = {k: cond[k] for k in _SAMPLING_KEYS if k in cond}
        if kw.get("method", "auto") == "auto":
            gaussian = sampling.get_init(kw["init"]).kind == "normal"
            kw["method"] = "preactivation" if gaussian and len(kw["x"]) == 1 else "weights"
        l0 = float(kw["y"].double().pow(2).mean())
        init_seed = int(cond.get("init_seed", seed))
        h = sampling.init_loss_histogram(kw.pop("layer_sizes"), edges=both, normalize_by=l0, n_inits=n_inits,
                                         seed=init_seed, device=device, chunk_size=chunk_size, **kw)
        parts = _split(h, sets)
        h = parts[0]
        if log_edges is not None:
            log_hists.append(parts[1])
        sens = {f"D_B{b}": mode_dominance(counts=hb).D
                for b, hb in zip(bin_sensitivity, parts[1 + (log_edges is not None):])}
        md = mode_dominance(counts=h)
        _, bt = dominance_replicates(h, n_boot=n_boot, rng=np.random.default_rng((init_seed, i)))
        labels = {k: v for k, v in cond.items() if k not in _SAMPLING_KEYS}
        labels.setdefault("init", cond["init"])
        d_lo, d_hi = percentile_ci(bt, level)
        rows.append({**labels, "D": md.D, "D_lo": d_lo, "D_hi": d_hi,
                     "h0": md.h0, "hc": md.hc, "uc": md.uc, "zero_mode": md.zero_mode,
                     "central_mode_count": md.central_mode_count, "dominant": md.dominant,
                     "first_bin_mass": md.first_bin_mass, "dead_fraction": md.dead_fraction,
                     "overflow_fraction": md.overflow_fraction, "contracting": md.contracting,
                     "log_cdf_slope": md.log_cdf_slope, "n": md.n, **sens})
        hists.append(h)
        modes.append(md)
        boots.append(bt)
    return DominanceSweep(pd.DataFrame(rows), hists, log_hists if log_edges is not None else None, modes,
                          np.vstack(boots))


def rank_correlation_ci(sweep: DominanceSweep, x: str, *, groups: str | None = None, level: float = 0.95,
                        column: str = "D", **labels) -> tuple[float, tuple[float, float] | None]:
    """Spearman ρ between the label ``x`` (e.g. "width") and D, with a bootstrap CI over initializations.

    With ``groups`` (e.g. "target") ρ is computed within each group and averaged over groups [ours]; each
    bootstrap replicate recomputes D for every condition (``sweep.boot``), so the CI reflects Monte Carlo
    error of the histograms, not resampling of the x grid. ``labels`` restrict the rows (e.g. depth=3).
    ``column``: another table column (e.g. "D_B25") gives the point estimate only (CI None).
    """
    check_real("level", level, low=0.0, high=1.0, low_open=True, high_open=True)
    idx = sweep.rows(**labels)
    tab = sweep.table.iloc[idx]
    keys = [None] if groups is None else list(dict.fromkeys(tab[groups]))
    point, reps = [], []
    for key in keys:
        sel = idx if key is None else idx[(tab[groups] == key).to_numpy()]
        if sel.size < 3:
            raise ValueError(f"need >= 3 conditions per group for a rank correlation, got {sel.size}")
        xs = sweep.table[x].to_numpy(dtype=float)[sel]
        point.append(spearman(xs, sweep.table[column].to_numpy(float)[sel]))
        reps.append(spearman_columns(xs, sweep.boot[sel]))
    rho = float(np.nanmean(point)) if np.isfinite(point).any() else math.nan
    if column != "D":
        return rho, None
    reps = np.vstack(reps)
    ok = np.isfinite(reps).any(axis=0)
    boot = np.nanmean(reps[:, ok], axis=0) if ok.any() else np.array([np.nan])
    return rho, percentile_ci(boot, level)


def contrast_ci(sweep: DominanceSweep, a: dict, b: dict, *,
                level: float = 0.95) -> tuple[float, tuple[float, float]]:
    """mean D over the rows matching labels ``a`` minus mean D over rows matching ``b`` (e.g. two inits
    over the same targets), with the percentile bootstrap CI over initializations."""
    ia, ib = sweep.rows(**a), sweep.rows(**b)
    if ia.size == 0 or ib.size == 0:
        raise ValueError(f"no rows match {a if ia.size == 0 else b}")
    d = sweep.table["D"].to_numpy(float)
    boot = sweep.boot[ia].mean(0) - sweep.boot[ib].mean(0)
    return float(d[ia].mean() - d[ib].mean()), percentile_ci(boot, level)


def max_standardized_drop(mode) -> float:
    """max over bins k below the highest central mode of (c_k − c_{k+1})/√(c_k + c_{k+1}) (0 when both are
    0): the largest fall of the live counts on the way up to the mode, in Poisson SDs of the difference —
    the statistic behind ``ModeDominance.contracting`` (design notes, step 5), which holds iff it is at most
    the tolerance of ``gclib.sampling`` (3 SD). NaN without a central mode."""
    if not math.isfinite(mode.uc):
        return math.nan
    kc = int(np.searchsorted(mode.edges, mode.uc)) - 1
    c = mode.counts[:kc + 1].astype(float)
    if c.size < 2:
        return 0.0
    s = np.sqrt(c[:-1] + c[1:])
    z = np.where(s > 0, (c[:-1] - c[1:]) / np.where(s > 0, s, 1.0), 0.0)
    return float(z.max())


def architecture_sweep(vary: str, values, *, targets, d_in: int, init: str, loss: str = "mse", width=None,
                       depth=None, n_inits: int, n_bins: int = 100, u_max: float = 4.0, bin_counts=(),
                       seed: int = 0, device="cpu", n_boot: int = 200) -> DominanceSweep:
    """The E-3 / E-4 sweep [ours]: single-sample init-loss dominance of MLPs ``d_in → hidden^depth → 1``
    while ``vary`` ("width" or "depth") takes ``values`` (the other fixed by ``width`` or ``depth``), for
    each single-sample target y in ``targets`` (one input x on the sphere of radius √d_in, the same for
    every y: :func:`init_loss_problem`), on ``n_bins`` equal bins of u ∈ [0, u_max] with the bin-count
    sensitivity ``bin_counts``. Target number t draws its initializations from its own stream,
    :func:`target_seed` = ``seed + 1000·t``, shared by its sizes: the targets are independent blocks (the
    input x is shared, but with Gaussian weights the output's distribution depends on x only through
    ‖x‖ = √d_in). Table columns: target, ``vary``, init_seed, init, then :func:`dominance_sweep`'s."""
    if vary not in ("width", "depth"):
        raise ValueError(f"vary must be 'width' or 'depth', got {vary!r}")
    fixed = depth if vary == "width" else width
    check_positive_int("depth" if vary == "width" else "width", fixed)
    check_positive_int("n_bins", n_bins)
    check_real("u_max", u_max, low=0.0, low_open=True)
    x, _ = init_loss_problem(d_in, 1, seed=seed, target=1.0)
    conditions = []
    for t, y in enumerate(targets):
        _, y_single = init_loss_problem(d_in, 1, seed=seed, target=y)
        for v in values:
            w, n_hidden = (v, fixed) if vary == "width" else (fixed, v)
            conditions.append({"layer_sizes": [d_in] + [w] * n_hidden + [1], "init": init, "x": x,
                               "y": y_single, "loss": loss, "target": y, vary: v,
                               "init_seed": target_seed(seed, t)})
    return dominance_sweep(conditions, n_inits=n_inits, edges=np.linspace(0.0, u_max, n_bins + 1),
                           bin_sensitivity=bin_counts, seed=seed, device=device, n_boot=n_boot)


def rank_summary(sweep: DominanceSweep, vary: str, targets, bin_counts=(), *, level: float = 0.95) -> dict:
    """The rank statistics of an :func:`architecture_sweep`: Spearman ρ(``vary``, D) averaged over the
    targets with its bootstrap CI (the scorecard statistic), ρ and CI per target, and the point ρ with each
    bin count of ``bin_counts``. Returns ``{"rho", "ci", "per_target": [(ρ, (lo, hi)), …], "by_bins":
    {B: ρ}, "text"}``, ``text`` the summary the notebooks print (two decimals).

    The targets are the table's own (``targets`` only orders them): a table read back from its CSV holds
    them to 10 significant digits, which a parameter's float need not equal. With fewer than 3 values of
    ``vary`` no rank correlation exists: ρ and the CI are NaN, and the text says so."""
    table = sweep.table["target"].tolist()
    seen = list(dict.fromkeys(table))
    order = sorted(seen, key=lambda t: min(range(len(targets)), key=lambda i: abs(targets[i] - t))) \
        if len(targets) else seen
    if sweep.table[vary].nunique() < 3:
        text = f"Spearman rho({vary}, D): n/a (fewer than 3 values of {vary}: no rank correlation)"
        nan = (math.nan, math.nan)
        return {"rho": math.nan, "ci": nan, "per_target": [(math.nan, nan)] * len(order), "by_bins": {},
                "text": text}
    rho, ci = rank_correlation_ci(sweep, vary, groups="target", level=level)
    per_target = [rank_correlation_ci(sweep, vary, level=level, target=y) for y in order]
    by_bins = {b: rank_correlation_ci(sweep, vary, groups="target", column=f"D_B{b}")[0] for b in bin_counts}
    lines = [f"Spearman rho({vary}, D), mean over targets: {rho:.2f}  95% CI [{ci[0]:.2f}, {ci[1]:.2f}]"]
    lines += [f"  y = {y:g}: rho = {r:.2f}  [{lo:.2f}, {hi:.2f}]"
              for y, (r, (lo, hi)) in zip(order, per_target)]
    lines += [f"  with {b} bins: rho = {r:.2f}" for b, r in by_bins.items()]
    return {"rho": rho, "ci": ci, "per_target": per_target, "by_bins": by_bins, "text": "\n".join(lines)}
