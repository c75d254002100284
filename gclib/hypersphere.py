"""Geometry of the n-ball: volume and surface in plain and log form, peak dimensions, shell fraction,
ball-to-cube ratio and a Monte Carlo check [paper: Teague 2022, figure family H-1; standard mathematics].

Every function of ``n`` is vectorised: ``n`` may be a Python/NumPy scalar (→ Python ``float``) or an array
(→ ``np.ndarray`` of float64, same shape). ``n`` is real and ``>= 0`` (continuous dimension). Log forms use
``scipy.special.gammaln`` and stay exact to n = 10⁹; plain forms are ``exp(log form)``, so they underflow to
0.0 gracefully (past n ≈ 1,000 for r = 1) and never compute π^{n/2} or Γ(n/2 + 1) directly (which overflow
near n ≈ 1240 and n ≈ 342 in float64). A plain value above the float64 range is returned as ``inf``.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq
from scipy.special import digamma, gammaln, xlogy

from gclib.validate import check_positive_int, check_real

_LOG_PI = math.log(math.pi)
#: radius below which the volume decreases for every n >= 0: ψ(1) = −γ = ln(π r²) ⇔ r = √(e^{−γ}/π) ≈ 0.4228
R_VOLUME_DECREASING = math.sqrt(math.exp(-np.euler_gamma) / math.pi)


def _as_dim(name: str, n, valid: str = "finite and >= 0") -> tuple[np.ndarray, bool]:
    """Validate ``n`` (real, finite, >= 0; scalar or array) → (float64 array, was_scalar)."""
    if isinstance(n, (bool, np.bool_)) or isinstance(n, (str, bytes)):
        raise TypeError(f"{name} must be a real number or array of real numbers >= 0, got {n!r}")
    try:
        arr = np.asarray(n)
    except Exception as err:  # ragged sequences and the like
        raise TypeError(f"{name} must be a real number or array of real numbers >= 0, got {n!r}") from err
    numeric = np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    if arr.dtype == bool or not numeric:
        raise TypeError(f"{name} must be a real number or array of real numbers >= 0, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name} must be {valid}, got {n!r}")
    return arr, arr.ndim == 0


def _out(value: np.ndarray, scalar: bool):
    return float(value) if scalar else value


def _positive(name: str, value) -> float:
    """A finite real > 0; NumPy scalars and 0-d arrays accepted."""
    if isinstance(value, (np.generic, np.ndarray)) and np.ndim(value) == 0 and value.dtype != bool:
        value = value.item()
    return check_real(name, value, low=0.0, low_open=True)


def _radius(r) -> float:
    return _positive("r", r)


def _plain(log_value):
    """exp of a log form without overflow warnings (past float64's range → inf, tiny → 0.0); scalar stays
    a float."""
    with np.errstate(over="ignore", under="ignore"):
        value = np.exp(np.asarray(log_value, dtype=np.float64))
    return _out(value, value.ndim == 0)


def log_volume(n, r: float = 1.0):
    """ln V_n(r) = (n/2) ln π + n ln r − lnΓ(n/2 + 1)  [standard].

    Args: n: dimension(s), real >= 0, scalar or array; r: radius > 0.
    Returns: float (scalar n) or float64 array shaped like ``n``. Exact in log space to n = 10⁹.
    """
    n, scalar = _as_dim("n", n)
    r = _radius(r)
    return _out(0.5 * n * _LOG_PI + n * math.log(r) - gammaln(0.5 * n + 1.0), scalar)


def volume(n, r: float = 1.0):
    """V_n(r) = π^{n/2} rⁿ / Γ(n/2 + 1) = exp(log_volume); underflows to 0.0 (r = 1: past n ≈ 1,000)."""
    return _plain(log_volume(n, r))


def log_surface_area(n, r: float = 1.0):
    """ln S_n(r), S_n = dV_n/dr = 2π^{n/2} r^{n−1}/Γ(n/2) = n V_n(r)/r  [standard]; −inf at n = 0 (S₀ = 0).

    Args: n: dimension(s), real >= 0, scalar or array; r: radius > 0.
    Returns: float or float64 array shaped like ``n``.
    """
    n, scalar = _as_dim("n", n)
    r = _radius(r)
    pos = n > 0
    safe = np.where(pos, n, 1.0)
    val = math.log(2.0) + 0.5 * safe * _LOG_PI + (safe - 1.0) * math.log(r) - gammaln(0.5 * safe)
    return _out(np.where(pos, val, -np.inf), scalar)


def surface_area(n, r: float = 1.0):
    """S_n(r) = n V_n(r) / r = exp(log_surface_area); S₀ = 0, underflows to 0.0 for large n."""
    return _plain(log_surface_area(n, r))


def _bracket_root(f, lo: float, hi: float) -> float:
    """Root of an increasing function ``f`` with f(lo) < 0, widening ``hi`` until f(hi) > 0."""
    while f(hi) <= 0:
        lo, hi = hi, 2.0 * hi
    return brentq(f, lo, hi, xtol=1e-13, rtol=4 * np.finfo(float).eps, maxiter=200)


def _peak(r, shift: float):
    """Root in n of ψ(n/2 + shift) = ln(π r²) for scalar or array ``r`` (ψ increasing)."""
    r_arr = np.asarray(r)
    if r_arr.ndim:
        return np.array([_peak(float(ri), shift) for ri in r_arr.ravel()]).reshape(r_arr.shape)
    r = _radius(r)
    target = _LOG_PI + 2.0 * math.log(r)

    def f(n: float) -> float:
        return float(digamma(0.5 * n + shift)) - target

    if shift >= 1.0:
        if f(0.0) >= 0.0:  # ψ(1) = −γ >= ln(π r²): the volume decreases for all n >= 0
            return 0.0
        return _bracket_root(f, 0.0, 2.0 * math.pi * r * r + 4.0)
    lo = 1.0  # shift = 0: ψ(n/2) → −∞ as n → 0⁺, so a root in (0, ∞) always exists
    while f(lo) >= 0.0:
        lo *= 0.5
    return _bracket_root(f, lo, max(2.0 * lo, 2.0 * math.pi * r * r + 4.0))


def peak_volume_dimension(r: float = 1.0):
    """Continuous dimension maximising V_n(r): root of d ln V_n/dn = 0 ⇔ ψ(n/2 + 1) = ln(π r²)  [standard].

    Solved with ``scipy.optimize.brentq`` (never hard-coded): r = 1 → 5.2569464, r = 2 → 24.13. For
    r ≤ √(e^{−γ}/π) ≈ 0.4228 (``R_VOLUME_DECREASING``) the volume decreases for all n ≥ 0 and 0.0 is returned.

    Args: r: radius > 0 (scalar → float; array → array, one root per entry).
    """
    return _peak(r, 1.0)


def peak_surface_dimension(r: float = 1.0):
    """Continuous dimension maximising S_n(r): the root of ψ(n/2) = ln(π r²)  [standard].

    Since S_n(r) = 2π r V_{n−2}(r) exactly for every r, this equals ``peak_volume_dimension(r) + 2`` whenever
    the latter is > 0; for r ≤ √(e^{−γ}/π) the root lies in (0, 2] (S rises from S₀ = 0 first). Solved
    numerically with ``brentq``. r = 1 → 7.2569464 (S = 33.16119).
    """
    return _peak(r, 0.0)


def shell_fraction(n, eps):
    """Share of V_n within relative distance ε of the surface: 1 − (1 − ε)ⁿ  [standard] → 1 as n → ∞.

    Computed as −expm1(n · log1p(−ε)) (accurate for tiny ε and huge n). Broadcasts ``n`` against ``eps``.

    Args: n: dimension(s), real >= 0; eps: relative shell thickness in (0, 1] (scalar or array).
    Returns: float (both scalar) or float64 array of the broadcast shape; 0 at n = 0, 1 at ε = 1 (n > 0).
    """
    n, n_scalar = _as_dim("n", n)
    e, e_scalar = _as_dim("eps", eps, "in (0, 1]")
    if np.any(e <= 0) or np.any(e > 1):
        raise ValueError(f"eps must be in (0, 1], got {eps!r}")
    full = e >= 1.0
    safe = np.where(full, 0.5, e)
    val = -np.expm1(n * np.log1p(-safe))
    val = np.where(full, np.where(n > 0, 1.0, 0.0), val)
    return _out(val, n_scalar and e_scalar)


def log_ball_to_cube_ratio(n):
    """ln(V_n(r)/(2r)ⁿ) = (n/2) ln π − n ln 2 − lnΓ(n/2 + 1), independent of r  [standard]; decreasing."""
    n, scalar = _as_dim("n", n)
    return _out(0.5 * n * _LOG_PI - n * math.log(2.0) - gammaln(0.5 * n + 1.0), scalar)


def ball_to_cube_ratio(n):
    """V_n(r)/(2r)ⁿ: the share of the cube [−r, r]ⁿ inside the inscribed ball; 1 at n = 0, → 0 (underflow)."""
    return _plain(log_ball_to_cube_ratio(n))


def typical_norm_log_volume(n, sigma: float):
    """ln V_n(σ√n): the ball whose radius is the typical norm of an N(0, σ² Iₙ) vector  [ours].

    = (n/2) ln π + n ln σ + (n/2) ln n − lnΓ(n/2 + 1) ≈ (n/2) ln(2πeσ²) − ½ ln(nπ), which → −∞ iff
    σ < 1/√(2πe) ≈ 0.2420 (and → +∞ for larger σ). 0 at n = 0.

    Args: n: dimension(s), real >= 0, scalar or array; sigma: weight standard deviation > 0.
    """
    n, scalar = _as_dim("n", n)
    sigma = _positive("sigma", sigma)
    val = 0.5 * n * _LOG_PI + n * math.log(sigma) + xlogy(0.5 * n, n) - gammaln(0.5 * n + 1.0)
    return _out(val, scalar)


def monte_carlo_ball_fraction(n: int, n_points: int, *, seed: int,
                              chunk_size: int = 65536) -> tuple[float, float]:
    """Fraction of uniform points in [−1, 1]ⁿ falling in the unit ball: a Monte Carlo estimate of
    ``ball_to_cube_ratio(n)`` (the same for every r by scaling)  [standard].

    Points are drawn in chunks of ``chunk_size`` rows from one ``np.random.default_rng(seed)`` stream.

    Args: n: integer dimension >= 1; n_points: sample size >= 1; seed: int >= 0.
    Returns: ``(estimate, stderr)`` with stderr = √(p̂(1 − p̂)/n_points) (binomial).
    """
    check_positive_int("n", n)
    check_positive_int("n_points", n_points)
    check_positive_int("seed", seed, allow_zero=True)
    check_positive_int("chunk_size", chunk_size)
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, n_points, chunk_size):
        m = min(chunk_size, n_points - start)
        pts = rng.uniform(-1.0, 1.0, size=(m, n))
        hits += int(np.count_nonzero(np.einsum("ij,ij->i", pts, pts) <= 1.0))
    p = hits / n_points
    return p, math.sqrt(p * (1.0 - p) / n_points)
