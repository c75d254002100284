"""Where a claim is judged: each reproduced claim's statistic, confidence interval, threshold and verdict,
recorded inside the figure's kernel (the statistics behind the verdicts are computed by :mod:`gclib.stats`;
which verdicts count how: :mod:`~gclib.companion.kernel.judge.verdicts`).

A notebook creates one :class:`Scorecard`, calls :meth:`Scorecard.record` for every claim it tests (thresholds
come from ``shared/papers``, fixed before running) — or :meth:`Scorecard.record_not_judged` for a claim that
cannot be judged at this setting (verdict "n/a") — prints :meth:`Scorecard.summary` last (what nbval
compares) and :meth:`Scorecard.save` writes ``<out>/<figure>.scorecard.json`` for the book's scorecard page.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from gclib.companion.format import fixed
from gclib.companion.kernel.judge.verdicts import fraction_text, verdict
from gclib.companion.outputs import output_dir, write_atomic
from gclib.validate import check_choice, check_positive_int

__all__ = ["Scorecard", "Claim", "load_scorecards", "PROTOCOLS", "PROTOCOL_NOTES", "NO_STATISTIC"]

_DIRECTIONS = (">=", "<=", ">", "<", "in", "report", "context")
#: Scorecard protocols: "v1" (the design notes' first recipes), "v2" (fixed before any v2 run; it adds
#: checks beside the v1 ones and replaces none) and "post-hoc" (a check added after its runs were seen,
#: beside the pre-registered one: shown and counted apart, never as evidence fixed in advance). A claim's
#: description ends with its protocol's note.
PROTOCOLS = ("v1", "v2", "post-hoc")
#: why a claim whose statistic is NaN is "n/a" (:meth:`Scorecard.record`; an infinite statistic is a value)
NO_STATISTIC = "no statistic at this setting: every run diverged, or too few grid values"
PROTOCOL_NOTES = {"v1": "", "v2": "protocol v2, fixed 2026-11-28",
                  "post-hoc": "added 2026-12-07, after the v1 runs: not pre-registered"}


@dataclass(frozen=True)
class Claim:
    """One checked claim. ``ci`` is ``(lo, hi)`` or ``None``; ``threshold`` a number, ``(lo, hi)`` for
    ``direction="in"``, or ``None`` for ``direction="report"`` (a measured direction with no numeric bar: the
    notebook's ``passed`` says whether it was resolved) and ``direction="context"`` (a value shown beside the
    checks, with no verdict at all: ``passed`` is ignored and the verdict is "—").

    ``stats``: the statistics beside the verdict (spec fixed 2026-12-03 in shared/papers/README.md: Page's
    trend test, per-seed ρ, the interval or range over seeds), JSON-ready (see :meth:`Scorecard.record`); they
    change no verdict. ``reason``: set only for a claim that could not be judged
    (:meth:`Scorecard.record_not_judged`): its statistic is None and its verdict "n/a"."""

    claim_id: str
    description: str
    statistic: float | None
    ci: tuple[float, float] | None
    threshold: float | tuple[float, float] | None
    direction: str
    passed: bool
    protocol: str = "v1"
    stats: dict | None = field(default=None, hash=False)
    reason: str | None = None

    @property
    def judged(self) -> bool:
        """False for a claim recorded with :meth:`Scorecard.record_not_judged` (verdict "n/a")."""
        return self.reason is None

    @property
    def checked(self) -> bool:
        """False for ``direction="context"``: a value shown beside the checks, with no verdict."""
        return self.direction != "context"

    @property
    def verdict(self) -> str:
        """"✓" or "✗"; "—" for a context value; "n/a" for a claim that could not be judged
        (:func:`~gclib.companion.kernel.judge.verdicts.verdict`)."""
        return verdict(self)


def _num(x) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.floating, np.integer)):
        raise TypeError(f"expected a real number, got {type(x).__name__} {x!r}")
    return float(x)


def _json_ready(x, where: str = "stats"):
    """``x`` as plain JSON data: dict keys as strings, tuples/arrays as lists, numpy scalars as Python ones,
    NaN and ±inf as None (a scorecard's new fields never carry NaN)."""
    if x is None or isinstance(x, (str, bool)):
        return x
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _json_ready(v, f"{where}[{k!r}]") for k, v in x.items()}
    if isinstance(x, np.ndarray):
        x = x.tolist()
    if isinstance(x, (list, tuple)):
        return [_json_ready(v, f"{where}[{i}]") for i, v in enumerate(x)]
    raise TypeError(f"{where} must hold only numbers, strings, None, lists and dicts, got {type(x).__name__}")


def _threshold(threshold):
    if threshold is None:
        return None
    return tuple(_num(v) for v in threshold) if isinstance(threshold, (tuple, list)) else _num(threshold)


class Scorecard:
    """The claims checked by one figure notebook at one profile."""

    def __init__(self, figure: str, profile: str = "smoke"):
        if not isinstance(figure, str) or not figure:
            raise ValueError(f"figure must be a non-empty string, got {figure!r}")
        check_choice("profile", profile, ("smoke", "cpu", "paper", "custom", "dry-run"))
        self.figure = figure
        self.profile = profile
        self.claims: list[Claim] = []

    def _check_new(self, claim_id: str, direction: str, protocol: str, description: str) -> str:
        """Validate what every claim has; return its description with the protocol note appended."""
        if not isinstance(claim_id, str) or not claim_id:
            raise ValueError(f"claim_id must be a non-empty string, got {claim_id!r}")
        if any(c.claim_id == claim_id for c in self.claims):
            raise ValueError(f"claim_id {claim_id!r} recorded twice")
        check_choice("direction", direction, _DIRECTIONS)
        check_choice("protocol", protocol, PROTOCOLS)
        if PROTOCOL_NOTES[protocol] and PROTOCOL_NOTES[protocol] not in description:
            description = f"{description} ({PROTOCOL_NOTES[protocol]})".strip()
        return description

    def record(self, claim_id: str, *, statistic, passed: bool, ci=None, threshold=None,
               direction: str = ">=", description: str = "", protocol: str = "v1",
               stats: dict | None = None) -> Claim:
        """Record one claim. ``passed`` is computed by the caller from the statistic/CI and the threshold
        fixed in ``shared/papers``; it must be a bool (numpy bools are accepted). A NaN
        ``statistic`` (no run reached the target, fewer than 3 grid values) is no evidence either way: the
        claim is recorded as not judged ("n/a", reason :data:`NO_STATISTIC`), never as a ✗. ``protocol``
        "v2" marks a check of the revised protocol: its description gets "(protocol v2, fixed 2026-11-28)"
        appended.

        ``stats``: optional statistics beside the verdict (spec fixed 2026-12-03 in shared/papers/README.md),
        e.g. ``{"page": gclib.stats.page_trend(...), "per_seed_rho": gclib.stats.per_block_spearman(...),
        "interval": gclib.stats.seed_interval(...)}``. Stored JSON-ready (dict keys as strings, arrays and
        tuples as lists, numpy scalars as Python ones, NaN/inf as None) and written by :meth:`to_dict`; they
        change neither the verdict nor :meth:`summary`."""
        if not isinstance(passed, (bool, np.bool_)):
            raise TypeError(f"passed must be a bool, got {type(passed).__name__}")
        if stats is not None and not isinstance(stats, dict):
            raise TypeError(f"stats must be a dict or None, got {type(stats).__name__}")
        stat = _num(statistic)
        if math.isnan(stat) and direction != "context":  # no statistic: no verdict, never a ✗
            claim = self.record_not_judged(claim_id, reason=NO_STATISTIC, description=description,
                                           protocol=protocol, direction=direction, threshold=threshold)
            return self.add_stats(claim_id, stats) if stats else claim
        description = self._check_new(claim_id, direction, protocol, description)
        if ci is not None:
            lo, hi = (_num(v) for v in ci)
            ci = (lo, hi)
        claim = Claim(claim_id, description, stat, ci, _threshold(threshold), direction, bool(passed),
                      protocol, stats=None if stats is None else _json_ready(stats))
        self.claims.append(claim)
        return claim

    def add_stats(self, claim_id: str, stats: dict) -> Claim:
        """Attach the statistics beside an already recorded claim's verdict (see :meth:`record`'s ``stats``);
        its verdict, statistic and summary line stay as they are."""
        import dataclasses  # noqa: PLC0415

        if not isinstance(stats, dict):
            raise TypeError(f"stats must be a dict, got {type(stats).__name__}")
        for i, c in enumerate(self.claims):
            if c.claim_id == claim_id:
                self.claims[i] = dataclasses.replace(c, stats=_json_ready({**(c.stats or {}), **stats}))
                return self.claims[i]
        known = ", ".join(c.claim_id for c in self.claims) or "none"
        raise ValueError(f"no claim {claim_id!r} recorded; recorded: {known}")

    def record_not_judged(self, claim_id: str, *, reason: str, description: str = "", protocol: str = "v1",
                          direction: str = ">=", threshold=None) -> Claim:
        """Record a claim that cannot be judged at this setting (e.g. protocol v2's check over the stable
        set when no run is in it): verdict "n/a", statistic None, and ``reason`` (one line, shown as
        ``G6.v2.flow  n/a (no run in the stable set)``). It is counted apart from ✓ and ✗
        (:func:`~gclib.companion.kernel.judge.verdicts.tally`). ``direction``/``threshold``: the check it
        would have had (``direction="context"`` is refused: a context value has no verdict to withhold)."""
        description = self._check_new(claim_id, direction, protocol, description)
        if direction == "context":
            raise ValueError("direction must be a checked direction for record_not_judged, got 'context'")
        if not isinstance(reason, str) or not reason.strip() or "\n" in reason:
            raise ValueError(f"reason must be a non-empty one-line string, got {reason!r}")
        claim = Claim(claim_id, description, None, None, _threshold(threshold), direction, False, protocol,
                      reason=reason.strip())
        self.claims.append(claim)
        return claim

    def summary(self, digits: int = 2) -> str:
        """One rounded, stable line per claim: ``id  stat=… [lo, hi]  (dir thr)  ✓/✗``; ``id  n/a (reason)``
        for a claim that could not be judged (counted apart in the first line: "(+1 n/a)"). A CI of zero
        width (every resample gave the same value) is no interval: "(no resampling spread)" instead."""
        check_positive_int("digits", digits)
        if not self.claims:
            return f"{self.figure} ({self.profile}): no claims recorded"
        width = max(len(c.claim_id) for c in self.claims)
        lines = [f"{self.figure} ({self.profile}): {fraction_text(self.claims)}"]
        for c in self.claims:
            if not c.judged:
                lines.append(f"{c.claim_id:<{width}}  n/a ({c.reason})")
                continue
            ci = "" if not c.ci else " (no resampling spread)" if c.ci[0] == c.ci[1] else \
                f" [{fixed(c.ci[0], digits)}, {fixed(c.ci[1], digits)}]"  # zero width: not an interval
            if c.direction == "context":
                thr = "(context)"
            elif c.direction == "report":
                thr = "(reported)"
            elif c.direction == "in":
                thr = f"(in [{fixed(c.threshold[0], digits)}, {fixed(c.threshold[1], digits)}])"
            else:
                thr = f"({c.direction} {fixed(c.threshold, digits)})"
            lines.append(f"{c.claim_id:<{width}}  stat={fixed(c.statistic, digits)}{ci}  {thr}  {c.verdict}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        claims = []
        for c in self.claims:
            d = asdict(c)
            d["ci"] = list(c.ci) if c.ci else None
            d["threshold"] = list(c.threshold) if isinstance(c.threshold, tuple) else c.threshold
            d["verdict"] = c.verdict
            for key in ("stats", "reason"):  # written only when set: older scorecards' JSON is unchanged
                if d[key] is None:
                    del d[key]
            claims.append(d)
        return {"figure": self.figure, "profile": self.profile, "claims": claims}

    def save(self, out_dir: str | os.PathLike | None = None) -> Path:
        """Write ``<out>/<figure>.scorecard.json`` (see :func:`gclib.companion.outputs.output_dir`),
        atomically: a temporary file, then ``os.replace``, so a killed run never leaves half a scorecard."""
        path = output_dir(out_dir) / f"{self.figure}.scorecard.json"
        write_atomic(path, json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=True) + "\n")
        return path

    def __repr__(self) -> str:
        return f"Scorecard({self.figure!r}, profile={self.profile!r}, claims={len(self.claims)})"


def load_scorecards(paths) -> list[dict]:
    """Read scorecard JSON files (an iterable of paths) into dicts, sorted by figure id."""
    cards = [json.loads(Path(p).read_text()) for p in paths]
    return sorted(cards, key=lambda c: c["figure"])
