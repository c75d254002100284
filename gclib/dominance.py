"""Zero- vs central-mode dominance of init-loss histograms (Teague 2022, E-1…E-5): the design notes'
operational definition, its score D = ln((h₀ + δ)/(h_c + δ)), and bootstrap replicates of D from
resampling the initializations. [ours: the definition is fixed in shared/papers before measuring]
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from gclib.sampling import LossHistogram, bucket_counts, check_edges
from gclib.stats import percentile_ci
from gclib.validate import check_positive_int, check_real

__all__ = ["ModeDominance", "mode_dominance", "dominance_replicates", "dominance_bootstrap"]

_CONTRACT_SD = 3.0  # tolerance of the contracting-volume check, in Poisson SD


@dataclass(frozen=True, eq=False)
class ModeDominance:
    """Zero- vs central-mode dominance of one loss histogram (definition ours; design notes, steps 1–5, 8).

    D: ln((h0+δ)/(hc+δ)), δ = 1/(N·bin width). h0: density of the first bin. hc: density (unsmoothed) at
    the highest central mode, 0 if none; uc: its bin centre (nan if none). zero_mode: p₁ ≥ p₂.
    central_mode_count / central_modes: peaks of the smoothed density at bins k ≥ 3 (1-based) with
    prominence ≥ prominence·max p (bin centres). dominant: "zero" (zero mode and D > 0), "central"
    (hc > h0) or "none". density: (B,) densities p_k = live count_k/(N·width) (dead atom removed,
    overflow excluded, N = all inits). counts: the live counts. n, delta, first_bin_mass (count₁/N),
    overflow_fraction, dead_fraction. contracting: density non-decreasing up to the central mode within
    Monte Carlo error, c_{k+1} − c_k ≥ −3√(c_k + c_{k+1}) for every pair of bins below it (3 Poisson SD
    of the difference, so a flat top rarely fails by chance; None without a central mode). log_cdf_slope:
    least-squares slope of log F(u) vs log u at the bin edges below uc (F = empirical CDF; nan if < 2).
    """

    D: float
    h0: float
    hc: float
    uc: float
    zero_mode: bool
    central_mode_count: int
    central_modes: tuple
    dominant: str
    density: np.ndarray
    edges: np.ndarray
    counts: np.ndarray
    n: int
    delta: float
    first_bin_mass: float
    overflow_fraction: float
    dead_fraction: float
    contracting: bool | None
    log_cdf_slope: float


def _dominance(live: np.ndarray, n: int, overflow: int, dead: int, edges: np.ndarray, smooth: int,
               prominence: float) -> ModeDominance:
    from scipy.ndimage import uniform_filter1d
    from scipy.signal import find_peaks

    width = float(edges[1] - edges[0])
    p = live / (n * width)
    delta = 1.0 / (n * width)
    ps = uniform_filter1d(p, size=smooth, mode="nearest") if smooth > 1 else p
    peaks = find_peaks(ps, prominence=prominence * p.max())[0] if p.max() > 0 else np.zeros(0, int)
    peaks = peaks[peaks >= 2]
    centres = 0.5 * (edges[:-1] + edges[1:])
    h0, zero_mode = float(p[0]), bool(p[0] >= p[1])
    kc = int(peaks[np.argmax(p[peaks])]) if peaks.size else -1
    hc, uc = (float(p[kc]), float(centres[kc])) if kc >= 0 else (0.0, math.nan)
    D = math.log((h0 + delta) / (hc + delta))
    dominant = "zero" if zero_mode and D > 0 else "central" if hc > h0 else "none"
    contracting, slope = None, math.nan
    if kc >= 0:
        c = live[:kc + 1].astype(np.float64)
        contracting = bool(np.all(np.diff(c) >= -_CONTRACT_SD * np.sqrt(c[1:] + c[:-1])))
        cdf, e = np.cumsum(live[:kc]) / n, edges[1:kc + 1]
        ok = cdf > 0
        if ok.sum() >= 2:
            slope = float(np.polyfit(np.log(e[ok]), np.log(cdf[ok]), 1)[0])
    return ModeDominance(D, h0, hc, uc, zero_mode, int(peaks.size), tuple(float(centres[k]) for k in peaks),
                         dominant, p, edges, live, n, delta, float(live[0] / n), overflow / n, dead / n,
                         contracting, slope)


def _prepare(losses, counts, edges, l_ref, n_bins, u_max, dead, dead_u, overflow, smooth, prominence):
    """Validate and reduce either input path to (live counts, N, overflow, dead, u-edges)."""
    l_ref = check_real("l_ref", l_ref, low=0.0, low_open=True)
    check_positive_int("smooth", smooth)
    if smooth % 2 == 0:
        raise ValueError(f"smooth must be an odd positive integer, got {smooth}")
    check_real("prominence", prominence, low=0.0, high=1.0)
    if (losses is None) == (counts is None):
        raise ValueError("pass exactly one of losses or counts (with edges)")
    if isinstance(counts, LossHistogram):
        cnt, e, under = counts.counts.astype(np.int64), counts.edges / l_ref, counts.underflow
        overflow, dead, dbin = counts.overflow, counts.dead, counts.dead_bin
    else:
        check_positive_int("dead", dead, allow_zero=True)
        check_positive_int("overflow", overflow, allow_zero=True)
        dead_u = check_real("dead_u", dead_u, low=0.0)
        if losses is not None:
            check_positive_int("n_bins", n_bins)
            check_real("u_max", u_max, low=0.0, low_open=True)
            t = torch.as_tensor(losses.detach().cpu() if torch.is_tensor(losses) else np.asarray(losses))
            if t.dim() != 1 or t.numel() == 0 or not t.is_floating_point():
                raise ValueError(f"losses must be a non-empty 1-D float array, got shape {tuple(t.shape)}")
            if bool(torch.isnan(t).any()) or bool((t < 0).any()):
                raise ValueError("losses must be non-negative and not NaN")
            e = np.linspace(0.0, u_max, n_bins + 1)
            b = bucket_counts(t.double() / l_ref, torch.as_tensor(e)).numpy()
            cnt, under, overflow = b[1:-1], 0, int(b[-1])
            if dead:   # the atom: the most repeated exact value within 1e-4 of dead_u (dead nets tie exactly)
                u = t.double().numpy() / l_ref
                vals, reps = np.unique(u[np.abs(u - dead_u) <= 1e-4 * max(dead_u, 1.0)], return_counts=True)
                dead_u = float(vals[np.argmax(reps)]) if vals.size else dead_u
        else:
            if edges is None:
                raise ValueError("counts needs edges (len(counts) + 1 values)")
            cnt = np.asarray(counts)
            e = check_edges("edges", edges) / l_ref
            if cnt.ndim != 1 or cnt.size + 1 != e.size or (cnt < 0).any() or not np.all(cnt == np.round(cnt)):
                raise ValueError(f"counts must be {e.size - 1} non-negative integers (len(edges) − 1)")
            cnt, under = cnt.astype(np.int64), 0
        dbin = (int(np.searchsorted(e, dead_u, side="right")) - 1) if dead else None
    if cnt.size < 3:
        raise ValueError(f"need at least 3 bins, got {cnt.size}")
    if e[0] != 0.0 or under:
        raise ValueError("the first edge must be 0 (zero loss), with no underflow")
    if not np.allclose(np.diff(e), e[1] - e[0], rtol=1e-6, atol=0.0):
        raise ValueError("edges must be equally spaced")
    n = int(cnt.sum()) + int(overflow)
    live = cnt.copy()
    if dbin is not None:
        have = overflow if dbin >= live.size else live[dbin]
        if have < dead:
            raise ValueError(f"dead={dead} exceeds the {have} inits in the dead atom's bin ({dbin}); "
                             "dead networks must be included in the counts")
        if dbin >= live.size:
            overflow -= dead
        else:
            live[dbin] -= dead
    return live, n, int(overflow), int(dead), e


def mode_dominance(losses=None, *, counts=None, edges=None, l_ref: float = 1.0, n_bins: int = 100,
                   u_max: float = 4.0, dead: int = 0, dead_u: float = 1.0, overflow: int = 0, smooth: int = 3,
                   prominence: float = 0.05) -> ModeDominance:
    """Zero- vs central-mode dominance, exactly per the design notes' steps 1–5 and 8 [ours].

    Args:
        losses: (N,) raw losses (tensor or ndarray) → u = ℓ/l_ref binned on ``n_bins`` equal bins over
            [0, u_max]; u ≥ u_max is overflow (in N, excluded from peaks). Or, instead:
        counts: a ``LossHistogram`` (uses its edges/l_ref, overflow, dead and dead bin) or (B,) counts with
            ``edges`` (B+1, equally spaced, first 0; divided by l_ref) and ``overflow``.
        dead: inits in the dead-network atom (output exactly 0). Raw losses cannot reveal them, so pass
            the count (from ``init_loss_histogram``) and their normalised loss ``dead_u`` (1 when l_ref = L₀).
            They must be inside the counts; they are removed from their bin (kept in N), reported as
            dead_fraction, and never form a mode.
        smooth: odd moving-average width for peak finding. prominence: fraction of max p.
    Returns:
        ``ModeDominance``.
    """
    live, n, ov, dd, e = _prepare(losses, counts, edges, l_ref, n_bins, u_max, dead, dead_u, overflow, smooth,
                                  prominence)
    return _dominance(live, n, ov, dd, e, smooth, prominence)


def dominance_replicates(losses, *, n_boot: int = 200, rng: np.random.Generator | int = 0,
                         **kw) -> tuple[float, np.ndarray]:
    """D and ``n_boot`` bootstrap replicates of it from resampling the N initializations.

    Resampling N inits with replacement = a multinomial draw over (live bins, overflow, dead atom) with
    the observed proportions, done for all ``n_boot`` replicates at once (``rng``: a numpy Generator, or
    the seed of ``default_rng``). ``losses`` may be raw losses or a ``LossHistogram``; ``kw`` goes to
    ``mode_dominance``. Returns ``(D, replicates (n_boot,))``.
    """
    check_positive_int("n_boot", n_boot)
    if not isinstance(rng, np.random.Generator):
        if not isinstance(rng, int) or isinstance(rng, bool):
            raise TypeError(f"rng must be a numpy Generator or an integer seed, got {rng!r}")
        rng = np.random.default_rng(rng)
    hist = isinstance(losses, LossHistogram)
    opts = dict(edges=None, l_ref=1.0, n_bins=100, u_max=4.0, dead=0, dead_u=1.0, overflow=0, smooth=3,
                prominence=0.05)
    if set(kw) - set(opts):
        raise TypeError(f"unexpected keyword arguments: {sorted(set(kw) - set(opts))}")
    opts.update(kw)
    smooth, prom = opts["smooth"], opts["prominence"]
    live, n, ov, dd, e = _prepare(None if hist else losses, losses if hist else None, *opts.values())
    d0 = _dominance(live, n, ov, dd, e, smooth, prom).D
    probs = np.concatenate([live, [ov, dd]]) / n
    draws = rng.multinomial(n, probs, size=n_boot)
    return d0, np.array([_dominance(r[:-2], n, int(r[-2]), int(r[-1]), e, smooth, prom).D for r in draws])


def dominance_bootstrap(losses, *, n_boot: int = 200, seed: int = 0, level: float = 0.95,
                        **kw) -> tuple[float, tuple[float, float]]:
    """D and its percentile bootstrap CI (``gclib.stats.percentile_ci``) from the replicates of
    :func:`dominance_replicates` with ``default_rng(seed)``."""
    check_real("level", level, low=0.0, high=1.0, low_open=True, high_open=True)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__} {seed!r}")
    d0, reps = dominance_replicates(losses, n_boot=n_boot, rng=seed, **kw)
    return d0, percentile_ci(reps, level)
