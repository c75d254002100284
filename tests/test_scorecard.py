import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

from gclib.companion.kernel.judge import Scorecard, load_scorecards
from gclib.stats import bootstrap_ci, peak_index, peak_prominence, spearman_ci, trend_summary


def test_record_summary_and_json_roundtrip(tmp_path):
    card = Scorecard("gc_l2", profile="cpu")
    card.record("G2.l2_lowers_gc", statistic=-0.953, ci=(-1.0, -0.8), threshold=-0.8, direction="<=",
                passed=True, description="rho(lambda, GC)")
    card.record("G2.gc_drop", statistic=0.1234, ci=None, threshold=(0.35, 0.65), direction="in",
                passed=np.bool_(False))
    text = card.summary(digits=2)
    assert text.splitlines()[0] == "gc_l2 (cpu): 1/2 ✓"
    assert "G2.l2_lowers_gc  stat=-0.95 [-1.00, -0.80]  (<= -0.80)  ✓" in text
    assert "(in [0.35, 0.65])  ✗" in text
    path = card.save(tmp_path)
    assert path.name == "gc_l2.scorecard.json"
    data = json.loads(path.read_text())
    assert data["figure"] == "gc_l2" and data["profile"] == "cpu"
    assert [c["verdict"] for c in data["claims"]] == ["✓", "✗"]
    assert data["claims"][0]["ci"] == [-1.0, -0.8]
    assert load_scorecards([path])[0] == data


def test_summary_is_stable_for_tiny_and_huge_values():
    card = Scorecard("x")
    card.record("a", statistic=1e-9, threshold=0.5, passed=False)
    card.record("b", statistic=3.2e8, threshold=None, direction="report", passed=True)
    assert "stat=1.00e-09" in card.summary() and "stat=3.20e+08" in card.summary()


@pytest.mark.parametrize("value, text", [(0.00978, "0.01"), (0.0101, "0.01"), (0.0004, "0.00"),
                                         (-0.00978, "-0.01"), (9e-5, "9.00e-05")])
def test_summary_keeps_fixed_notation_near_its_last_decimal(value, text):
    """Values a float-rounding apart must not switch notation (0.00978 vs 0.0101 across CPUs)."""
    card = Scorecard("x")
    card.record("a", statistic=value, threshold=0.0, direction=">", passed=value > 0)
    assert f"stat={text} " in card.summary(digits=2)


@pytest.mark.parametrize("kwargs, err", [
    (dict(statistic="a", passed=True), TypeError),
    (dict(statistic=1.0, passed=1), TypeError),
    (dict(statistic=1.0, passed=True, direction="~"), ValueError),
])
def test_record_rejects_bad_input(kwargs, err):
    with pytest.raises(err):
        Scorecard("x").record("c", **kwargs)


def test_duplicate_claim_and_bad_profile_rejected():
    card = Scorecard("x")
    card.record("c", statistic=1.0, passed=True)
    with pytest.raises(ValueError, match="twice"):
        card.record("c", statistic=1.0, passed=True)
    with pytest.raises(ValueError, match="profile"):
        Scorecard("x", profile="huge")


def test_bootstrap_ci_covers_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(1)
    small = rng.normal(2.0, 1.0, 10)
    large = rng.normal(2.0, 1.0, 1000)
    est, (lo, hi) = bootstrap_ci(small, seed=0)
    assert lo <= est <= hi
    _, (lo2, hi2) = bootstrap_ci(large, seed=0)
    assert (hi2 - lo2) < (hi - lo) / 4  # width ~ 1/sqrt(n): 10x more data, ~3.2x narrower... 100x -> 10x
    assert lo2 < 2.0 < hi2
    assert bootstrap_ci([3.0]) == (3.0, (3.0, 3.0))
    # a seed whose run diverged (NaN) is left out; none left: no statistic (a claim then is n/a)
    assert bootstrap_ci([1.0, np.nan, 3.0], seed=0) == bootstrap_ci([1.0, 3.0], seed=0)
    est, ci = bootstrap_ci([np.nan, np.inf])
    assert math.isnan(est) and all(math.isnan(v) for v in ci) and not ci[1] < 1  # a check is then False
    rows = np.array([[1.0, 2.0, 1.0], [np.nan, 1.0, 0.0], [2.0, 3.0, 1.0]])  # seeds × points: whole rows
    assert bootstrap_ci(rows, stat=lambda a: float(a.sum()), n_boot=50)[0] == 10.0
    with pytest.raises(ValueError):
        bootstrap_ci([])


def test_a_nan_statistic_is_not_judged_never_a_cross():
    from gclib.companion.kernel.judge import NO_STATISTIC, Scorecard

    card = Scorecard("gc_learning_rate")
    c = card.record("G6.rho", statistic=float("nan"), ci=None, threshold=-0.8, direction="<=", passed=False,
                    stats={"page": {"p": None}})
    assert c.verdict == "n/a" and c.reason == NO_STATISTIC and c.stats == {"page": {"p": None}}
    assert card.summary().splitlines()[0] == "gc_learning_rate (smoke): 0/0 ✓ (+1 n/a)"
    ctx = card.record("G6.ctx", statistic=float("nan"), direction="context", passed=True)
    assert ctx.verdict == "—"  # a context value has no verdict to withhold


def test_spearman_ci_perfect_and_grouped():
    x = np.tile([1, 2, 3, 4], 3).astype(float)
    y = -x + np.repeat([0.0, 0.1, 0.2], 4)
    rho, (lo, hi) = spearman_ci(x, y, groups=np.repeat([0, 1, 2], 4), seed=0)
    assert rho < -0.9 and hi < -0.8
    with pytest.raises(ValueError):
        spearman_ci([1, 2], [1, 2])


# ---------------------------------------------------------------- sweep statistics
def _sweep_table(values_by_seed, levels=(0.1, 1.0, 10.0)):
    return pd.DataFrame([{"seed": s, "l2": lv, "gc": v}
                         for s, vals in values_by_seed.items() for lv, v in zip(levels, vals)])


def test_trend_summary_of_a_monotone_sweep():
    final = _sweep_table({0: [3.0, 2.0, 1.0], 1: [4.0, 2.5, 0.5], 2: [2.0, 1.5, 1.0]})
    t = trend_summary(final, "l2", n_boot=200)
    assert t["n_seeds"] == 3 and t["rho"] == -1.0 and t["rho_ci"] == (-1.0, -1.0)
    assert np.array_equal(t["diff_per_seed"], [-2.0, -3.5, -1.0]) and t["diff"] == pytest.approx(-6.5 / 3)
    lo, hi = t["diff_ci"]
    assert -3.5 <= lo <= t["diff"] <= hi <= -1.0


def test_trend_summary_drops_nan_rows_and_seeds_missing_levels():
    final = _sweep_table({0: [3.0, 2.0, 1.0], 1: [4.0, np.nan, 0.5], 2: [np.nan, 1.5, 1.0]})
    t = trend_summary(final, "l2", n_boot=100)
    assert list(t["rho_per_seed"]) == [-1.0]            # seeds 1 and 2 keep only two levels: no rho
    assert list(t["diff_per_seed"]) == [-2.0, -3.5]     # seed 2 lost the smallest level: no difference
    none_left = trend_summary(_sweep_table({0: [1.0, np.nan, np.nan]}), "l2", n_boot=100)
    assert math.isnan(none_left["rho"]) and none_left["rho_ci"] is None
    with pytest.raises(ValueError, match="no column 'lr'"):
        trend_summary(final, "lr")


@pytest.mark.parametrize("curve, index, prominence", [
    ([0.0, 2.0, 1.0, 3.0, 0.0], 3, 1.0),         # two interior peaks: the more prominent one (3 vs 1)
    ([1.0, 2.0, 1.5], 1, 0.25),                  # prominence 2 − 1.5 over height 2
    ([1.0, 2.0, 3.0, 4.0], -1, 0.0),             # monotone: no interior peak
    ([[0.0, 1.0, 0.0], [0.0, 3.0, 0.0]], 1, 1.0),  # seeds × points: the mean curve [0, 2, 0]
])
def test_peak_index_and_prominence(curve, index, prominence):
    assert peak_index(curve) == index
    assert peak_prominence(curve) == pytest.approx(prominence)


@pytest.mark.parametrize("curve", [[1.0, 2.0], [0.0, np.nan, 1.0], [[1.0, 2.0], [2.0, 1.0]], []])
def test_a_curve_without_an_interior_point_has_no_peak_and_no_prominence(curve):
    # fewer than 3 points (a grid of two widths), or a diverged run's NaN: no interior peak can exist
    assert peak_index(curve) == -1 and math.isnan(peak_prominence(curve))


def test_peak_statistics_reject_a_curve_of_the_wrong_shape():
    with pytest.raises(ValueError, match="curves must be 1-D"):
        peak_index([[[1.0, 2.0, 3.0]]])


# ---------------------------------------------------------------- protocols, reported values, v2 statistics
def test_v2_claims_carry_the_protocol_and_context_values_have_no_verdict(tmp_path):
    from gclib.companion.kernel.judge import PROTOCOL_NOTES

    card = Scorecard("gc_x", profile="cpu")
    card.record("G6.rho", statistic=-0.9, threshold=-0.8, direction="<=", passed=True, description="v1 check")
    card.record("G6.v2.edge", statistic=-0.95, threshold=-0.8, direction="<=", passed=True, protocol="v2",
                description="ρ over the edge")
    card.record("G6.v2.contrast", statistic=0.3, direction="context", passed=True, protocol="v2")
    data = json.loads(card.save(tmp_path).read_text())
    assert [c["protocol"] for c in data["claims"]] == ["v1", "v2", "v2"]
    assert data["claims"][1]["description"] == f"ρ over the edge ({PROTOCOL_NOTES['v2']})"
    assert "protocol v2, fixed 2026-11-28" in data["claims"][2]["description"]
    assert [c["verdict"] for c in data["claims"]] == ["✓", "✓", "—"]
    text = card.summary()
    assert text.splitlines()[0] == "gc_x (cpu): 2/2 ✓ (+1 shown as context)"
    assert "G6.v2.contrast  stat=0.30  (context)  —" in text
    with pytest.raises(ValueError, match="protocol"):
        card.record("G6.v3", statistic=1.0, passed=True, protocol="v3")


def _tidy(values):
    """values: {level: [per-seed values]} -> tidy table with columns hp, seed, gc."""
    return pd.DataFrame([{"hp": level, "seed": s, "gc": v} for level, vals in values.items()
                         for s, v in enumerate(vals)])


def test_seed_mean_spearman_uses_the_means_and_leaves_nans_out():
    from gclib.stats import seed_mean_spearman

    # per seed the trend is noisy (seed 1 alone is not monotone), the seed means fall monotonically
    table = _tidy({1: [10.0, 9.0, 11.0], 2: [9.0, 9.5, 9.0], 3: [8.0, 9.6, math.nan], 4: [5.0, 6.0, 5.5]})
    out = seed_mean_spearman(table, "hp")
    np.testing.assert_allclose(out["means"], [10.0, 9.1666667, 8.8, 5.5])
    assert out["rho"] == pytest.approx(-1.0) and out["n_levels"] == 4 and out["n_seeds"] == 3
    lo, hi = out["rho_ci"]
    # the bootstrap over 3 seeds has 27 equally likely resamples: enumerate them, and the interval's ends
    # must be the exact distribution's 2.5 % and 97.5 % points up to the Monte Carlo error of 2000 draws
    from itertools import product

    from gclib.stats import spearman

    mat = table.pivot_table(index="seed", columns="hp", values="gc", aggfunc="mean", dropna=False).to_numpy()
    exact = []
    for idx in product(range(3), repeat=3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a level no resampled seed reached: NaN
            means = np.nanmean(mat[list(idx)], axis=0)
        ok = np.isfinite(means)
        exact.append(spearman(np.arange(4)[ok], means[ok]) if ok.sum() >= 3 else math.nan)
    exact = np.array([r for r in exact if np.isfinite(r)])
    below_lo, above_hi = np.mean(exact < lo - 1e-12), np.mean(exact > hi + 1e-12)
    assert below_lo <= 0.025 + 0.02 and above_hi <= 0.025 + 0.02, (lo, hi, sorted(set(exact)))
    assert {lo, hi} <= set(np.round(exact, 12)) and lo <= out["rho"] <= hi  # ends: attainable resample values
    assert hi > -1.0  # a resample that drops seed 3's levels flattens the trend: the interval is not a point
    two = seed_mean_spearman(_tidy({1: [1.0], 2: [2.0], 3: [math.nan]}), "hp")
    assert math.isnan(two["rho"]) and two["rho_ci"] is None and two["n_levels"] == 2
    with pytest.raises(ValueError, match="column"):
        seed_mean_spearman(table, "lr")


def test_seed_mean_spread_is_max_over_min_minus_one():
    from gclib.stats import seed_mean_spread

    out = seed_mean_spread(_tidy({0.1: [10.0, 10.2], 0.2: [10.4, 10.6], 0.3: [math.nan, 10.1]}), "hp")
    assert out["spread"] == pytest.approx(10.5 / 10.1 - 1)
    lo, hi = out["spread_ci"]
    # two seeds: 4 equally likely resamples {00, 01, 10, 11}; seed 0 alone lacks level 0.3, so its spread is
    # 10.4/10.0 - 1 (0.04), seed 1 alone 10.6/10.1 - 1, the mixes 10.5/10.1 - 1: the interval spans them
    alone0, alone1, mixed = 10.4 / 10.0 - 1, 10.6 / 10.1 - 1, 10.5 / 10.1 - 1
    assert lo == pytest.approx(min(alone0, alone1, mixed)) and hi == pytest.approx(max(alone0, alone1, mixed))
    assert math.isnan(seed_mean_spread(_tidy({0.1: [1.0, 2.0]}), "hp")["spread"])
