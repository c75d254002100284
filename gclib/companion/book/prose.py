"""Numbers in prose come from records: a committed result's discussion (``results/<profile>/<figure>/
discussion.md``) is a template whose every measured number is a placeholder, filled at book build time from
that result's own scorecard, per-run tables and provenance. Nothing in it is typed by hand, so it cannot
drift from what the run recorded; ``tests/test_prose_numbers.py`` renders every template and refuses a
measured-looking number outside a placeholder. [ours]

A placeholder is ``{{ EXPR }}`` or ``{{ EXPR | FORMAT }}``. ``EXPR`` is a Python expression over:

- ``claim[ID]`` — the scorecard's claim ``ID`` as recorded (``statistic``, ``ci``, ``verdict``, ``stats``, …),
  ``stat(ID)``, its statistic, and ``verdict(ID)``, its ✓, ✗, n/a or —;
- ``table[NAME]`` — the per-run table ``NAME.csv`` as a pandas DataFrame (``table["gr_depth_runs"]``), and
  ``runs``, the figure's own ``<figure>_runs`` table;
- ``params`` — the run's parameters, and ``prov`` — its whole provenance;
- ``np`` (NumPy) and ``math``.

``FORMAT`` is a format spec (``.2f``, ``.3g``, ``,``, ``+.2f``, ``.0%``) or one of: ``pow10`` (10 to the
rounded decimal exponent, ``10⁻¹⁹``), ``sci`` (``1.6 × 10⁻⁸⁷``, two significant digits), ``list`` (the
values of a sequence, ``.2f`` each, comma-separated), ``values`` (the same, each as short as it prints:
``0.5, 1, 2``), ``range`` (``lo … hi``), ``int`` (a whole number with thousands separators). A number's
minus sign is printed as −; a placeholder without a format prints ``str(value)`` as it is.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

from gclib.companion.kernel.judge.verdicts import verdict
from gclib.companion.outputs import read_json

__all__ = ["PLACEHOLDER", "render", "placeholders", "bare_numbers", "record_context"]

PLACEHOLDER = re.compile(r"\{\{(.+?)\}\}", re.S)
_SUPER = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
#: numbers that look measured: decimals, percentages, scientific notation, powers of ten, factors
_MEASURED = re.compile(r"(?<![\w.])(?:\d+(?:\.\d+)?\s?×|[×x]\s?\d+(?:\.\d+)?|\d+(?:\.\d+)?\s?%|"
                       r"\d+(?:\.\d+)?e[-+]?\d+|\d+\.\d+|10[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)")


_NAMED = ("pow10", "sci", "int", "list", "values", "range")
_SPEC = re.compile(r"^[<>=^]?[+\- ]?#?0?\d*[,_]?(\.\d+)?[bcdeEfFgGnosxX%]?$")
_BUILTINS = {"abs": abs, "min": min, "max": max, "len": len, "round": round, "sorted": sorted, "sum": sum,
             "float": float, "int": int, "str": str, "list": list, "dict": dict, "zip": zip, "range": range,
             "any": any, "all": all}


def _pow10(x) -> str:
    return "10" + str(int(round(math.log10(abs(x))))).translate(_SUPER)


def _sci(x) -> str:
    if x == 0:
        return "0"
    e = int(math.floor(math.log10(abs(x))))
    m = x / 10 ** e
    if round(abs(m), 1) >= 10:
        m, e = m / 10, e + 1
    return f"{m:.1f} × 10{str(e).translate(_SUPER)}"


def _minus(text: str) -> str:
    """A printed number's minus sign is the typographic one (−), as in the rest of the book."""
    return re.sub(r"(?<![\w.])-(?=\d|∞|inf)", "−", text)


def _fmt(value, spec: str) -> str:
    spec = spec.strip()
    if spec == "pow10":
        return _pow10(float(value))
    if spec == "sci":
        return _minus(_sci(float(value)))
    if spec == "int":
        return _minus(f"{int(round(float(value))):,}")
    if spec == "list":
        return _minus(", ".join(f"{float(v):.2f}" for v in value))
    if spec == "values":
        return _minus(", ".join(f"{float(v):g}" for v in value))
    if spec == "range":
        lo, hi = value
        return _minus(f"{float(lo):.2f} … {float(hi):.2f}")
    out = format(value, spec)
    return _minus(out) if isinstance(value, (int, float)) or hasattr(value, "dtype") else out


def record_context(directory) -> dict:
    """The names a template of the result folder ``directory`` may use (module docstring)."""
    import numpy as np
    import pandas as pd

    d = Path(directory)
    card = read_json(d / f"{d.name}.scorecard.json") or {}
    prov = read_json(d / f"{d.name}.provenance.json") or {}
    claims = {c.get("claim_id"): c for c in card.get("claims", [])}
    tables = {p.stem: pd.read_csv(p) for p in sorted(d.glob("*.csv")) if not p.name.startswith(".")}

    def stat(cid):
        return claims[cid]["statistic"]

    def verdict_of(cid):
        return verdict(claims[cid])

    return {"claim": claims, "stat": stat, "verdict": verdict_of, "table": tables,
            "runs": tables.get(f"{d.name}_runs"), "params": prov.get("parameters") or {}, "prov": prov,
            "np": np, "math": math}


def placeholders(text: str) -> list[str]:
    """The placeholders of ``text``, without their braces."""
    return [m.group(1).strip() for m in PLACEHOLDER.finditer(text)]


def render(text: str, context: dict, *, where: str = "template") -> str:
    """``text`` with every placeholder replaced by its value from ``context`` (:func:`record_context`);
    a placeholder that does not evaluate raises ``ValueError`` naming it and ``where``."""
    def fill(m):
        body = m.group(1)
        expr, spec = body, ""
        head, bar, tail = body.rpartition("|")
        if bar and (tail.strip() in _NAMED or _SPEC.match(tail.strip())):
            expr, spec = head, tail.strip()
        try:
            value = eval(expr.strip(), {"__builtins__": _BUILTINS}, dict(context))
            return _fmt(value, spec) if spec else str(value)
        except Exception as err:
            raise ValueError(f"{where}: placeholder {{{{{body.strip()}}}}} failed: {type(err).__name__}: "
                             f"{err}") from None
    return PLACEHOLDER.sub(fill, text)


def bare_numbers(text: str) -> list[str]:
    """Measured-looking numbers (decimals, percentages, scientific notation, powers of ten, factors) that
    stand outside a placeholder and outside inline code and math: each is typed by hand."""
    outside = PLACEHOLDER.sub(" ", text)
    outside = re.sub(r"`[^`]*`|\$[^$]*\$", " ", outside)
    return [m.group(0).strip() for m in _MEASURED.finditer(outside)]
