"""Valid input never crashes a figure: parameter sets drawn by Hypothesis from the declared ranges
(``tests/fuzzing.py``) at dry-run-sized caps, for every figure, each run through the runner to a scorecard in
which every claim is ✓, ✗, n/a or — (context): never a traceback, never a failed run (exit 1).

``make test`` runs 3 draws per figure (derandomized: the same draws on every machine) plus the regression
draws below; ``make fuzz`` runs ``GCLIB_FUZZ_EXAMPLES`` per figure (default 20: 300 in all), random, with
shrinking, and prints any failing draw to add here. [ours]
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fuzzing import parameter_sets
from hypothesis import HealthCheck, Phase, example, given, settings

from gclib.companion.figures import check_values
from gclib.companion.kernel.judge import verdict
from gclib.companion.run import run_figure

ROOT = Path(__file__).resolve().parents[1]
FIGURES = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
EXAMPLES = int(os.environ.get("GCLIB_FUZZ_EXAMPLES", "0"))
_COMMON = dict(deadline=None, database=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
settings.register_profile("gclib-ci", max_examples=3, derandomize=True,
                          phases=[Phase.explicit, Phase.generate], **_COMMON)
settings.register_profile("gclib-fuzz", max_examples=max(EXAMPLES, 1), **_COMMON)
SETTINGS = settings.get_profile("gclib-fuzz" if EXAMPLES else "gclib-ci")

#: draws that once failed, kept as explicit examples (the fix named beside each): figure → [overrides]
REGRESSIONS: dict[str, list[dict]] = {}

pytestmark = pytest.mark.notebooks


def run_draw(figure: str, params: dict, out: Path) -> None:
    """Run one drawn parameter set and check it ended with a whole scorecard."""
    check_values(figure, params)  # the strategy draws only valid values: a refusal here is its bug
    res = run_figure(figure, profile="smoke", overrides=params, out_dir=out, progress=False)
    assert res.status == "ran", f"{figure} failed on a valid draw: {res.error}\ndraw: {params!r}"
    card = json.loads(res.scorecard.read_text(encoding="utf-8"))
    assert card["figure"] == figure and card["claims"], f"{figure}: no claim recorded for {params!r}"
    verdicts = [verdict(c) for c in card["claims"]]
    assert set(verdicts) <= {"✓", "✗", "n/a", "—"}, (verdicts, params)


def _test_for(figure: str):
    @SETTINGS
    @given(params=parameter_sets(figure))
    def test(params, tmp_path_factory):
        run_draw(figure, params, tmp_path_factory.mktemp(f"fuzz-{figure}"))

    for draw in REGRESSIONS.get(figure, []):
        test = example(params=draw)(test)
    test.__name__ = f"test_valid_draws_of_{figure}_end_with_a_scorecard"
    test.__doc__ = f"Drawn valid parameter sets of {figure} run to a scorecard."
    return test


for _fig in FIGURES:
    globals()[f"test_valid_draws_of_{_fig}_end_with_a_scorecard"] = _test_for(_fig)
