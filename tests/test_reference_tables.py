"""What nbval no longer compares exactly, compared within what reproduces: every table a figure saves at the
smoke profile against the committed reference table, within tolerances measured across numeric
environments (``tests/reference/numerics.json``, written by ``tools/numeric_spread.py``), a status changing
only in a row the table marks ``chaotic``; and nbval skips exactly the cells whose printed text varied
there."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from gclib.companion.run import numerics

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "reference"
RECORD = json.loads((REFERENCE / "numerics.json").read_text(encoding="utf-8"))
FIGURES = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
TABLES = sorted((fig, p.stem) for fig in FIGURES for p in (REFERENCE / "tables" / fig).glob("*.csv"))


def test_the_record_was_measured_across_the_environments_the_issue_names():
    envs = RECORD["environments"]
    assert RECORD["reference"] in envs and RECORD["problems"] == []
    variables = [e["variables"] for e in envs.values()]
    for key, values in (("ATEN_CPU_CAPABILITY", {"default", "avx2"}), ("MKL_CBWR", {"COMPATIBLE"})):
        assert values <= {v[key] for v in variables if key in v}, key
    assert {e["threads"] for e in envs.values()} >= {1, 2}
    assert RECORD["factor"] >= 1 and 0 < RECORD["floor"] < 1e-6
    assert set(envs) <= set(numerics.ENVIRONMENTS)


def test_every_saved_table_has_a_reference_and_every_reference_a_record():
    assert TABLES, "no reference tables: run tools/numeric_spread.py"
    recorded = {(fig, name) for fig, tables in RECORD["tables"].items() for name in tables}
    assert recorded == set(TABLES)
    assert {fig for fig, _ in TABLES} == set(FIGURES), "every figure saves at least one per-run table"


def _tolerance(fig: str, name: str, col: str, kind: str) -> float:
    measured = RECORD["tables"][fig][name]["columns"].get(col)
    assert measured is not None, \
        f"{fig}/{name}: column {col!r} was never measured (rerun tools/numeric_spread.py)"
    return max(RECORD["factor"] * measured[kind], RECORD["floor"])


def _chaotic(table: pd.DataFrame) -> np.ndarray:
    if "chaotic" in table.columns:
        return table["chaotic"].astype(bool).to_numpy()
    return np.zeros(len(table), dtype=bool)


def compare(fig: str, name: str, ref: pd.DataFrame, got: pd.DataFrame) -> list[str]:
    """Every difference of ``got`` from ``ref`` beyond what the record allows, one line each."""
    if list(ref.columns) != list(got.columns) or len(ref) != len(got):
        return [f"columns or rows differ: {ref.shape} {list(ref.columns)} vs {got.shape} {list(got.columns)}"]
    chaos = _chaotic(ref)
    bad = []
    for col in ref.columns:
        a, b = ref[col], got[col]
        numeric = pd.api.types.is_numeric_dtype(a) and not pd.api.types.is_bool_dtype(a)
        if not numeric:
            differ = (~((a == b) | (a.isna() & b.isna()))).to_numpy()  # a missing value equals a missing one
            for i in np.flatnonzero(differ & ~chaos):
                bad.append(f"row {i} {col}: {a.iloc[i]!r} → {b.iloc[i]!r} (the row is not marked chaotic)")
            continue
        x, y = a.to_numpy(float), pd.to_numeric(b, errors="coerce").to_numpy(float)
        for i in np.flatnonzero((np.isfinite(x) != np.isfinite(y)) & ~chaos):
            bad.append(f"row {i} {col}: {x[i]} → {y[i]} (a value appeared or vanished)")
        both = np.isfinite(x) & np.isfinite(y)
        scale = np.maximum(np.abs(x), np.abs(y))
        rel = np.where(both & (scale > 0), np.abs(x - y) / np.where(scale > 0, scale, 1.0), 0.0)
        for kind, rows in (("stable", ~chaos), ("chaotic", chaos)):
            tol = _tolerance(fig, name, col, kind)
            for i in np.flatnonzero(rows & (rel > tol)):
                bad.append(f"row {i} {col}: {x[i]:.10g} → {y[i]:.10g}, relative {rel[i]:.2g} > {tol:.2g} "
                           f"({kind} rows: {RECORD['factor']:g} × the spread measured)")
    return bad


@pytest.mark.notebooks
@pytest.mark.parametrize("fig, name", TABLES)
def test_a_saved_table_matches_its_reference_within_the_measured_spread(smoke_runs, fig, name):
    ref = pd.read_csv(REFERENCE / "tables" / fig / f"{name}.csv")
    got = pd.read_csv(smoke_runs[fig].directory / f"{name}.csv")
    bad = compare(fig, name, ref, got)
    assert bad == [], f"{fig}/{name}:\n" + "\n".join(bad[:20])


def test_the_comparison_catches_a_moved_number_and_a_flipped_status_and_allows_chaos():
    fig, name = next((f, n) for f, n in TABLES if "chaotic" in pd.read_csv(
        REFERENCE / "tables" / f / f"{n}.csv").columns)
    ref = pd.read_csv(REFERENCE / "tables" / fig / f"{name}.csv")
    assert compare(fig, name, ref, ref.copy()) == []
    stable = int(np.flatnonzero(~_chaotic(ref))[0])
    moved = ref.copy()
    moved.loc[stable, "gc"] *= 1.5
    assert any("gc" in line for line in compare(fig, name, ref, moved))
    flipped = ref.copy()
    flipped.loc[stable, "status"] = "diverged"
    assert any("not marked chaotic" in line for line in compare(fig, name, ref, flipped))
    chaotic = np.flatnonzero(_chaotic(ref))
    if chaotic.size:
        free = ref.copy()
        row = int(chaotic[0])
        free.loc[row, "status"] = "collapsed" if ref.loc[row, "status"] != "collapsed" else "diverged"
        assert compare(fig, name, ref, free) == []


@pytest.mark.parametrize("fig", FIGURES)
def test_nbval_skips_every_cell_whose_text_varied_across_environments(fig):
    nb = nbformat.read(ROOT / "notebooks" / f"{fig}.ipynb", as_version=4)
    skipped = {c.get("id") for c in nb.cells if "nbval-ignore-output" in c.metadata.get("tags", [])}
    ids = {c.get("id") for c in nb.cells}
    varied = set(RECORD["cells"].get(fig, {}))
    assert varied <= ids, f"{fig}: the record names cells the notebook no longer has: rerun the measurement"
    where = sorted({e for c in varied - skipped for e in RECORD["cells"][fig][c]})
    assert varied <= skipped, \
        f"{fig}: cells {sorted(varied - skipped)} printed other text in {where}: tag them nbval-ignore-output"
    for c in nb.cells:
        if c.get("id") in skipped:
            said = [ln for ln in c.source.splitlines() if ln.startswith("#") and "nbval" in ln]
            assert said, f"{fig}: a skipped cell says why, in a comment naming nbval"
