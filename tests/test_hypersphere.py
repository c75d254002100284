"""n-ball geometry: closed forms, the unit table, recurrences, log-space range, peaks, limits, Monte Carlo."""
import math

import numpy as np
import pytest
from scipy.special import digamma

from gclib import hypersphere as hs

# /work/shared/papers/geometric_regularization.md, "Hypersphere geometry" (4 decimals / 5 significant digits)
UNIT_V = [2, 3.1416, 4.1888, 4.9348, 5.2638, 5.1677, 4.7248, 4.0587, 3.2985, 2.5502, 1.8841, 1.3353]
UNIT_S = [2, 6.2832, 12.566, 19.739, 26.319, 31.006, 33.073, 32.470, 29.687, 25.502, 20.725, 16.023]


def test_low_dimensional_closed_forms():
    assert hs.volume(0) == pytest.approx(1.0, abs=1e-15)
    assert hs.volume(1) == pytest.approx(2.0, rel=1e-14)
    assert hs.volume(2) == pytest.approx(math.pi, rel=1e-14)
    assert hs.volume(3) == pytest.approx(4 * math.pi / 3, rel=1e-14)
    assert hs.surface_area(2) == pytest.approx(2 * math.pi, rel=1e-14)
    assert hs.surface_area(3, 2.0) == pytest.approx(4 * math.pi * 4.0, rel=1e-14)
    assert hs.surface_area(0) == 0.0 and hs.log_surface_area(0) == -math.inf


def test_unit_table_n_1_to_12():
    n = np.arange(1, 13)
    v, s = hs.volume(n), hs.surface_area(n)
    assert isinstance(v, np.ndarray) and v.shape == (12,)
    np.testing.assert_allclose(v, UNIT_V, atol=5e-5)
    np.testing.assert_allclose(s, UNIT_S, rtol=5e-5, atol=5e-5)  # the table gives 5 significant digits


def test_scalar_in_float_out_and_array_shape_kept():
    assert type(hs.volume(3)) is float and type(hs.log_volume(np.float32(3.0))) is float
    assert type(hs.volume(np.array(3))) is float
    out = hs.log_volume(np.array([[1.0, 2.0], [3.0, 4.0]]), 2.0)
    assert out.shape == (2, 2) and out.dtype == np.float64


@pytest.mark.parametrize("r", [0.3, 1.0, 1.7, 5.0])
def test_recurrence_and_surface_relation(r):
    n = np.linspace(2.0, 60.0, 59)  # continuous n too: the identities hold for real n
    tol = dict(rtol=1e-12, atol=1e-12)
    lv, ls = hs.log_volume(n, r), hs.log_surface_area(n, r)
    np.testing.assert_allclose(lv, np.log(2 * math.pi * r**2 / n) + hs.log_volume(n - 2, r), **tol)
    np.testing.assert_allclose(ls, np.log(n / r) + lv, **tol)
    # S_n(r) = 2π r V_{n−2}(r) for every r (why the surface peak sits 2 dimensions above the volume peak)
    np.testing.assert_allclose(ls, math.log(2 * math.pi * r) + hs.log_volume(n - 2, r), **tol)


def test_surface_is_derivative_of_volume():
    n, r, h = 7.5, 1.3, 1e-6
    deriv = (hs.volume(n, r + h) - hs.volume(n, r - h)) / (2 * h)
    assert hs.surface_area(n, r) == pytest.approx(deriv, rel=1e-8)


def test_log_forms_in_high_dimension():
    assert hs.log_volume(100) / math.log(10) == pytest.approx(-39.63, abs=0.005)
    assert hs.log_volume(1000) / math.log(10) == pytest.approx(-885.5, abs=0.05)
    assert hs.volume(100) == pytest.approx(10 ** (hs.log_volume(100) / math.log(10)), rel=1e-12)
    assert hs.volume(1000) == 0.0  # 10^−885.5 underflows float64 (smallest subnormal ≈ 5e−324), no warning
    n = 1e9
    x = n / 2  # Stirling with its 1/(12x) term: error O(x⁻³) ≈ 1e-27, far below float64 resolution here
    log_gamma = x * math.log(x) - x + 0.5 * math.log(2 * math.pi * x) + 1 / (12 * x)
    stirling = 0.5 * n * math.log(math.pi) - log_gamma
    for f in (hs.log_volume, hs.log_surface_area, hs.log_ball_to_cube_ratio):
        assert math.isfinite(f(n))
    assert hs.log_volume(n) == pytest.approx(stirling, rel=1e-13)
    assert hs.volume(n) == 0.0 and hs.surface_area(n) == 0.0 and hs.ball_to_cube_ratio(n) == 0.0
    assert hs.log_volume(1e6) < -1e5  # the H-1 scorecard check
    assert hs.volume(1e4, 100.0) == math.inf  # past float64's range: inf, no warning (log form finite)


def test_peak_dimensions_unit_radius():
    nv, ns = hs.peak_volume_dimension(), hs.peak_surface_dimension()
    assert nv == pytest.approx(5.2569464, abs=1e-6)
    assert ns == pytest.approx(7.2569464, abs=1e-6)
    assert hs.volume(nv) == pytest.approx(5.277768, abs=1e-6)
    assert hs.surface_area(ns) == pytest.approx(33.16119, abs=1e-5)
    assert digamma(nv / 2 + 1) == pytest.approx(math.log(math.pi), abs=1e-12)
    assert digamma(ns / 2) == pytest.approx(math.log(math.pi), abs=1e-12)


@pytest.mark.parametrize("r, expected", [(1.5, 13.13), (2.0, 24.13), (3.0, 55.55)])
def test_peak_moves_with_radius(r, expected):
    nv = hs.peak_volume_dimension(r)
    assert round(nv, 2) == pytest.approx(expected, abs=1e-9)
    assert hs.peak_surface_dimension(r) == pytest.approx(nv + 2, abs=1e-8)


def test_peak_vectorised_over_r():
    out = hs.peak_volume_dimension(np.array([1.0, 2.0]))
    np.testing.assert_allclose(out, [hs.peak_volume_dimension(1.0), hs.peak_volume_dimension(2.0)])


@pytest.mark.parametrize("r", [0.6, 1.0, 1.5, 2.0, 3.0])
def test_integer_argmax_matches_continuous_peak(r):
    n = np.arange(0, 200)
    pairs = ((hs.log_volume, hs.peak_volume_dimension), (hs.log_surface_area, hs.peak_surface_dimension))
    for curve, peak in pairs:
        k = int(np.argmax(curve(n, r)))
        p = peak(r)
        assert k in (math.floor(p), math.ceil(p))
        # the curve is unimodal in n, so the integer maximiser is whichever neighbour of the root is higher
        assert curve(k, r) >= max(curve(math.floor(p), r), curve(math.ceil(p), r))
        assert curve(p, r) >= curve(k, r)  # the continuous peak is the maximum


def test_small_radius_volume_always_decreases():
    r0 = hs.R_VOLUME_DECREASING
    assert r0 == pytest.approx(math.sqrt(math.exp(-np.euler_gamma) / math.pi), rel=1e-15)
    assert r0 == pytest.approx(0.4228, abs=1e-4)
    for r in (0.1, 0.3, r0):
        assert hs.peak_volume_dimension(r) == 0.0
        assert np.all(np.diff(hs.log_volume(np.linspace(0, 50, 501), r)) < 0)
        ns = hs.peak_surface_dimension(r)
        assert 0 < ns <= 2.0 + 1e-9 and digamma(ns / 2) == pytest.approx(math.log(math.pi * r * r), abs=1e-9)
    assert hs.peak_volume_dimension(r0 * 1.01) > 0.0


def test_shell_fraction_limits():
    assert hs.shell_fraction(1, 0.1) == pytest.approx(0.1, rel=1e-14)
    assert hs.shell_fraction(10, 0.1) == pytest.approx(1 - 0.9**10, rel=1e-14)
    assert hs.shell_fraction(0, 0.5) == 0.0 and hs.shell_fraction(0, 1.0) == 0.0
    np.testing.assert_array_equal(hs.shell_fraction(np.array([1.0, 5.0, 1e9]), 1.0), [1.0, 1.0, 1.0])
    assert hs.shell_fraction(1e4, 0.01) == pytest.approx(1.0, abs=1e-40)
    # stable for tiny ε with huge n: 1 − (1 − 1e−12)^(1e9) = 1 − e^{−1e−3 + O(1e−15)}
    assert hs.shell_fraction(1e9, 1e-12) == pytest.approx(-math.expm1(-1e-3), rel=1e-9)
    assert hs.shell_fraction(3, 1e-20) == pytest.approx(3e-20, rel=1e-12)
    grid = hs.shell_fraction(np.arange(1, 100)[:, None], np.array([0.01, 0.1]))
    assert grid.shape == (99, 2) and np.all(np.diff(grid, axis=0) > 0)


def test_ball_to_cube_ratio_decreases_to_zero():
    n = np.arange(0, 400)
    lr = hs.log_ball_to_cube_ratio(n)
    assert hs.ball_to_cube_ratio(0) == 1.0
    assert hs.ball_to_cube_ratio(2) == pytest.approx(math.pi / 4, rel=1e-14)
    assert hs.ball_to_cube_ratio(3) == pytest.approx(math.pi / 6, rel=1e-14)
    assert np.all(np.diff(lr[1:]) < 0) and lr[1] == pytest.approx(0.0, abs=1e-14)
    np.testing.assert_allclose(lr, hs.log_volume(n, 2.5) - n * math.log(5.0), rtol=1e-12, atol=1e-10)
    assert hs.ball_to_cube_ratio(2000) == 0.0


def test_typical_norm_log_volume():
    assert hs.typical_norm_log_volume(0, 0.3) == 0.0
    n = np.array([10.0, 1e3, 1e6])
    expected = hs.log_volume(n, 1.0) + n * np.log(0.5 * np.sqrt(n))  # V_n(ρ) = ρⁿ V_n(1), ρ = σ√n
    np.testing.assert_allclose(hs.typical_norm_log_volume(n, 0.5), expected, rtol=1e-12)
    big = 1e8  # asymptotics (n/2) ln(2πeσ²) − ½ ln(nπ)
    for sigma in (0.2, 0.242, 0.3):
        approx = big / 2 * math.log(2 * math.pi * math.e * sigma**2) - 0.5 * math.log(big * math.pi)
        assert hs.typical_norm_log_volume(big, sigma) == pytest.approx(approx, abs=1e-6)
    sigma_c = 1 / math.sqrt(2 * math.pi * math.e)
    assert hs.typical_norm_log_volume(1e6, 0.99 * sigma_c) < 0
    assert hs.typical_norm_log_volume(1e6, 1.01 * sigma_c) > 0


@pytest.mark.parametrize("n", [2, 3, 5, 8, 10])
def test_monte_carlo_within_four_standard_errors(n):
    est, se = hs.monte_carlo_ball_fraction(n, 200_000, seed=n)
    assert se > 0
    assert abs(est - hs.ball_to_cube_ratio(n)) < 4 * se


def test_monte_carlo_is_seeded_and_chunk_size_invariant():
    a = hs.monte_carlo_ball_fraction(4, 10_000, seed=3)
    assert a == hs.monte_carlo_ball_fraction(4, 10_000, seed=3)
    assert a != hs.monte_carlo_ball_fraction(4, 10_000, seed=4)
    assert a == hs.monte_carlo_ball_fraction(4, 10_000, seed=3, chunk_size=777)
    assert hs.monte_carlo_ball_fraction(1, 1000, seed=0) == (1.0, 0.0)  # [−1, 1] is the 1-ball


@pytest.mark.parametrize("f", [hs.volume, hs.log_volume, hs.surface_area, hs.log_surface_area,
                               hs.ball_to_cube_ratio, hs.log_ball_to_cube_ratio])
@pytest.mark.parametrize("bad, err", [(-1, ValueError), (np.array([1.0, -0.5]), ValueError),
                                      (math.nan, ValueError), (math.inf, ValueError), ("3", TypeError),
                                      (True, TypeError), (None, TypeError), ([1, "x"], TypeError)])
def test_bad_dimension(f, bad, err):
    with pytest.raises(err, match="n must be"):
        f(bad)


@pytest.mark.parametrize("bad, err", [(0.0, ValueError), (-1.0, ValueError), (math.inf, ValueError),
                                      ("1", TypeError)])
def test_bad_radius(bad, err):
    for f in (hs.volume, hs.log_volume, hs.surface_area, hs.log_surface_area):
        with pytest.raises(err, match="r must be"):
            f(3, bad)
    for f in (hs.peak_volume_dimension, hs.peak_surface_dimension):
        with pytest.raises(err, match="r must be"):
            f(bad)
    with pytest.raises(err, match="sigma must be"):
        hs.typical_norm_log_volume(3, bad)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, math.nan])
def test_bad_eps(bad):
    with pytest.raises(ValueError, match=r"eps must be in \(0, 1\]"):
        hs.shell_fraction(3, bad)


def test_bad_monte_carlo_arguments():
    with pytest.raises(ValueError, match="n must be"):
        hs.monte_carlo_ball_fraction(0, 10, seed=0)
    with pytest.raises(TypeError, match="n must be"):
        hs.monte_carlo_ball_fraction(2.5, 10, seed=0)
    with pytest.raises(ValueError, match="n_points must be"):
        hs.monte_carlo_ball_fraction(2, 0, seed=0)
    with pytest.raises(ValueError, match="seed must be"):
        hs.monte_carlo_ball_fraction(2, 10, seed=-1)
    with pytest.raises(TypeError):
        hs.monte_carlo_ball_fraction(2, 10)  # seed is required and keyword-only
