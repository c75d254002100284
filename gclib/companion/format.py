"""The one place numbers, p-values, times and tables are formatted for people: the command line's tables,
the scorecard summary and the book's pages use these (a leaf: it imports nothing of the wing). Which claims
count as ✓, ✗ or n/a is a rule, not a format: :mod:`gclib.companion.kernel.judge.verdicts`. [ours]
"""
from __future__ import annotations

import json
import math
import re
import shlex

from gclib.companion.aliases import moved_names

__all__ = ["fmt_number", "fmt_ci", "fmt_threshold", "fmt_p", "fixed", "md_cell", "md_code", "code_span",
           "seconds", "est_times", "OVER_BUDGET_NOTE", "wall", "shell_value", "md_table", "text_table",
           "DIRECTIONS"]

DIRECTIONS = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}
# the verdict rules of release 0.2 lived here; they are rules, not formats (one DeprecationWarning, until 0.4)
__getattr__ = moved_names(__name__, dict.fromkeys(
    ("verdict", "not_judged", "protocol_of", "tally", "tally_text"), "gclib.companion.kernel.judge.verdicts"))


def fixed(x, digits: int) -> str:
    """``digits`` decimals; scientific only far outside that range (abs(x) < 10^-(digits+2) or
    ≥ 10^(digits+3)), so values near 10^-digits, e.g. 0.0098 and 0.0101, both print 0.01 (a switch of
    notation right at 10^-digits made a bootstrap bound print 9.78e-03 on one CPU and 0.01 on another);
    "—" for None."""
    if x is None:
        return "—"
    if not math.isfinite(x):
        return str(x)
    if x != 0 and (abs(x) >= 10 ** (digits + 3) or abs(x) < 10 ** (-digits - 2)):
        return f"{x:.{digits}e}"
    return f"{x:.{digits}f}"


def text_table(rows: list[list[str]]) -> str:
    """Left-aligned plain-text columns (the command line's tables)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def fmt_number(x) -> str:
    """Numbers for tables: 4 significant digits, ``—`` for missing."""
    if x is None:
        return "—"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return str(x) if not math.isfinite(x) else f"{x:.4g}"
    return md_cell(str(x))


def fmt_ci(ci) -> str:
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        return f"[{fmt_number(ci[0])}, {fmt_number(ci[1])}]"
    return "—"


def fmt_threshold(claim: dict) -> str:
    d, t = claim.get("direction"), claim.get("threshold")
    if d == "context":
        return "context (no verdict)"
    if d == "report" or t is None:
        return "reported (no bar)"
    if d == "in" and isinstance(t, (list, tuple)) and len(t) == 2:
        return f"in [{fmt_number(t[0])}, {fmt_number(t[1])}]"
    return f"{DIRECTIONS.get(d, d or '')} {fmt_number(t)}".strip()


_MD_SPECIAL = re.compile(r"([\\`*_<>\[\]|{}#])")


def fmt_p(x) -> str:
    """A p-value for a table: two significant digits below 0.01, three decimals above; — for None."""
    return "—" if x is None else (f"{x:.2g}" if x < 0.01 else f"{x:.3f}")


def md_cell(text: str) -> str:
    """Free text for a Markdown table cell: Markdown escaped outside ``$…$`` math, one line."""
    parts = re.split(r"(\$[^$]+\$)", str(text).replace("\n", " "))
    return "".join(
        p.replace("|", r"\|")
        if p.startswith("$") and p.endswith("$") and len(p) > 1
        else _MD_SPECIAL.sub(r"\\\1", p)
        for p in parts
    )


def md_code(value) -> str:
    """A value as an inline code span (JSON where possible), safe inside a table cell."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > 120:
        text = text[:117] + "..."
    ticks = "``" if "`" in text else "`"
    pad = " " if ticks == "``" else ""
    return f"{ticks}{pad}{text.replace('|', chr(92) + '|')}{pad}{ticks}"


def code_span(text: str) -> str:
    ticks = "``" if "`" in text else "`"
    return f"{ticks}{text}{ticks}"


def seconds(s) -> str:
    if not isinstance(s, (int, float)) or isinstance(s, bool):
        return "—"
    if s < 90:
        return f"{s:.0f} s"
    return f"{s / 60:.0f} min" if s < 5400 else f"{s / 3600:.1f} h"


#: what the † after a cpu time means (the tables that use :func:`est_times` say it once)
OVER_BUDGET_NOTE = ("† over the 3-minute budget of a cpu-profile figure (`over_budget` in `profiles.yaml` "
                    "says what was measured).")


def est_times(entry: dict) -> str:
    """A profiles.yaml entry's estimated run time per profile: "smoke / cpu / paper"; the cpu time is marked
    † when the entry says it is over the cpu budget (``over_budget``)."""
    est = entry.get("est_seconds") or {}
    times = [seconds(est.get(p)) for p in ("smoke", "cpu", "paper")]
    if entry.get("over_budget"):
        times[1] += " †"
    return " / ".join(times)


def wall(s) -> str:
    if not isinstance(s, (int, float)) or isinstance(s, bool):
        return "—"
    return f"{s:.1f} s" if s < 90 else f"{seconds(s)} ({s:.0f} s)"


def shell_value(value) -> str:
    """A parameter value as ``-p`` expects it (a Python literal; a plain word is a string), shell-quoted."""
    if (
        isinstance(value, str)
        and re.fullmatch(r"[A-Za-z_][\w.:/-]*", value)
        and value not in ("True", "False", "None", "true", "false", "none", "null")
    ):
        text = value
    else:
        text = repr(value)
    return shlex.quote(text)


def md_table(header: list[str], rows: list[list[str]], *, compact: bool = False) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    if compact:  # smaller font (book/_static/gclib.css) for wide generated tables
        lines = ["```{table}", ":class: gclib-compact", *lines, "```"]
    return "\n".join(lines)
