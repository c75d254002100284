"""The statistics beside the verdicts (spec fixed 2026-12-03 in shared/papers/README.md, second revision
2026-12-07): Page's trend test, the floor of its method, the missing-cell rule (grid values before blocks),
independent blocks, per-seed ρ over ≥ 3 grid values, the interval or range over seeds, zero-width intervals,
Holm's adjustment, and how a scorecard carries them (and claims that cannot be judged) without changing a
verdict."""
import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest

from gclib.companion.kernel.judge import Scorecard, record_trend_checks, tally, tally_text, verdict
from gclib.stats import (
    holm,
    min_page_p,
    page_trend,
    per_block_spearman,
    seed_interval,
    trend_strength,
    verdict_interval,
)

ORDER = [0.0, 1e-3, 1e-2, 1e-1]


def _tidy(rows, order=ORDER, **extra):
    """rows: {seed: [value per grid value]} -> tidy table (seed, l2, gc[, extra columns])."""
    out = pd.DataFrame([{"seed": s, "l2": lv, "gc": v}
                        for s, vals in rows.items() for lv, v in zip(order, vals)])
    for name, col in extra.items():
        out[name] = col
    return out


def _page(table, direction="decreasing", order=ORDER, **kw):
    return page_trend(table, block="seed", treatment="l2", value="gc", order=order, direction=direction, **kw)


def _exact_sf(L, n, k):
    """P(L' ≥ L) over all (k!)^n equally likely rankings, by enumeration (small n, k only)."""
    perms = list(itertools.permutations(range(1, k + 1)))
    j = np.arange(1, k + 1)
    row_L = [int(j @ np.array(p)) for p in perms]
    hits = sum(sum(c) >= L for c in itertools.product(row_L, repeat=n))
    return hits / len(perms) ** n


# ---------------------------------------------------------------- Page's L
def test_page_L_matches_the_hand_computed_rank_sums_and_the_enumerated_exact_p():
    order = [1, 2, 3]
    table = _tidy({0: [1.0, 3.0, 2.0], 1: [2.0, 1.0, 3.0], 2: [5.0, 6.0, 7.0]}, order=order)
    # ranks within each seed: (1, 3, 2), (2, 1, 3), (1, 2, 3) -> rank sums R = (4, 6, 8)
    R = np.array([1 + 2 + 1, 3 + 1 + 2, 2 + 3 + 3])
    up = _page(table, "increasing", order=order)
    assert up["L"] == 1 * R[0] + 2 * R[1] + 3 * R[2] == 40
    assert up["method"] == "exact" and (up["n"], up["k"]) == (3, 3)
    assert up["p"] == pytest.approx(_exact_sf(40, 3, 3), rel=1e-12)
    # decreasing: the claimed order reversed, R = (8, 6, 4): L = 8 + 12 + 12; L_up + L_down = 2 E0 = 72
    down = _page(table, "decreasing", order=order)
    assert down["L"] == 32 and up["L"] + down["L"] == 2 * 3 * 3 * 4**2 / 4
    assert down["p"] == pytest.approx(_exact_sf(32, 3, 3), rel=1e-12) and down["p"] > up["p"]


def test_page_trend_reproduces_scipys_docstring_example_in_either_column_order():
    """scipy's example (Statext): 10 students rate tutorial < lecture < seminar: L = 133.5, exact p."""
    ratings = [[3, 4, 3], [2, 2, 4], [3, 3, 5], [1, 3, 2], [2, 3, 2], [2, 4, 5], [1, 2, 4], [3, 4, 4],
               [2, 4, 5], [1, 3, 4]]
    methods = ["tutorial", "lecture", "seminar"]
    table = pd.DataFrame([{"student": i, "method": m, "rating": float(r)}
                          for i, row in enumerate(ratings) for m, r in zip(methods, row)])
    res = page_trend(table, block="student", treatment="method", value="rating", order=methods,
                     direction="increasing")
    assert res["L"] == 133.5 and res["method"] == "exact" and (res["n"], res["k"]) == (10, 3)
    assert res["p"] == pytest.approx(0.0018191161948127822, rel=1e-12)
    # the table's rows in another order (scipy's predicted_ranks=[2, 3, 1] case): the claimed order decides
    shuffled = table.sample(frac=1.0, random_state=0)
    again = page_trend(shuffled, block="student", treatment="method", value="rating", order=methods,
                       direction="increasing")
    assert (again["L"], again["p"]) == (res["L"], res["p"])
    # the same claim stated as "decreasing along seminar, lecture, tutorial" is the same test
    rev = page_trend(table, block="student", treatment="method", value="rating", order=methods[::-1],
                     direction="decreasing")
    assert (rev["L"], rev["p"]) == (res["L"], res["p"])


def test_min_page_p_is_the_closed_form_and_a_perfect_trend_attains_it():
    assert min_page_p(3, 4) == pytest.approx((1 / 24) ** 3, rel=1e-12) == pytest.approx(7.2338e-5, rel=1e-4)
    assert min_page_p(0, 5) == 1.0 and min_page_p(2, 1) == 1.0
    perfect = _tidy({0: [4.0, 3.0, 2.0, 1.0], 1: [9.0, 5.0, 2.0, 0.5], 2: [3.0, 2.9, 2.8, 2.7]})
    res = _page(perfect, "decreasing")
    assert res["method"] == "exact" and res["L"] == 3 * (1 * 1 + 2 * 2 + 3 * 3 + 4 * 4)
    assert res["p_min"] == pytest.approx((1 / 24) ** 3, rel=1e-12)
    assert res["p"] == pytest.approx(res["p_min"], rel=1e-9)
    assert _page(perfect, "increasing")["p"] == pytest.approx(1.0)  # the opposite claim: no evidence
    with pytest.raises(ValueError, match="k must be"):
        min_page_p(3, 0)
    with pytest.raises(ValueError, match="n must be"):
        min_page_p(-1, 3)


def test_a_missing_cell_drops_its_grid_value_from_every_block_before_any_block_is_left_out():
    # spec, second revision: drop the grid values (treatments) with a missing cell while >= 3 remain
    rows = {s: [4.0 + s, 3.0 + s, 2.0 + s, 1.0 + s] for s in range(4)}
    valid = [not (s == 2 and lv == 1e-2) for s in rows for lv in ORDER]  # seed 2 diverged at λ = 1e-2
    res = _page(_tidy(rows, ok=valid), valid="ok")
    assert (res["n"], res["k"], res["treatments_dropped"], res["blocks_left_out"]) == (4, 3, [1e-2], 0)
    assert res["p"] == pytest.approx(min_page_p(4, 3), rel=1e-9) == pytest.approx(res["p_min"])
    nan_rows = {**rows, 1: [5.0, np.nan, 3.0, 2.0]}
    res = _page(_tidy(nan_rows, ok=valid), valid="ok")  # two grid values missing: 2 left, too few
    assert (res["k"], res["treatments_dropped"]) == (4, [])
    assert (res["n"], res["blocks_left_out"], res["blocks_left_out_ids"]) == (2, 2, [1, 2])
    missing_cell = _tidy(rows).drop(index=5)  # seed 1 has no row at one grid value: that value goes
    assert _page(missing_cell)["treatments_dropped"] == [1e-3] and _page(missing_cell)["n"] == 4
    inf = _page(_tidy({**rows, 3: [7.0, np.inf, 5.0, 4.0]}))
    assert inf["treatments_dropped"] == [1e-3] and inf["blocks_left_out"] == 0


def test_with_three_grid_values_a_missing_cell_leaves_its_block_out_as_before():
    order = [0.0, 1e-2, 1e-1]
    rows = {0: [3.0, 2.0, 1.0], 1: [3.0, np.nan, 1.0], 2: [4.0, 3.0, 2.0]}
    res = _page(_tidy(rows, order=order), order=order)
    assert (res["k"], res["treatments_dropped"], res["n"], res["blocks_left_out_ids"]) == (3, [], 2, [1])


def test_fewer_than_two_blocks_or_three_grid_values_give_no_p():
    order = [0.0, 1e-2, 1e-1]
    one = _page(_tidy({0: [3.0, 2.0, 1.0], 1: [np.nan, 2.0, 1.0]}, order=order), order=order)
    assert one["p"] is None and one["L"] is None and one["method"] is None and one["p_min"] is None
    assert one["reason"] == "n < 2" and (one["n"], one["blocks_left_out"]) == (1, 1)
    two_levels = _page(_tidy({0: [2.0, 1.0], 1: [3.0, 1.0]}, order=[0.0, 1.0]), order=[0.0, 1.0])
    assert two_levels["p"] is None and two_levels["reason"] == "k < 3"


def test_blocks_that_share_random_numbers_get_no_p_and_say_why():
    rows = {s: [4.0 + s, 3.0 + s, 2.0 + s, 1.0 + s] for s in range(3)}
    shared = _tidy(rows, init_seed=[0] * 12)  # every block drew from one stream (common random numbers)
    res = trend_strength(shared, "l2", block="seed", direction="decreasing", stream="init_seed")
    assert res["page"]["p"] is None and "share random numbers" in res["page"]["reason"]
    own = _tidy(rows, init_seed=[s for s in range(3) for _ in ORDER])
    res = trend_strength(own, "l2", block="seed", direction="decreasing", stream="init_seed")
    assert res["page"]["p"] == pytest.approx(min_page_p(3, 4)) and res["page"]["reason"] is None
    assert res["page"]["block_unit"] == "seeds"
    by_target = trend_strength(own.rename(columns={"seed": "target"}), "l2", block="target",
                               direction="decreasing", stream="init_seed")
    assert by_target["page"]["block_unit"] == "targets" and by_target["interval"]["unit"] == "targets"


def test_the_floor_is_the_floor_of_the_method_that_gave_p():
    from scipy.stats import page_trend_test

    from gclib.stats import page_floor

    # exact test: (1/k!)^n, attained by a perfect trend
    perfect = _tidy({s: [4.0, 3.0, 2.0, 1.0] for s in range(3)})
    res = _page(perfect)
    assert res["p_min_method"].startswith("exact") and res["at_floor"] is True
    # normal approximation (k = 12 > 8, as G1's ten draws over 12 depths): its p at L = L_max, attained
    order = list(range(12))
    best = _tidy({s: list(range(12, 0, -1)) for s in range(10)}, order=order)
    res = _page(best, order=order)
    ref = page_trend_test(np.tile(np.arange(1.0, 13.0), (10, 1)))
    assert res["method"] == "asymptotic" and res["p_min_method"].startswith("normal approximation")
    floor = page_floor(10, 12, "asymptotic")
    assert res["p_min"] == pytest.approx(ref.pvalue, rel=1e-9) == pytest.approx(floor)
    assert res["at_floor"] is True and res["p_min"] > min_page_p(10, 12) * 1e60  # not the exact floor
    swapped = list(range(12, 0, -1))
    swapped[3], swapped[4] = swapped[4], swapped[3]  # one pair out of order in every block
    noisy = _page(_tidy({s: swapped for s in range(10)}, order=order), order=order)
    assert noisy["at_floor"] is False and noisy["p"] > noisy["p_min"]


def test_large_grids_fall_back_to_scipys_default_method():
    from scipy.stats import page_trend_test

    order = list(range(9))  # k = 9 > 8: scipy offers no exact p by default
    rng = np.random.default_rng(0)
    vals = {s: list(-np.arange(9.0) + rng.normal(0, 2, 9)) for s in range(3)}
    res = _page(_tidy(vals, order=order), order=order)
    ref = page_trend_test(np.array([vals[s][::-1] for s in range(3)]))
    assert res["method"] == "asymptotic" == ref.method and res["p"] == pytest.approx(ref.pvalue, rel=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    (dict(direction="down"), "direction"),
    (dict(order=[0.0, 1e-3, 1e-2]), "order is missing"),
    (dict(order=[0.0, 0.0, 1e-2, 1e-1]), "repeated"),
    (dict(order=[]), "order must be"),
    (dict(valid="flag"), "valid='flag' must name a boolean column"),
    (dict(valid="nope"), "not a column"),
])
def test_page_trend_rejects_bad_arguments(kwargs, match):
    table = _tidy({0: [4.0, 3.0, 2.0, 1.0], 1: [5.0, 4.0, 3.0, 2.0]}, flag=[1] * 8)
    with pytest.raises(ValueError, match=match):
        page_trend(table, **{**dict(block="seed", treatment="l2", value="gc", order=ORDER,
                                    direction="decreasing"), **kwargs})


def test_page_trend_rejects_repeated_cells():
    table = _tidy({0: [4.0, 3.0, 2.0, 1.0], 1: [5.0, 4.0, 3.0, 2.0]})
    with pytest.raises(ValueError, match="more than one row"):
        _page(pd.concat([table, table.iloc[:1]]))


# ---------------------------------------------------------------- per-seed ρ
def test_per_block_spearman_gives_one_rho_per_seed_and_none_not_nan():
    table = _tidy({0: [4.0, 3.0, 2.0, 1.0], 1: [1.0, 3.0, 2.0, 4.0], 2: [np.nan, np.nan, np.nan, 1.0],
                   3: [2.0, 2.0, 2.0, 2.0], 4: [1.0, np.nan, 2.0, np.nan], 5: [1.0, np.nan, 2.0, 1.5]})
    rho = per_block_spearman(table, block="seed", treatment="l2", value="gc")
    # seed 4 has two grid values left: its ρ would be +1 by construction, so none (spec, second revision)
    assert rho == {0: -1.0, 1: 0.8, 2: None, 3: None, 4: None, 5: 0.5}
    assert all(type(k) is int for k in rho)
    with pytest.raises(ValueError, match="not a column"):
        per_block_spearman(table, block="seed", treatment="lr", value="gc")


# ---------------------------------------------------------------- interval or range over seeds
def test_seed_interval_is_a_range_below_five_seeds():
    iv = seed_interval([-1.0, -0.8, -0.9])
    assert iv == {"kind": "range", "lo": -1.0, "hi": -0.8, "n": 3, "unit": "seeds",
                  "text": "n = 3 seeds; range, not an interval"}
    by_target = seed_interval([0.1, 1.0, 0.7, 0.98], unit="targets")  # gr_width: targets are the blocks
    assert by_target["unit"] == "targets" and by_target["text"] == "n = 4 targets; range, not an interval"
    assert seed_interval([0.3], unit="targets")["text"] == "n = 1 target; range, not an interval"
    assert seed_interval([0.5, np.nan, None])["n"] == 1  # non-finite values are left out first
    assert seed_interval([]) == {"kind": "n/a", "reason": "no values", "n": 0}
    assert seed_interval([np.nan])["kind"] == "n/a"


@pytest.mark.parametrize("n", [5, 8])
def test_seed_interval_bootstraps_from_five_seeds_deterministically(n):
    values = np.random.default_rng(n).normal(-0.9, 0.05, n)
    iv = seed_interval(values, seed=3)
    assert iv["kind"] == "bootstrap" and iv["method"] == "BCa" and iv["n"] == n and iv["level"] == 0.95
    assert iv["lo"] <= iv["estimate"] <= iv["hi"] and iv["estimate"] == pytest.approx(values.mean())
    assert "BCa" in iv["text"] and f"n = {n} seeds" in iv["text"]
    assert seed_interval(values, seed=3) == iv
    narrow = seed_interval(values, level=0.5, seed=3)
    assert narrow["hi"] - narrow["lo"] < iv["hi"] - iv["lo"]


def test_seed_interval_falls_back_to_percentile_and_is_never_nan():
    iv = seed_interval([-1.0] * 6)  # BCa's acceleration is 0/0 on constant values
    assert iv["kind"] == "bootstrap" and iv["method"] == "percentile" and iv["lo"] == iv["hi"] == -1.0
    for values in ([-1.0] * 6, [1.0, 1.0, 1.0, 1.0, 2.0], [0.1, 0.5, 0.3, 0.9, 0.2]):
        out = seed_interval(values)
        assert not any(isinstance(v, float) and math.isnan(v) for v in out.values())
    with pytest.raises(ValueError, match="level"):
        seed_interval([1.0, 2.0], level=1.0)
    with pytest.raises(ValueError, match="seed"):
        seed_interval([1.0, 2.0], seed=-1)


def test_verdict_interval_labels_the_verdicts_own_bootstrap_and_never_bootstraps_below_five_seeds():
    # from 5 seeds: the verdict's own interval, unchanged, with its method and n
    iv = verdict_interval((0.3, 0.9), 5, values=[0.2, 0.4, 0.6, 0.8, 1.0])
    assert iv == {"kind": "bootstrap", "method": "percentile", "lo": 0.3, "hi": 0.9, "n": 5, "unit": "seeds",
                  "level": 0.95, "text": "n = 5 seeds; 95% bootstrap interval (percentile)"}
    # below 5 seeds: the range of the per-seed values, as seed_interval gives it
    assert verdict_interval((0.3, 0.9), 3, values=[0.2, 0.7, 0.5]) == seed_interval([0.2, 0.7, 0.5])
    with pytest.raises(ValueError, match="per-seed values"):
        verdict_interval((0.3, 0.9), 3)
    # a histogram's multinomial resampling: n is the initializations, a bootstrap at any n
    big = verdict_interval((-0.2, 0.1), 10_000_000, unit="initializations per histogram", method="percentile")
    assert big["n"] == 10_000_000 and big["text"].startswith("n = 10,000,000 initializations per histogram")
    assert verdict_interval((float("nan"), 1.0), 7)["kind"] == "n/a"
    with pytest.raises(ValueError, match="n"):
        verdict_interval((0.0, 1.0), 0)


def test_an_interval_of_zero_width_is_no_monte_carlo_spread_never_an_interval():
    # E-4 at the paper profile: every resample of 10^7 initializations gave the same rank statistic
    iv = verdict_interval((-0.714, -0.714), 10_000_000, unit="initializations per histogram",
                          method="percentile; multinomial resampling of each histogram")
    assert iv["kind"] == "no-spread" and "lo" not in iv and "hi" not in iv and iv["value"] == -0.714
    assert iv["text"] == ("no Monte Carlo spread at n = 10,000,000 initializations per histogram: every "
                          "resample gave -0.714")
    card = Scorecard("gr_depth", profile="paper")
    card.record("E-4.rho_depth_D", statistic=-0.714, ci=(-0.714, -0.714), threshold=0.0, direction="<",
                passed=True)
    line = card.summary().splitlines()[1]
    assert "[-0.71, -0.71]" not in line and "(no resampling spread)" in line


# ---------------------------------------------------------------- Holm
def test_holm_matches_a_hand_computed_example():
    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 -> max(0.06, 0.04) = 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.3, 0.6]) == [0.6, 0.6] and holm([0.7, 0.9]) == [1.0, 1.0]  # monotone, capped at 1
    assert holm([]) == [] and holm([0.04]) == [0.04]


def test_holm_passes_none_through_and_leaves_it_out_of_m():
    out = holm([None, 0.01, 0.04, None, 0.03, 0.005])
    assert out[0] is None and out[3] is None
    assert out[1:3] + out[4:] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    with pytest.raises(ValueError, match=r"pvalues\[1\]"):
        holm([0.1, 1.5])
    with pytest.raises(TypeError, match="pvalues"):
        holm("0.1")


# ---------------------------------------------------------------- the scorecard carries them
def _stats():
    table = _tidy({0: [4.0, 3.0, 2.0, 1.0], 1: [5.0, 4.0, np.nan, 2.0], 2: [6.0, 5.0, 4.0, 3.0]})
    return {"page": _page(table), "per_seed_rho": per_block_spearman(table, block="seed", treatment="l2",
                                                                     value="gc"),
            "interval": seed_interval([-1.0, -1.0, -0.8]), "extra": (np.float64(np.nan), np.int64(2), np.inf),
            "array": np.array([1.0, np.nan])}


def test_stats_round_trip_through_json_without_nan(tmp_path):
    card = Scorecard("gc_l2", profile="cpu")
    card.record("G2.rho", statistic=-0.93, ci=(-1.0, -0.8), threshold=-0.8, direction="<=", passed=True,
                stats=_stats())
    d = card.to_dict()
    text = json.dumps(d, allow_nan=False, ensure_ascii=False)  # raises on any NaN or inf
    assert json.loads(text) == d
    stats = d["claims"][0]["stats"]
    assert stats["per_seed_rho"] == {"0": -1.0, "1": -1.0, "2": -1.0}
    assert stats["extra"] == [None, 2, None] and stats["array"] == [1.0, None]
    assert stats["page"]["treatments_dropped"] == [1e-2] and stats["page"]["method"] == "exact"
    saved = json.loads(card.save(tmp_path).read_text())
    assert saved == d
    with pytest.raises(TypeError, match="stats must be a dict"):
        card.record("G2.other", statistic=1.0, passed=True, stats=[1, 2])
    with pytest.raises(TypeError, match="stats"):
        card.record("G2.third", statistic=1.0, passed=True, stats={"f": object()})


def test_summary_and_json_of_a_claim_without_stats_are_unchanged():
    plain, with_stats = Scorecard("gc_l2", profile="cpu"), Scorecard("gc_l2", profile="cpu")
    kw = dict(statistic=-0.953, ci=(-1.0, -0.8), threshold=-0.8, direction="<=", passed=True)
    plain.record("G2.l2_lowers_gc", **kw)
    with_stats.record("G2.l2_lowers_gc", **kw, stats=_stats())
    assert plain.summary() == with_stats.summary() == (
        "gc_l2 (cpu): 1/1 ✓\nG2.l2_lowers_gc  stat=-0.95 [-1.00, -0.80]  (<= -0.80)  ✓")
    assert set(plain.to_dict()["claims"][0]) == {"claim_id", "description", "statistic", "ci", "threshold",
                                                 "direction", "passed", "protocol", "verdict"}


def test_a_claim_that_cannot_be_judged_is_n_a_and_counted_apart(tmp_path):
    card = Scorecard("gc_x", profile="cpu")
    card.record("G6.rho", statistic=-0.9, threshold=-0.8, direction="<=", passed=True)
    claim = card.record_not_judged("G6.v2.flow", reason="no run in the stable set", protocol="v2",
                                   direction="<=", threshold=-0.8, description="ρ over the stable set")
    card.record("G6.v2.contrast", statistic=0.3, direction="context", passed=True, protocol="v2")
    assert claim.verdict == "n/a" and claim.statistic is None and not claim.judged and not claim.passed
    lines = card.summary().splitlines()
    assert lines[0] == "gc_x (cpu): 1/1 ✓ (+1 shown as context; +1 n/a)"
    assert "G6.v2.flow      n/a (no run in the stable set)" in lines
    d = json.loads(card.save(tmp_path).read_text())
    flow = d["claims"][1]
    assert flow["verdict"] == "n/a" and flow["statistic"] is None
    assert flow["reason"] == "no run in the stable set"
    assert verdict(flow) == "n/a"
    t = tally(d["claims"])
    assert t == {"v1": [1, 0], "v2": [0, 0], "post-hoc": [0, 0], "context": 1, "n/a": {"v1": 0, "v2": 1}}
    assert tally_text(t) == "v1: 1 ✓ 0 ✗ · v2: 0 ✓ 0 ✗ 1 n/a (+1 shown as context)"
    assert tally_text(t, bold=True).startswith("v1: **1 ✓** **0 ✗** · v2: **0 ✓** **0 ✗** **1 n/a**")
    only_na = Scorecard("gc_y")
    only_na.record_not_judged("G6.v2.flow", reason="no run in the stable set")
    assert only_na.summary() == "gc_y (smoke): 0/0 ✓ (+1 n/a)\nG6.v2.flow  n/a (no run in the stable set)"


def test_tally_text_without_n_a_claims_reads_as_before():
    claims = [{"direction": "<=", "passed": True, "protocol": "v1"}, {"direction": "<=", "passed": False},
              {"direction": ">=", "passed": True, "protocol": "v2"}, {"direction": "context", "passed": True}]
    t = tally(claims)
    assert (t["v1"], t["v2"], t["context"]) == ([1, 1], [1, 0], 1)
    assert tally_text(t) == "v1: 1 ✓ 1 ✗ · v2: 1 ✓ 0 ✗ (+1 shown as context)"
    assert tally_text(tally([])) == "no checked claims"


def test_a_post_hoc_check_is_labelled_and_counted_apart_from_the_pre_registered_ones():
    card = Scorecard("gc_init_depth", profile="cpu")
    card.record("G1.he_flat", statistic=1.09, threshold=0.5, direction=">=", passed=True)
    late = card.record("G1.he_flat_two_sided", statistic=1.09, threshold=(0.5, 2.0), direction="in",
                       passed=True, protocol="post-hoc", description="within a factor 2")
    assert late.description.endswith("(added 2026-12-07, after the v1 runs: not pre-registered)")
    t = tally(card.to_dict()["claims"])
    assert (t["v1"], t["post-hoc"]) == ([1, 0], [1, 0])
    assert tally_text(t) == "v1: 1 ✓ 0 ✗ · post-hoc: 1 ✓ 0 ✗"


@pytest.mark.parametrize("kwargs, match", [
    (dict(reason=""), "reason"), (dict(reason="a\nb"), "reason"),
    (dict(reason="x", direction="context"), "context"), (dict(reason="x", protocol="v3"), "protocol"),
])
def test_record_not_judged_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Scorecard("x").record_not_judged("c", **kwargs)


def test_record_trend_checks_attaches_the_strength_to_the_rho_claim_and_a_range_to_the_drop():
    final = _tidy({0: [4.0, 3.0, 2.0, 1.0], 1: [5.0, 4.5, 3.0, 2.0], 2: [6.0, 5.0, 4.0, 3.5]})
    card = Scorecard("gc_l2", profile="cpu")
    trend = record_trend_checks(card, "G2", "l2", final)
    rho, drop = card.claims
    assert set(drop.stats) == {"interval"} and set(rho.stats) == {"page", "per_seed_rho", "interval"}
    assert drop.stats["interval"] == {"kind": "range", "lo": -3.0, "hi": -2.5, "n": 3, "unit": "seeds",
                                      "text": "n = 3 seeds; range, not an interval"}
    page = rho.stats["page"]
    assert page["direction"] == "decreasing" and page["method"] == "exact"
    assert (page["n"], page["k"]) == (3, 4)
    assert page["p"] == pytest.approx(min_page_p(3, 4), rel=1e-9)
    assert rho.stats["per_seed_rho"] == {"0": -1.0, "1": -1.0, "2": -1.0}
    assert rho.stats["interval"] == seed_interval(trend["rho_per_seed"])
    plain = Scorecard("gc_l2", profile="cpu")  # the same claims recorded without stats: same summary
    plain.record("G2.rho_l2_gc", statistic=rho.statistic, ci=rho.ci, threshold=-0.8, direction="<=",
                 passed=rho.passed, description=rho.description)
    plain.record("G2.gc_drop", statistic=drop.statistic, ci=drop.ci, threshold=0.0, direction="<",
                 passed=drop.passed, description=drop.description)
    assert card.summary() == plain.summary()
    assert card.summary().splitlines()[1] == "G2.rho_l2_gc  stat=-1.00 (no resampling spread)  (<= -0.80)  ✓"


def test_add_stats_attaches_to_a_recorded_claim_without_touching_its_verdict():
    card = Scorecard("gc_flatness", profile="cpu")
    card.record("G4.rho_flatness_gc", statistic=-1.0, ci=(-1.0, -1.0), threshold=-0.8, direction="<=",
                passed=True)
    before = card.summary()
    final = _tidy({0: [4.0, 3.0, 2.0, 1.0], 1: [5.0, 4.5, 3.0, 2.0], 2: [6.0, 5.0, 4.0, 3.5]})
    claim = card.add_stats("G4.rho_flatness_gc", trend_strength(final, "l2", direction="decreasing"))
    assert claim.verdict == "✓" and card.summary() == before
    assert claim.stats["page"]["p"] == pytest.approx(min_page_p(3, 4), rel=1e-9)
    assert claim.stats["interval"]["kind"] == "range"
    with pytest.raises(ValueError, match="no claim 'G4.nope'"):
        card.add_stats("G4.nope", {})


def test_spearman_columns_survives_a_constant_column_and_a_single_column():
    """scipy's spearmanr returns one NaN for the whole matrix as soon as one column is constant, and a
    number instead of a matrix for two columns: spearman_columns gives NaN only for the constant column and
    ρ for the others, equal to scipy's column by column (the gr_width fuzz draw whose replicates were all
    equal crashed np.vstack on an empty row)."""
    from scipy.stats import spearmanr

    from gclib.stats import spearman_columns

    rng = np.random.default_rng(3)
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    d = np.column_stack([np.full(5, 0.7), rng.normal(size=(5, 6)), [5.0, 4, 3, 2, 1], [1.0, 2, 2, 4, 5]])
    got = spearman_columns(x, d)
    assert got.shape == (d.shape[1],) and np.isnan(got[0])
    want = [spearmanr(x, d[:, j]).statistic for j in range(1, d.shape[1])]
    np.testing.assert_allclose(got[1:], want, atol=1e-12)
    assert got[-2] == -1.0
    for j in range(1, d.shape[1]):  # one column: the same value as within the matrix
        np.testing.assert_allclose(spearman_columns(x, d[:, j:j + 1]), [got[j]], atol=1e-12)
    full = rng.normal(size=(5, 4))  # the common path (no constant column) is scipy's matrix, unchanged
    np.testing.assert_array_equal(spearman_columns(x, full),
                                  np.round(spearmanr(np.column_stack([x, full])).statistic[0, 1:], 12))
