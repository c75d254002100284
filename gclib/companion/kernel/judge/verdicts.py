"""The one rule for what a claim's verdict is and how verdicts are counted: the scorecard summary a notebook
prints, the command line's one-line result and the book's tallies all use it. [ours]

A claim is a scorecard record, as a :class:`~gclib.companion.kernel.judge.claims.Claim` or as its JSON dict
(``Scorecard.to_dict``). Its verdict is one of

- ``"✓"`` / ``"✗"`` — a checked claim, judged against its pre-registered threshold (``passed``);
- ``"n/a"`` — a claim that could not be judged at its setting (``Scorecard.record_not_judged``: it has a
  ``reason``), counted apart from ✓ and ✗;
- ``"—"`` — a value shown as context beside the checks (``direction="context"``), with no verdict at all.

Protocols (v1, v2) are counted apart and never summed into one number on a page.
"""
from __future__ import annotations

__all__ = ["VERDICTS", "verdict", "not_judged", "protocol_of", "counts", "tally", "tally_text",
           "fraction_text"]

#: every verdict a claim can have
VERDICTS = ("✓", "✗", "n/a", "—")
#: tally's keys that are not protocols
_TALLY_EXTRA = ("context", "n/a")


def _get(claim, key: str, default=None):
    return claim.get(key, default) if isinstance(claim, dict) else getattr(claim, key, default)


def not_judged(claim) -> bool:
    """True for a claim recorded with ``Scorecard.record_not_judged`` (it has a ``reason``; a JSON record may
    also say so by its stored verdict "n/a")."""
    stored = claim.get("verdict") if isinstance(claim, dict) else None
    return stored == "n/a" or _get(claim, "reason") is not None


def verdict(claim) -> str:
    """"✓"/"✗"; "—" for a context value; "n/a" for a claim that could not be judged at its setting."""
    if _get(claim, "direction") == "context":
        return "—"
    if not_judged(claim):
        return "n/a"
    return "✓" if _get(claim, "passed") else "✗"


def protocol_of(claim) -> str:
    return _get(claim, "protocol") or "v1"


def counts(claims) -> dict[str, int]:
    """``{"✓": n, "✗": n, "n/a": n, "—": n}`` over ``claims`` (all protocols together)."""
    out = dict.fromkeys(VERDICTS, 0)
    for c in claims:
        out[verdict(c)] += 1
    return out


def fraction_text(claims) -> str:
    """"2/3 ✓ (+1 n/a; +2 shown as context)": ✓ over the claims judged ✓ or ✗, with the claims that could not
    be judged and the context values counted apart (the summary line and the command line print this)."""
    n = counts(claims)
    notes = [text for k, text in (("—", f"+{n['—']} shown as context"), ("n/a", f"+{n['n/a']} n/a")) if n[k]]
    return f"{n['✓']}/{n['✓'] + n['✗']} ✓" + (f" ({'; '.join(notes)})" if notes else "")


def tally(claims) -> dict:
    """``{"v1": [✓, ✗], "v2": [✓, ✗], "post-hoc": [✓, ✗], "context": n, "n/a": {"v1": n, "v2": n}}``:
    checked claims counted per protocol (never summed into one number; a post-hoc check apart from the
    pre-registered ones), values shown as context (no verdict) apart, and claims that could not be judged at
    their setting (verdict "n/a") apart from ✓ and ✗, per protocol."""
    out = {"v1": [0, 0], "v2": [0, 0], "post-hoc": [0, 0], "context": 0, "n/a": {"v1": 0, "v2": 0}}
    for c in claims:
        v, p = verdict(c), protocol_of(c)
        if v == "—":
            out["context"] += 1
        elif v == "n/a":
            out["n/a"][p] = out["n/a"].get(p, 0) + 1
        else:
            out.setdefault(p, [0, 0])[0 if v == "✓" else 1] += 1
    return out


def tally_text(t: dict, *, bold: bool = False) -> str:
    """"v1: 5 ✓ 2 ✗ · v2: 3 ✓ 1 ✗ 1 n/a (+2 shown as context)" (protocols without claims left out; "n/a"
    only where a claim could not be judged)."""
    b = "**" if bold else ""
    na = t.get("n/a") or {}
    parts = []
    for p in t:
        if p in _TALLY_EXTRA:
            continue
        (ok, bad), skipped = t[p], na.get(p, 0)
        if ok + bad + skipped:
            parts.append(f"{p}: {b}{ok} ✓{b} {b}{bad} ✗{b}" + (f" {b}{skipped} n/a{b}" if skipped else ""))
    context = f" (+{t['context']} shown as context)" if t["context"] else ""
    return " · ".join(parts or ["no checked claims"]) + context
