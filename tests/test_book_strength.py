"""How the book shows the strength of each verdict: Page's test, per-seed ρ, ranges below 5 seeds, Holm."""
import pandas as pd
import pytest

from gclib.companion.book import strength
from gclib.companion.kernel.judge import Scorecard
from gclib.stats import min_page_p, trend_strength


def _claim(rows, claim_id="G2.rho_l2_gc", passed=True, direction="decreasing"):
    table = pd.DataFrame([{"seed": s, "l2": lv, "gc": v} for s, vals in rows.items()
                          for lv, v in zip([0.0, 1e-3, 1e-2, 1e-1], vals)])
    card = Scorecard("gc_l2", profile="cpu")
    card.record(claim_id, statistic=-1.0, ci=(-1.0, -1.0), threshold=-0.8, direction="<=", passed=passed)
    card.add_stats(claim_id, trend_strength(table, "l2", direction=direction))
    return card.to_dict()["claims"][0]


def test_a_three_seed_trend_shows_page_its_smallest_p_and_a_range_not_an_interval():
    c = _claim({0: [4, 3, 2, 1], 1: [5, 4.5, 3, 2], 2: [6, 5, 4, 3.5]})
    text = strength.trend_text(c)
    assert "exact" in text and "n = 3 seeds as blocks, k = 4 grid values" in text
    assert text.count(f"{min_page_p(3, 4):.2g}") == 2 and "floor of the exact test" in text
    assert text.endswith("p at its floor)")  # p equals the smallest possible, and says so
    assert strength.per_seed_text(c) == "(-1.00, -1.00, -1.00)"
    assert strength.interval_text(c) == "range -1 … -1 (n = 3 seeds; range, not an interval)"


def test_a_labelled_interval_shows_its_method_n_and_unit():
    from gclib.stats import verdict_interval

    c = {"stats": {"interval": verdict_interval((0.25, 0.5), 10_000_000, unit="initializations per histogram",
                                                method="percentile")}}
    assert strength.interval_text(c) == ("[0.25, 0.5] (percentile, n = 10,000,000 initializations per "
                                         "histogram)")
    c = {"stats": {"interval": verdict_interval((0.25, 0.5), 10, values=range(10))}}
    assert strength.interval_text(c) == "[0.25, 0.5] (percentile, n = 10 seeds)"


def test_a_missing_run_drops_its_grid_value_first_and_blocks_only_when_too_few_remain():
    c = _claim({0: [4, 3, 2, 1], 1: [5, 4.5, float("nan"), 2], 2: [6, 5, 4, 3.5]})
    text = strength.trend_text(c)
    assert "n = 3 seeds as blocks, k = 3 grid values" in text and "grid value 0.01 dropped" in text
    assert "left out" not in text
    c = _claim({0: [4, 3, 2, 1], 1: [5, 4.5, float("nan"), 2], 2: [6, float("nan"), 4, 3.5]})
    assert strength.trend_text(c).startswith(  # two grid values would leave 2: blocks go instead (md-escaped)
        "n/a (n \\< 2; n = 1 seed as blocks, k = 4 grid values; 2 blocks left out")


def test_a_zero_width_resampling_interval_and_a_two_value_grid_are_said_for_what_they_are():
    from gclib.stats import verdict_interval

    iv = verdict_interval((-0.714, -0.714), 10_000_000, unit="initializations per histogram")
    c = {"stats": {"mc_interval": iv, "interval": {"kind": "range", "lo": -1.0, "hi": 0.09, "n": 4,
                                                   "unit": "targets"}}}
    assert strength.mc_interval_text(c) == ("no Monte Carlo spread (n = 10,000,000 initializations per "
                                            "histogram: every resample gave -0.714)")
    assert strength.interval_text(c) == "range -1 … 0.09 (n = 4 targets; range, not an interval)"
    two = pd.DataFrame([{"seed": s, "lr": lr, "gc": v} for s in range(3)
                        for lr, v in ((1.0, 2.0), (2.0, 1.0))])
    st = trend_strength(two, "lr", direction="decreasing")
    assert set(st["per_seed_rho"].values()) == {None}
    assert strength.per_seed_text({"stats": st}) == "no per-seed ρ over 2 grid values (±1 by construction)"


def test_holm_across_a_papers_trend_claims_and_the_sentence():
    strong = _claim({0: [4, 3, 2, 1], 1: [5, 4.5, 3, 2], 2: [6, 5, 4, 3.5]}, "G2.rho_l2_gc")
    weak = _claim({0: [1, 2, 3, 4], 1: [2, 1, 3, 4], 2: [1, 3, 2, 4]}, "G3.rho_spectral_gc", passed=False)
    plain = {"claim_id": "G1.he_flat", "passed": True}
    adj = strength.holm_column([strong, plain, weak])
    assert set(adj) == {0, 2}
    p = [strength.page_of(c)["p"] for c in (strong, weak)]
    assert adj[0] == pytest.approx(min(1.0, 2 * min(p)))
    sentence = strength.holm_sentence("Dherin et al. 2022", [strong, plain, weak])
    assert "of its 2 trend claims with a Page test, 1 pass" in sentence
    assert "1 of those would still hold" in sentence
