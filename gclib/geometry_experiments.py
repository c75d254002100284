"""Experiment helpers shared by the ``gr_*`` notebooks (Teague 2022, geometric regularization): sweeps of
init-loss mode dominance over conditions, rank correlations and contrasts of the dominance score D with
bootstrap CIs from resampling initializations, and the double-descent link (GR-2). All of it is ours.

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

from gclib import data, sampling, train
from gclib._device import derive_generator
from gclib._validate import check_positive_int, check_real

__all__ = ["DOUBLE_DESCENT_CONFIG", "DominanceSweep", "init_loss_problem", "dominance_sweep",
           "rank_correlation_ci", "contrast_ci", "max_standardized_drop", "dominance_transition",
           "interpolation_threshold", "transition_distance", "config_dataset", "config_condition"]

#: The fixed part of the G8 double-descent training setup (``gclib.train.run_config`` keys), shared by the
#: gc_double_descent and gr_double_descent notebooks so the two train identical networks [ours]: one hidden
#: ReLU layer (``hidden`` is swept), ``nn.Linear``'s default init, full-batch Adam on the squared loss of
#: one-hot targets. Data, widths, learning rate and steps come from each notebook's parameters.
DOUBLE_DESCENT_CONFIG: dict = {"model": "mlp", "activation": "relu", "init": "pytorch_default",
                               "optimizer": "adam", "batch_size": None, "loss": "mse", "track_bounds": False}

_SAMPLING_KEYS = ("layer_sizes", "init", "x", "y", "method", "bias", "activation", "loss", "std")


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
            lo, hi = _percentile_ci(boots[-1], level)
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


def _boot_D(hist, mode, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """D of ``n_boot`` multinomial resamples of the N initializations (live bins, overflow, dead atom)."""
    live, n = mode.counts.astype(np.int64), hist.n
    ov = n - int(live.sum()) - hist.dead
    draws = rng.multinomial(n, np.concatenate([live, [ov, hist.dead]]) / n, size=n_boot)
    out = np.empty(n_boot)
    for i, r in enumerate(draws):
        cnt, over, dead = r[:-2].copy(), int(r[-2]), int(r[-1])
        if dead and hist.dead_bin is not None and hist.dead_bin < cnt.size:
            cnt[hist.dead_bin] += dead
        elif dead:
            over += dead
        out[i] = sampling.mode_dominance(counts=cnt, edges=hist.edges, overflow=over, dead=dead,
                                         dead_u=hist.dead_loss if dead else 1.0).D
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
    Every condition uses the same init ``seed`` (common random numbers across conditions of equal shape).
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
    a = (1.0 - level) / 2.0
    for i, cond in enumerate(conditions):
        if not isinstance(cond, dict) or not {"layer_sizes", "init", "x", "y"} <= set(cond):
            raise ValueError(f"conditions[{i}] must be a dict with layer_sizes, init, x and y")
        kw = {k: cond[k] for k in _SAMPLING_KEYS if k in cond}
        if kw.get("method", "auto") == "auto":
            gaussian = sampling.get_init(kw["init"]).kind == "normal"
            kw["method"] = "preactivation" if gaussian and len(kw["x"]) == 1 else "weights"
        l0 = float(kw["y"].double().pow(2).mean())
        h = sampling.init_loss_histogram(kw.pop("layer_sizes"), edges=both, normalize_by=l0, n_inits=n_inits,
                                         seed=seed, device=device, chunk_size=chunk_size, **kw)
        parts = _split(h, sets)
        h = parts[0]
        if log_edges is not None:
            log_hists.append(parts[1])
        sens = {f"D_B{b}": sampling.mode_dominance(counts=hb).D
                for b, hb in zip(bin_sensitivity, parts[1 + (log_edges is not None):])}
        md = sampling.mode_dominance(counts=h)
        bt = _boot_D(h, md, n_boot, np.random.default_rng((seed, i)))
        labels = {k: v for k, v in cond.items() if k not in _SAMPLING_KEYS}
        labels.setdefault("init", cond["init"])
        rows.append({**labels, "D": md.D, "D_lo": float(np.quantile(bt, a)),
                     "D_hi": float(np.quantile(bt, 1 - a)),
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


def _percentile_ci(values: np.ndarray, level: float) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    a = (1.0 - level) / 2.0
    return float(np.quantile(values, a)), float(np.quantile(values, 1.0 - a))


def _ranks_rho(x: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Spearman ρ between x (n,) and every column of d (n, B); NaN for a constant column."""
    from scipy.stats import rankdata

    rx = rankdata(x)
    rd = rankdata(d, axis=0)
    rx, rd = rx - rx.mean(), rd - rd.mean(axis=0)
    den = np.sqrt((rx ** 2).sum() * (rd ** 2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx[:, None] * rd).sum(axis=0) / np.where(den > 0, den, 1.0), np.nan)


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
        point.append(_ranks_rho(xs, sweep.table[column].to_numpy(float)[sel][:, None])[0])
        reps.append(_ranks_rho(xs, sweep.boot[sel]))
    rho = float(np.nanmean(point)) if np.isfinite(point).any() else math.nan
    if column != "D":
        return rho, None
    reps = np.vstack(reps)
    ok = np.isfinite(reps).any(axis=0)
    boot = np.nanmean(reps[:, ok], axis=0) if ok.any() else np.array([np.nan])
    return rho, _percentile_ci(boot, level)


def contrast_ci(sweep: DominanceSweep, a: dict, b: dict, *,
                level: float = 0.95) -> tuple[float, tuple[float, float]]:
    """mean D over the rows matching labels ``a`` minus mean D over rows matching ``b`` (e.g. two inits
    over the same targets), with the percentile bootstrap CI over initializations."""
    ia, ib = sweep.rows(**a), sweep.rows(**b)
    if ia.size == 0 or ib.size == 0:
        raise ValueError(f"no rows match {a if ia.size == 0 else b}")
    d = sweep.table["D"].to_numpy(float)
    boot = sweep.boot[ia].mean(0) - sweep.boot[ib].mean(0)
    return float(d[ia].mean() - d[ib].mean()), _percentile_ci(boot, level)


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


def dominance_transition(x, d) -> dict:
    """The transition of D along an ordered grid ``x`` (e.g. widths) [ours, fixed before measuring]:
    the first step i → i+1 where D changes sign (central ↔ zero dominance); if D never changes sign, the
    step with the largest |D_{i+1} − D_i|. Returns ``{"index": i + 1, "x": x[i + 1], "kind": "sign change"
    | "largest step"}`` (index of the first grid point after the transition)."""
    x, d = np.asarray(x), np.asarray(d, dtype=float)
    if x.ndim != 1 or x.shape != d.shape or x.size < 2 or not np.all(np.isfinite(d)):
        raise ValueError("x and d must be 1-D of equal length >= 2 with finite d")
    sign = np.flatnonzero(np.sign(d[:-1]) != np.sign(d[1:]))
    if sign.size:
        i, kind = int(sign[0]), "sign change"
    else:
        i, kind = int(np.argmax(np.abs(np.diff(d)))), "largest step"
    return {"index": i + 1, "x": x[i + 1].item(), "kind": kind}


def interpolation_threshold(x, train_acc, *, level: float = 0.99) -> dict:
    """The interpolation threshold on an ordered grid ``x`` (e.g. widths) [ours]: the first point whose final
    training accuracy is >= ``level``. Returns ``{"index", "x"}`` (index None, x NaN if never reached)."""
    check_real("level", level, low=0.0, high=1.0)
    x, acc = np.asarray(x), np.asarray(train_acc, dtype=float)
    if x.ndim != 1 or x.shape != acc.shape or x.size == 0:
        raise ValueError("x and train_acc must be 1-D of equal, non-zero length")
    hit = np.flatnonzero(acc >= level)
    return {"index": int(hit[0]), "x": x[hit[0]].item()} if hit.size else {"index": None, "x": math.nan}


def transition_distance(x, d, boot, target_index, *,
                        level: float = 0.95) -> tuple[float, tuple[float, float]]:
    """Distance in grid steps between the transition of D (:func:`dominance_transition` of ``d``) and the grid
    index ``target_index`` (e.g. the interpolation threshold), with a percentile CI from the bootstrap
    replicates ``boot`` (len(x), B) of D. ``target_index`` None gives (inf, (inf, inf))."""
    if target_index is None:
        return math.inf, (math.inf, math.inf)
    boot = np.asarray(boot, dtype=float)
    dist = abs(dominance_transition(x, d)["index"] - target_index)
    reps = np.array([abs(dominance_transition(x, boot[:, b])["index"] - target_index)
                     for b in range(boot.shape[1]) if np.all(np.isfinite(boot[:, b]))], dtype=float)
    return float(dist), _percentile_ci(reps, level)


def config_dataset(config: dict):
    """The training data ``train.run_config(config, ...)`` uses (same loader, subset, PCA, label noise and
    ``data_seed``; ``data_seed`` None is not supported here, as the data would then vary with the seed)."""
    c = {**train.DEFAULT_CONFIG, **config}
    if c["data_seed"] is None:
        raise ValueError("config_dataset needs a fixed data_seed (None draws the data from each run's seed)")
    return data.load_dataset(c["dataset"], n_train=c["n_train"], n_test=c["n_test"], seed=c["data_seed"],
                             flatten=True, standardize=c["standardize"], pca=c["pca"],
                             label_noise=c["data_label_noise"], **c.get("data_options", {}))


def config_condition(config: dict, width: int, x: torch.Tensor, y: torch.Tensor, *, n_classes: int,
                     **labels) -> dict:
    """A :func:`dominance_sweep` condition for the one-hidden-layer MLP ``run_config`` builds from ``config``
    with hidden width ``width``: layer sizes [d_in, width, K], the config's init and biases as
    ``gclib.models.MLP`` draws them (sampled for "pytorch_default", zero otherwise). ``x`` (m, d_in);
    ``y`` (m,) class labels in [0, n_classes), one-hot encoded here (the squared loss of one-hot targets,
    L₀ = 1/K); ``labels`` become table columns."""
    c = {**train.DEFAULT_CONFIG, **config}
    if c["model"] != "mlp":
        raise ValueError(f"config_condition needs model='mlp', got {c['model']!r}")
    check_positive_int("width", width)
    k = check_positive_int("n_classes", n_classes)
    return {"layer_sizes": [x.shape[1], width, k], "init": c["init"], "activation": c["activation"],
            "bias": "sampled" if c["init"] == "pytorch_default" else "zero", "x": x,
            "y": data.one_hot(y, k).to(x.dtype), "width": width, **labels}
