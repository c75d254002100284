"""The book's view of committed measurement records: ``benchmarks/record.json`` (written by ``make bench``,
``benchmarks/run_all.py``) as the include ``include/bench.md``, so that the book quotes the record's numbers
and date instead of typing them. [ours]
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from gclib.companion.format import md_cell, md_table
from gclib.companion.locations import repo_root

__all__ = ["bench_table"]

_SIGNS = {"<=": "≤", ">=": "≥"}


def _value(x) -> str:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return "—"
    if isinstance(x, int):
        return str(x)
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"


def _measured(row: dict | None, note: bool = True) -> str:
    if row is None:
        return "—"
    if row.get("measured") is not None:
        text = _value(row["measured"])
    elif isinstance(row.get("range"), (list, tuple)) and len(row["range"]) == 2:
        text = "–".join(_value(v) for v in row["range"])
    else:
        text = "—"
    return text + (f" ({md_cell(row['note'])})" if note and row.get("note") else "")


def _target(target) -> str:
    if not target:
        return "—"
    sign, _, value = str(target).partition(" ")
    return f"{_SIGNS.get(sign, sign)} {value}".strip()


def _machine(m: dict) -> str:
    parts = [m.get("cpu") or "an unrecorded CPU"]
    if m.get("cores"):
        parts.append(f"{m['cores']} cores")
    if m.get("torch"):
        parts.append(f"torch {m['torch']}")
    if m.get("torch_threads"):
        parts.append(f"{m['torch_threads']} torch threads by default")
    return ", ".join(parts)


def bench_table(record: dict | str | os.PathLike | None = None) -> str:
    """``make bench``'s record as Markdown: a sentence with the date, machine and source, then one table row
    per benchmark (measured, unit, target, met) with the previous record's value beside it where there is
    one. ``record``: the record itself, or its path; default ``<repo>/benchmarks/record.json`` (a note
    saying so when it is absent)."""
    if not isinstance(record, dict):
        path = Path(record) if record is not None else repo_root() / "benchmarks" / "record.json"
        if not path.exists():
            return "No benchmark record (`benchmarks/record.json`) yet: run `make bench`.\n"
        record = json.loads(path.read_text(encoding="utf-8"))
    prev = record.get("previous") or {}
    prev_rows = {r.get("benchmark"): r for r in prev.get("rows") or []}
    source = record.get("source") or "make bench"
    command = record.get("command") or "make bench"
    head = (f"Measured {record.get('date', 'on an unrecorded date')} by `{command}` on "
            f"{_machine(record.get('machine') or {})}; source: {md_cell(source)}"
            + (" (quick sizes: a smoke check, not reference numbers)" if record.get("quick") else "")
            + ". Units: a ratio to a baseline timed in the same run (fwd+bwd units: one forward+backward pass"
            " of the MLP 784-256-256-10 on 512 inputs; × RNG bound: the `torch.randn` rate), or an absolute"
            " rate where the unit says so.")
    header = ["benchmark", f"measured ({record.get('date', '?')})", "unit", "target", "met"]
    if prev_rows:
        header.insert(2, f"previous ({prev.get('date', '?')})")
    rows = []
    for r in record.get("rows") or []:
        unit = {"x": "×", "x RNG bound": "× RNG bound"}.get(r.get("unit"), r.get("unit") or "")
        cells = [md_cell(r.get("benchmark", "")), _measured(r), md_cell(unit), _target(r.get("target")),
                 "—" if not r.get("target") else ("✓" if r.get("ok") else "✗")]
        if prev_rows:
            cells.insert(2, _measured(prev_rows.get(r.get("benchmark")), note=False))
        rows.append(cells)
    return head + "\n\n" + md_table(header, rows) + "\n"
