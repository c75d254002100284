"""Where a claim is judged (inside the figure's kernel): each claim's statistic, interval, threshold and
verdict, the checks a regularizer sweep records, and the one rule for verdicts and their counts.

- :mod:`~gclib.companion.kernel.judge.claims` — :class:`Scorecard` and :class:`Claim`: record, summarise,
  save and load
- :mod:`~gclib.companion.kernel.judge.trends` — :func:`record_trend_checks`, the v1 checks of G2, G3, G5
- :mod:`~gclib.companion.kernel.judge.verdicts` — ✓, ✗, n/a or —, and how verdicts are counted
"""
from gclib.companion.kernel.judge.claims import (
    NO_STATISTIC,
    PROTOCOL_NOTES,
    PROTOCOLS,
    Claim,
    Scorecard,
    load_scorecards,
)
from gclib.companion.kernel.judge.trends import record_trend_checks
from gclib.companion.kernel.judge.verdicts import fraction_text, not_judged, tally, tally_text, verdict

__all__ = ["Scorecard", "Claim", "load_scorecards", "record_trend_checks", "PROTOCOLS", "PROTOCOL_NOTES",
           "NO_STATISTIC",
           "verdict", "not_judged", "tally", "tally_text", "fraction_text"]
