"""Numbers in prose that come from a measurement agree with the measurement's own record.

(a) README's Performance table (and the date, torch version and unit time stated above it) against
    ``benchmarks/record.json``, the record ``make bench`` writes (``benchmarks/run_all.py``): each value exact
    to the precision it is printed with, bracketed values against the record's ``previous``.
(b) each figure notebook's first Markdown cell states its smoke and cpu runtimes (and the paper estimate)
    as ``smoke ≈ N s`` …: they agree with ``notebooks/profiles.yaml``'s ``est_seconds`` (measured on the
    2-core reference CPU) to the unit the prose prints (``≈ 15 s`` for 15, ``≈ 4 min`` for 240).

A failure names the value the record gives, so the prose can be updated after a new measurement.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RECORD = ROOT / "benchmarks" / "record.json"
NOTEBOOKS = ROOT / "notebooks"

NUM = r"\d+(?:\.\d+)?"
VALUE = re.compile(rf"({NUM})(?:\s*[–-]\s*({NUM}))?")

# README Performance row (a substring of its first cell) -> how the record gives its numbers:
#   rows: record rows whose benchmark contains one of these substrings (and none of ``exclude``);
#   label: (regex with one value group in the README's first cell, substring of the record row it quotes)
PERFORMANCE_ROWS = {
    "exact GC, K = 10 (": dict(rows=["exact GC, K=10 ("]),
    "exact GC, K = 100": dict(rows=["exact GC, K=100"]),
    "Hutchinson GC, one probe": dict(rows=["Hutchinson GC, 1 probe"]),
    "sharpness λ_max": dict(rows=["sharpness λ_max: one Lanczos iteration"]),
    "per-example `autograd.functional.jacobian` loop": dict(
        rows=["speedup exact vs loop"], label=(r"loop: (\S+) units", "naive per-example jacobian loop")),
    "batched init sampling": dict(
        rows=["batched weights"], exclude=["batched weights he_truncated_normal"],
        label=(r"\((\S+) M normals/s\)", "torch.randn rate")),
    "truncated He normal": dict(rows=["batched weights he_truncated_normal"]),
    "exact Gaussian pre-activation shortcut": dict(
        rows=["speedup preactivation vs naive loop"],
        label=(r"loop (\S+) k inits/s", "naive nn.Module loop")),
}


def _record() -> dict:
    return json.loads(RECORD.read_text(encoding="utf-8"))


def _section(heading: str) -> str:
    """README's section that starts with ``heading``, up to the next ``## `` heading."""
    text = README.read_text(encoding="utf-8")
    start = text.index(heading)
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def _performance_section() -> str:
    return _section("## Performance")


def _table_rows(section: str) -> list[list[str]]:
    rows = []
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows[1:]  # without the header


def _span(rows: list[dict], where: str) -> tuple[float, float]:
    """(low, high) over the measured values (or seeded ranges) of ``rows``."""
    assert rows, f"the record has no row for {where}"
    values = []
    for r in rows:
        if r.get("measured") is not None:
            values += [r["measured"], r["measured"]]
        else:
            assert r.get("range"), f"record row {r['benchmark']!r} has neither measured nor range"
            values += list(r["range"])
    return min(values), max(values)


def _select(record: dict, names: list[str], exclude: list[str] = ()) -> list[dict]:
    return [r for r in record.get("rows") or [] if any(n in r["benchmark"] for n in names)
            and not any(e in r["benchmark"] for e in exclude)]


def _agrees(printed: str, span: tuple[float, float]) -> bool:
    """``printed`` ("2.85" or "0.89–1.06") is the span rounded to the printed decimals."""
    m = VALUE.fullmatch(printed.strip())
    assert m, printed
    lo, hi = m.group(1), m.group(2) or m.group(1)  # one printed value: both ends of the span print as it
    decimals = lambda s: len(s.split(".")[1]) if "." in s else 0  # noqa: E731
    return f"{span[0]:.{decimals(lo)}f}" == lo and f"{span[1]:.{decimals(hi)}f}" == hi


def _expected(printed: str, span: tuple[float, float]) -> str:
    m = VALUE.fullmatch(printed.strip())
    d = len(m.group(1).split(".")[1]) if "." in m.group(1) else 0
    lo, hi = f"{span[0]:.{d}f}", f"{span[1]:.{d}f}"
    return lo if lo == hi else f"{lo}–{hi}"


def _value_and_bracket(cell: str) -> tuple[str, str | None]:
    """'2.85 units (2.90)' -> ('2.85', '2.90'); '44× faster (49×)' -> ('44', '49'); ranges kept."""
    m = re.match(r"^(.*?)(?:\s*\(([^)]*)\))?\s*$", cell)
    current, bracket = m.group(1), m.group(2)
    first = VALUE.search(current)
    assert first, cell
    prev = VALUE.search(bracket).group(0) if bracket and VALUE.search(bracket) else None
    return first.group(0), prev


def test_record_is_committed_not_quick_and_has_the_run_all_schema():
    import sys
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from run_all import RECORD as run_all_record
        from run_all import RECORD_SCHEMA
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    assert run_all_record == RECORD
    record = _record()
    assert record["quick"] is False, "the committed record must come from a full run"
    for rec in [record] + ([record["previous"]] if record.get("previous") else []):
        assert list(rec) == RECORD_SCHEMA["record"]
        assert list(rec["machine"]) == RECORD_SCHEMA["machine"]
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", rec["date"])
        for r in rec["rows"]:
            assert list(r) == RECORD_SCHEMA["rows"], r


def test_readme_performance_header_names_the_record_dates_and_machine():
    section, record = _performance_section(), _record()
    head = section.split("\n|", 1)[0]
    dates = re.search(r"(\d{4}-\d{2}-\d{2})(?: \(in brackets: (\d{4}-\d{2}-\d{2})\))?", head)
    assert dates, "the Performance section states no date"
    assert dates.group(1) == record["date"], f"README says {dates.group(1)}, the record {record['date']}"
    if dates.group(2):
        assert record.get("previous"), "README brackets a previous run the record does not hold"
        assert dates.group(2) == record["previous"]["date"]
    torch = re.search(r"torch (\d+\.\d+(?:\.\d+)?)", head)
    if torch:
        assert str(record["machine"]["torch"]).startswith(torch.group(1)), record["machine"]
    unit = re.search(rf"\(({NUM}(?:–{NUM})?) ms here\)", head)
    if unit:
        span = _span(_select(record, ["unit: fwd+bwd"]), "the unit time")
        assert _agrees(unit.group(1), span), \
            f"README: {unit.group(1)} ms, record: {_expected(unit.group(1), span)}"


def test_readme_performance_rows_agree_with_the_record():
    record, prev = _record(), _record().get("previous") or {}
    rows = _table_rows(_performance_section())
    assert len(rows) == len(PERFORMANCE_ROWS), [r[0] for r in rows]
    errors = []
    for label, measured, target in rows:
        (key,) = [k for k in PERFORMANCE_ROWS if k in label] or [None]
        assert key is not None, f"README row {label!r} has no entry in PERFORMANCE_ROWS"
        spec = PERFORMANCE_ROWS[key]
        selected = _select(record, spec["rows"], spec.get("exclude", []))
        span = _span(selected, label)
        current, bracket = _value_and_bracket(measured)
        if not _agrees(current, span):
            errors.append(f"{key}: README {current}, record {_expected(current, span)}")
        if bracket is not None:
            pspan = _span(_select(prev, spec["rows"], spec.get("exclude", [])), f"{label} (previous)")
            if not _agrees(bracket, pspan):
                errors.append(f"{key}: README ({bracket}), previous record {_expected(bracket, pspan)}")
        if "label" in spec:
            pattern, name = spec["label"]
            m = re.search(pattern, label)
            assert m, f"{label!r} does not match {pattern!r}"
            lspan = _span(_select(record, [name]), name)
            if not _agrees(m.group(1), lspan):
                errors.append(f"{key}: README {m.group(1)} ({name}), record {_expected(m.group(1), lspan)}")
        targets = {r["target"] for r in selected}
        assert len(targets) == 1, (key, targets)
        sign, value = targets.pop().split()
        m = re.match(rf"([≤≥])\s*({NUM})", target)
        assert m, target
        if {"≤": "<=", "≥": ">="}[m.group(1)] != sign or float(m.group(2)) != float(value):
            errors.append(f"{key}: README target {target!r}, record {sign} {value}")
        if not all(r["ok"] for r in selected):
            errors.append(f"{key}: the record misses its target")
    assert not errors, "\n".join(errors)


# --------------------------------------------------------------------------------------------- notebooks
RUNTIME = re.compile(rf"\b(smoke|cpu|paper) ≈ ({NUM}) (s|min)\b")


def _profiles() -> dict:
    return yaml.safe_load((NOTEBOOKS / "profiles.yaml").read_text(encoding="utf-8"))


def _first_markdown(nb_path: Path) -> tuple[str, str]:
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
    src = cell["source"]
    return cell.get("id", ""), src if isinstance(src, str) else "".join(src)


def runtime_mismatches(text: str, est_seconds: dict) -> list[str]:
    """The runtime claims of ``text`` that disagree with ``est_seconds`` (and the profiles it omits)."""
    found = {}
    for m in RUNTIME.finditer(text):
        found.setdefault(m.group(1), (m.group(2), m.group(3)))
    problems = [f"states no {p} runtime" for p in ("smoke", "cpu") if p not in found]
    for profile, (printed, unit) in found.items():
        est = est_seconds.get(profile)
        if not isinstance(est, (int, float)):
            problems.append(f"{profile} ≈ {printed} {unit}, but profiles.yaml has no est_seconds.{profile}")
            continue
        value = est / 60 if unit == "min" else est
        decimals = len(printed.split(".")[1]) if "." in printed else 0
        if f"{value:.{decimals}f}" != printed:
            problems.append(f"{profile} ≈ {printed} {unit}, profiles.yaml: {est} s "
                            f"≈ {value:.{decimals}f} {unit}")
    return problems


NOTEBOOK_PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))


def test_every_profiled_notebook_is_checked():
    assert {p.stem for p in NOTEBOOK_PATHS} >= {k for k, v in _profiles().items() if "est_seconds" in v}


@pytest.mark.parametrize("nb_path", NOTEBOOK_PATHS, ids=[p.stem for p in NOTEBOOK_PATHS])
def test_notebook_runtime_prose_agrees_with_profiles(nb_path):
    est = (_profiles().get(nb_path.stem) or {}).get("est_seconds") or {}
    cell_id, text = _first_markdown(nb_path)
    problems = runtime_mismatches(text, est)
    assert not problems, f"{nb_path.name} cell {cell_id}: " + "; ".join(problems)


# ------------------------------------------------------------------------------------ README cost table
COSTS = ROOT / "benchmarks" / "costs.json"
# README cost row (a substring of its first cell) -> the costs.json steps whose times its second cell
# quotes, in the order it prints them (the paper-profile rows are checked against their provenance in
# tests/test_paper_results.py)
COST_ROWS = {
    "`make setup` on a new machine": ["setup"],
    "`make test` on a fresh clone": ["make_test", "make_test_pytest"],
    "`gclib run all --profile smoke --jobs 2`": ["smoke_cold", "smoke_warm"],
    "`gclib run all --profile paper --dry-run --jobs 2`": ["paper_dry_run"],
    "`gclib run all --profile cpu --jobs 1 --device cpu --threads 1`": ["cpu_cold"],
    "`make book JOBS=2` (cpu profile), cold": ["book_cold"],
    "`make book` again with nothing changed": ["book_warm"],
    "built book": ["book_size_mb"],
}
DURATION = re.compile(r"(\d+) min (\d+) s|(\d+(?:\.\d+)?) s\b|(\d+(?:\.\d+)?) MB\b")




def _printed_like(printed: re.Match, step: dict) -> str:
    """The record's value in the printed form of ``printed`` (minutes and seconds, seconds with the printed
    decimals, or megabytes)."""
    if printed.group(4) is not None:
        value, text = step["megabytes"], printed.group(4)
    else:
        value = step["seconds"]
        if printed.group(1) is not None:
            m, s = divmod(round(value), 60)
            return f"{m} min {s} s"
        text = printed.group(3)
    decimals = len(text.split(".")[1]) if "." in text else 0
    return f"{value:.{decimals}f}" + (" MB" if printed.group(4) is not None else " s")


def test_the_cost_record_names_its_command_date_and_how_for_every_step():
    steps = json.loads(COSTS.read_text(encoding="utf-8"))["steps"]
    assert set(steps) == {s for ids in COST_ROWS.values() for s in ids}
    for name, step in steps.items():
        assert step["command"] and step["how"] and re.fullmatch(r"\d{4}-\d{2}-\d{2}", step["date"]), name
        assert (step.get("seconds") is not None) != ("megabytes" in step), name


def test_readme_cost_rows_agree_with_the_cost_record():
    steps = json.loads(COSTS.read_text(encoding="utf-8"))["steps"]
    section = _section("## What it costs here")
    rows = {r[0]: r[1] for r in _table_rows(section)}
    errors = []
    for key, ids in COST_ROWS.items():
        (label,) = [lab for lab in rows if key in lab] or [None]
        assert label is not None, f"README's cost table has no row containing {key!r}"
        printed = list(DURATION.finditer(rows[label]))
        assert len(printed) == len(ids), (label, rows[label], ids)
        for m, step_id in zip(printed, ids):
            want = _printed_like(m, steps[step_id])
            if m.group(0) != want:
                errors.append(f"{key}: README {m.group(0)!r}, costs.json[{step_id}] {want!r}")
        count = re.search(r"\((\d+) tests", label)
        if count and "count" in steps[ids[0]]:
            if int(count.group(1)) != steps[ids[0]]["count"]:
                errors.append(f"{key}: README {count.group(1)} tests, costs.json {steps[ids[0]]['count']}")
    head = section.split("\n|", 1)[0]
    assert "benchmarks/costs.json" in head, "the cost table's header must name its record"
    assert not errors, "\n".join(errors)


def test_a_cost_not_measured_by_the_tool_says_so_beside_its_number():
    """A row's number is measured by benchmarks/costs.py (its record's ``how`` says so), or the README says
    beside it that it was entered by hand; the paper rows come from their results' provenance."""
    steps = json.loads(COSTS.read_text(encoding="utf-8"))["steps"]
    rows = {r[0]: r[1] for r in _table_rows(_section("## What it costs here"))}
    unlabelled = []
    for key, ids in COST_ROWS.items():
        (label,) = [lab for lab in rows if key in lab]
        typed = [i for i in ids if not steps[i]["how"].startswith("measured by benchmarks/costs.py")]
        if typed and "entered by hand" not in label + rows[label]:
            unlabelled.append(f"{key}: {typed}")
    assert unlabelled == [], "label these README rows '(entered by hand: …)' or measure them with costs.py"



# ------------------------------------------------------------------ discussions of the committed results
DISCUSSIONS = sorted((ROOT / "results").glob("*/*/discussion.md"))


def test_every_committed_result_has_a_discussion():
    for profile in ("paper", "cpu"):
        folders = [d for d in sorted((ROOT / "results" / profile).glob("*"))
                   if (d / f"{d.name}.provenance.json").is_file()]
        assert folders, f"results/{profile} holds no committed result"
        missing = [d.name for d in folders if not (d / "discussion.md").is_file()]
        assert not missing, f"results/{profile}: no discussion.md for {missing}"


@pytest.mark.parametrize("path", DISCUSSIONS,
                         ids=[f"{p.parent.parent.name}/{p.parent.name}" for p in DISCUSSIONS])
def test_a_discussion_types_no_number_and_renders_from_its_record(path):
    """Every measured number of a discussion is a placeholder filled from the result's own scorecard, tables
    and provenance (gclib.companion.book.prose), and every placeholder evaluates."""
    from gclib.companion.book.prose import bare_numbers, placeholders, record_context, render

    text = path.read_text(encoding="utf-8")
    typed = bare_numbers(text)
    assert typed == [], f"{path.relative_to(ROOT)}: numbers typed outside a placeholder: {typed}"
    assert placeholders(text), f"{path.relative_to(ROOT)}: quotes no number of its record"
    out = render(text, record_context(path.parent), where=str(path.relative_to(ROOT)))
    assert "{{" not in out and "}}" not in out
    assert not re.search(r"\bnan\b|\bNone\b", out), f"{path.relative_to(ROOT)}: a placeholder gave no value"


def test_the_template_checks_catch_a_typed_number_and_a_broken_placeholder(tmp_path):
    """Negative controls: a number typed into the prose is found, and a placeholder naming a claim or column
    the record lacks stops the render with its name (the book build then fails, never shows a guess)."""
    from gclib.companion.book.prose import bare_numbers, record_context, render

    assert bare_numbers("ρ(width, D) = 0.69, a {{ stat('x') | .2f }} and 10⁻¹⁸ and 3 % and 8.5×") == \
        ["0.69", "10⁻¹⁸", "3 %", "8.5×"]
    assert bare_numbers("`lr = 0.05` and $\\sigma = 0.5$ and width 512 and seeds 0–2") == []
    d = next(p.parent for p in DISCUSSIONS)
    ctx = record_context(d)
    with pytest.raises(ValueError, match="no_such_claim"):
        render("{{ stat('no_such_claim') | .2f }}", ctx, where="test")
    with pytest.raises(ValueError, match="no_such_column"):
        render("{{ runs.no_such_column.mean() }}", ctx, where="test")
