#!/usr/bin/env python
"""Measure what reproduces across numeric environments: the smoke profile of every figure, run once in each
environment this CPU can produce (``gclib.companion.run.numerics``: ATen's dispatch levels, MKL's
reproducibility modes, oneDNN's instruction set, NumPy's dispatch, one and two threads), compared with the
run in the reference environment ("native").

Usage (repository root): .venv/bin/python tools/numeric_spread.py [--envs NAME ...] [--jobs 2] [--work DIR]
                         [--merge]

``--merge``, on another kind of machine (an AMD EPYC where the record was made on an Intel Xeon, say): every
environment this CPU can produce, its native one included, is compared with what the tests compare against —
the committed reference tables and the committed notebook outputs (with nbval's sanitizing) — and the record
takes, per table and column, the larger of the two machines' deviations, the union of the cells that printed
other text, and this machine's environments under ``merged``. The reference tables are not replaced.

Writes
  tests/reference/numerics.json     the record: which code cells printed other text in which environment
                                    (nbval must not compare them: tag ``nbval-ignore-output``), and for every
                                    saved table and column the largest relative deviation from the reference,
                                    apart for rows the table marks ``chaotic`` (past the edge of stability,
                                    diverged, not reached) and for the others; the tolerance of
                                    ``tests/test_reference_tables.py`` is FACTOR times it (at least FLOOR)
  tests/reference/tables/<figure>/  the reference environment's saved tables (``*.csv``)

and exits 1, naming the rows, where a row the table does not mark chaotic changed its status or where a value
appeared or vanished (a NaN) outside a chaotic row: those must be marked, or the notebook fixed. [ours]
"""
from __future__ import annotations

import argparse
import configparser
import functools
import json
import re
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from gclib.companion.run import numerics  # noqa: E402
from gclib.companion.run.provenance import device_name, library_versions  # noqa: E402

REFERENCE = "native"
#: the tolerance is FACTOR × the largest deviation measured across the environments: they are a sample of
#: the kernel paths a machine takes, and another machine's deviation of the same kind is covered up to 4×
FACTOR = 4.0
#: the CSV's own resolution (10 significant digits): no tolerance below it
FLOOR = 1e-9
RECORD = ROOT / "tests" / "reference" / "numerics.json"
TABLES = ROOT / "tests" / "reference" / "tables"
NOTEBOOKS = ROOT / "notebooks"
SANITIZE = ROOT / "tests" / "nbval_sanitize.cfg"


def run_env(env, out: Path, jobs: int) -> float:
    """The smoke profile of every figure in ``env``, into ``out``; returns the wall seconds."""
    jobs = 1 if env.threads > 1 else jobs
    cmd = [sys.executable, "-m", "gclib", "run", "all", "--profile", "smoke", "--jobs", str(jobs),
           "--threads", str(env.threads), "--out", str(out), "--force"]
    environ = env.apply()
    environ["GCLIB_CACHE_DIR"] = str(out.parent / f".cache-{env.name}")  # no training shared between them
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=environ, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{env.name}: gclib run all failed ({proc.returncode}):\n{proc.stdout[-2000:]}"
                         f"\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def cell_texts(notebook: Path) -> dict[str, str]:
    """Code cell id → the text its outputs print (streams and text/plain; images left out), for the cells of
    the source notebook."""
    out = {}
    for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] != "code" or "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            continue  # papermill's injected cell gets a new id in every run: it is no cell of the notebook
        parts = []
        for o in cell.get("outputs", []):
            if "text" in o:
                parts.append("".join(o["text"]))
            elif "text/plain" in o.get("data", {}) and not set(o["data"]) & {"image/png", "image/svg+xml"}:
                parts.append("".join(o["data"]["text/plain"]))
        out[cell.get("id")] = "".join(parts)
    return out


@functools.cache
def _sanitize_patterns() -> list[tuple[re.Pattern, str]]:
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(SANITIZE, encoding="utf-8")
    return [(re.compile(cfg[sec]["regex"]), cfg[sec]["replace"]) for sec in cfg.sections()]


def sanitize(text: str) -> str:
    """``text`` with nbval's sanitizing patterns (``tests/nbval_sanitize.cfg``) applied, as nbval does."""
    for pattern, replace in _sanitize_patterns():
        text = pattern.sub(replace, text)
    return text


def chaotic_rows(table: pd.DataFrame) -> np.ndarray:
    """The rows the table marks chaotic (its ``chaotic`` column), else none."""
    if "chaotic" in table.columns:
        return table["chaotic"].astype(bool).to_numpy()
    return np.zeros(len(table), dtype=bool)


def deviations(ref: pd.DataFrame, other: pd.DataFrame, where: str) -> tuple[dict, list[str]]:
    """Per column, the largest relative deviation |a − b| / max(|a|, |b|) on the stable and on the chaotic
    rows (where both are finite), and the problems: a shape or column change, a status change or a value
    appearing or vanishing outside a chaotic row."""
    problems = []
    if list(ref.columns) != list(other.columns) or len(ref) != len(other):
        return {}, [f"{where}: columns or rows differ ({ref.shape} vs {other.shape})"]
    chaos = chaotic_rows(ref) | chaotic_rows(other)
    cols = {}
    for col in ref.columns:
        a, b = ref[col], other[col]
        if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b) \
                and not pd.api.types.is_bool_dtype(a):
            x, y = a.to_numpy(float), b.to_numpy(float)
            fin = np.isfinite(x) & np.isfinite(y)
            scale = np.maximum(np.abs(x), np.abs(y))
            rel = np.where(fin & (scale > 0), np.abs(x - y) / np.where(scale > 0, scale, 1.0), 0.0)
            flips = np.isfinite(x) != np.isfinite(y)
            for i in np.flatnonzero(flips & ~chaos):
                problems.append(f"{where}: row {i} column {col!r}: {x[i]} vs {y[i]} (a value appeared or "
                                "vanished in a row not marked chaotic)")
            cols[col] = {"stable": float(rel[~chaos].max(initial=0.0)),
                         "chaotic": float(rel[chaos].max(initial=0.0))}
        else:
            differ = (~((a == b) | (a.isna() & b.isna()))).to_numpy()  # a missing value equals a missing one
            for i in np.flatnonzero(differ & ~chaos):
                problems.append(f"{where}: row {i} column {col!r}: {a.iloc[i]!r} vs {b.iloc[i]!r} (a row not "
                                "marked chaotic changed)")
    return cols, problems


def widen(columns: dict, cols: dict) -> list[tuple[str, str, float, float]]:
    """Raise each column's recorded deviation in ``columns`` ({col: {"stable", "chaotic"}}) to the one
    measured in ``cols`` where that is larger; returns ``(col, kind, was, now)`` for each raise."""
    raised = []
    for col, dev in cols.items():
        was = columns.setdefault(col, {"stable": 0.0, "chaotic": 0.0})
        for kind in ("stable", "chaotic"):
            if dev[kind] > was[kind]:
                raised.append((col, kind, was[kind], dev[kind]))
                was[kind] = dev[kind]
    return raised


def _environments(envs, seconds: dict) -> dict:
    return {e.name: {"what": e.what, "variables": e.variables, "threads": e.threads,
                     "seconds": round(seconds[e.name], 1)} for e in envs}


def _machine() -> dict:
    versions = library_versions()
    return {"machine": device_name("cpu"),
            "cpu_flags": sorted(f for f in numerics.cpu_flags() if f.startswith(("avx", "fma", "sse4"))),
            "versions": {k: versions[k] for k in ("torch", "numpy", "python")}}


def _run_all(envs, args) -> dict[str, float]:
    if not args.reuse:
        shutil.rmtree(args.work, ignore_errors=True)
    seconds = {}
    for env in envs:
        done = args.work / env.name / ".seconds"
        if args.reuse and done.exists():  # compare again without rerunning (e.g. after fixing a check)
            seconds[env.name] = float(done.read_text())
        else:
            seconds[env.name] = run_env(env, args.work / env.name, args.jobs)
            done.write_text(f"{seconds[env.name]:.1f}")
        print(f"{env.name}: {seconds[env.name]:.0f} s", flush=True)
    return seconds


def merge(args, envs) -> int:
    """``--merge``: see the module docstring."""
    record = json.loads(RECORD.read_text(encoding="utf-8"))
    seconds = _run_all(envs, args)
    here = _machine()
    figures = sorted(p.name for p in TABLES.iterdir() if p.is_dir())
    problems, changed = [], []
    for fig in figures:
        committed = {cid: sanitize(text) for cid, text in cell_texts(NOTEBOOKS / f"{fig}.ipynb").items()}
        for env in envs:
            label = f"{env.name} on {here['machine']}"
            other = cell_texts(args.work / env.name / fig / f"{fig}.ipynb")
            for cid, text in committed.items():
                if sanitize(other.get(cid, "")) != text:
                    where = record["cells"].setdefault(fig, {}).setdefault(cid, [])
                    if label not in where:
                        where.append(label)
            for csv in sorted((TABLES / fig).glob("*.csv")):
                path = args.work / env.name / fig / csv.name
                if not path.exists():
                    problems.append(f"{fig}/{csv.stem}: not written in {label}")
                    continue
                cols, probs = deviations(pd.read_csv(csv), pd.read_csv(path), f"{fig}/{csv.stem} in {label}")
                problems += probs
                for col, kind, was, now in widen(record["tables"][fig][csv.stem]["columns"], cols):
                    changed.append(f"{fig}/{csv.stem}.{col} ({kind}): {was:.3g} → {now:.3g} ({label})")
    entry = {**here, "measured": date.today().isoformat(),
             "command": "python tools/numeric_spread.py --merge"
                        + (f" --envs {' '.join(args.envs)}" if args.envs else ""),
             "compared_with": "the committed reference tables (tests/reference/tables) and the committed "
                              "notebook outputs (notebooks/*.ipynb, nbval's sanitizing applied)",
             "environments": _environments(envs, seconds), "raised": changed, "problems": problems}
    record["merged"] = [m for m in record.get("merged", [])
                        if (m["machine"], m["cpu_flags"]) != (here["machine"], here["cpu_flags"])] + [entry]
    record["problems"] = sorted(set(record["problems"]) | set(problems))
    RECORD.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"merged into {RECORD.relative_to(ROOT)}: {len(envs)} environments of {here['machine']}, "
          f"{len(changed)} deviations raised, {len(problems)} problems")
    for line in changed:
        print("raised:", line)
    for p in problems:
        print("PROBLEM:", p, file=sys.stderr)
    return 1 if problems else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--envs", nargs="*", default=None, help="environment names (default: all available)")
    ap.add_argument("--jobs", type=int, default=2, help="figures at once per environment (1-thread ones)")
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "numeric-spread", help="scratch folder")
    ap.add_argument("--reuse", action="store_true",
                    help="keep the runs already in the scratch folder and only compare them again")
    ap.add_argument("--merge", action="store_true",
                    help="on another kind of machine: compare with the committed references and merge into "
                         "the record (module docstring)")
    args = ap.parse_args()
    envs = [numerics.get(n) for n in args.envs] if args.envs else numerics.available()
    if REFERENCE not in [e.name for e in envs]:
        envs.insert(0, numerics.get(REFERENCE))
    if args.merge:
        return merge(args, envs)
    seconds = _run_all(envs, args)
    ref_dir = args.work / REFERENCE
    figures = sorted(p.name for p in ref_dir.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
    cells, tables, problems = {}, {}, []
    for fig in figures:
        ref_cells = cell_texts(ref_dir / fig / f"{fig}.ipynb")
        ref_tables = {p.stem: pd.read_csv(p) for p in sorted((ref_dir / fig).glob("*.csv"))}
        for env in envs:
            if env.name == REFERENCE:
                continue
            other = cell_texts(args.work / env.name / fig / f"{fig}.ipynb")
            for cid, text in ref_cells.items():
                if other.get(cid) != text:
                    cells.setdefault(fig, {}).setdefault(cid, []).append(env.name)
            for name, ref in ref_tables.items():
                path = args.work / env.name / fig / f"{name}.csv"
                if not path.exists():
                    problems.append(f"{fig}/{name}: not written in {env.name}")
                    continue
                cols, probs = deviations(ref, pd.read_csv(path), f"{fig}/{name} in {env.name}")
                problems += probs
                entry = tables.setdefault(fig, {}).setdefault(name, {
                    "rows": len(ref), "chaotic_rows": int(chaotic_rows(ref).sum()), "columns": {}})
                widen(entry["columns"], cols)
    shutil.rmtree(TABLES, ignore_errors=True)
    for fig in figures:
        for csv in sorted((ref_dir / fig).glob("*.csv")):
            (TABLES / fig).mkdir(parents=True, exist_ok=True)
            shutil.copy2(csv, TABLES / fig / csv.name)
    record = {
        "measured": date.today().isoformat(), **_machine(),
        "command": "python tools/numeric_spread.py" + (f" --envs {' '.join(args.envs)}" if args.envs else ""),
        "reference": REFERENCE, "factor": FACTOR, "floor": FLOOR,
        "environments": _environments(envs, seconds),
        "cells": cells, "tables": tables, "problems": problems,
    }
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    RECORD.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    varied = sum(len(v) for v in cells.values())
    print(f"wrote {RECORD.relative_to(ROOT)}: {len(envs)} environments, {len(figures)} figures, "
          f"{varied} code cells printed other text somewhere, {len(problems)} problems")
    for p in problems:
        print("PROBLEM:", p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
