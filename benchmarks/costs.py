"""What the README's "What it costs here" table says each step costs, as a record (``benchmarks/costs.json``).

Each step has its wall time (seconds), the command, the date, the machine (CPU, cores, load average before the
step) and how it was measured. Two ways in:

- ``python benchmarks/costs.py measure [STEP ...]`` runs the steps this script can time itself, on a fresh
  cache and output directory each (default: all of them), and writes their entries:
  ``smoke_cold`` / ``smoke_warm`` (``gclib run all --profile smoke --jobs 2``, then again: every figure a
  cache hit), ``paper_dry_run`` (``gclib run all --profile paper --dry-run --jobs 2``) and, when the book is
  built, ``book_size_mb`` (``book/_build/html``).
- ``python benchmarks/costs.py add STEP SECONDS --command CMD --how TEXT [--date YYYY-MM-DD] [--count N]``
  enters a step measured elsewhere (``make test`` in a fresh clone by ``.ci/run``, ``make setup`` on a new
  machine, the cold cpu-profile book), saying where in ``how``.

``tests/test_prose_numbers.py`` checks every time in the README's cost table against this record, to the unit
the README prints. [ours]
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RECORD = HERE / "costs.json"
GCLIB = [sys.executable, "-m", "gclib"]

#: the steps ``measure`` runs: id -> (command line as the README prints it, argv after ``gclib``)
MEASURED = {
    "smoke_cold": ("gclib run all --profile smoke --jobs 2",
                   ["run", "all", "--profile", "smoke", "--jobs", "2"]),
    "smoke_warm": ("gclib run all --profile smoke --jobs 2 (again: every figure a cache hit)",
                   ["run", "all", "--profile", "smoke", "--jobs", "2"]),
    "paper_dry_run": ("gclib run all --profile paper --dry-run --jobs 2",
                      ["run", "all", "--profile", "paper", "--dry-run", "--jobs", "2"]),
}


def machine(load: bool = True) -> dict:
    from run_all import cpu_model  # the bench record's reading of the CPU (benchmarks/ is on sys.path)

    return {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "load_average": [round(x, 2) for x in os.getloadavg()] if load else None}


def load() -> dict:
    if RECORD.is_file():
        return json.loads(RECORD.read_text(encoding="utf-8"))
    return {"schema": 1, "steps": {}}


def save(record: dict) -> None:
    RECORD.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def entry(seconds: float, command: str, how: str, *, date: str | None = None,
          count: int | None = None, here: bool = True) -> dict:
    """One step's record. ``here``: measured by this process just now (the load average before it is
    kept); False for a step entered by hand (measured elsewhere or earlier: no load average). A step whose
    name ends in ``_mb`` records ``megabytes`` instead of ``seconds``."""
    if not isinstance(seconds, (int, float)) or seconds < 0:
        raise ValueError(f"the value must be a number >= 0, got {seconds!r}")
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    if date is not None:
        datetime.date.fromisoformat(date)  # a clear error on a malformed date
    out = {"seconds": round(float(seconds), 1), "command": command, "how": how, "date": date or today,
           "machine": machine(load=here)}
    if count is not None:
        out["count"] = int(count)
    return out


def megabytes(step: dict) -> dict:
    """A size step: its value under ``megabytes``, ``seconds`` None."""
    return {**step, "seconds": None, "megabytes": step["seconds"]}


def _run(argv: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(GCLIB + argv, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"`gclib {' '.join(argv)}` failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return wall


def measure(steps: list[str]) -> dict:
    record = load()
    with tempfile.TemporaryDirectory(prefix="gclib-costs-") as tmp:
        env = {**os.environ, "GCLIB_CACHE_DIR": str(Path(tmp) / "cache")}
        out = ["--out", str(Path(tmp) / "out")]
        for step in steps:
            if step == "book_size_mb":
                html = ROOT / "book" / "_build" / "html"
                if not html.is_dir():
                    print("book_size_mb: no built book (make book first); skipped")
                    continue
                size = sum(p.stat().st_size for p in html.rglob("*") if p.is_file()) / 1e6
                record["steps"][step] = megabytes(entry(size, "du book/_build/html", "measured by costs.py"))
                print(f"book_size_mb: {size:.1f} MB")
                continue
            command, argv = MEASURED[step]
            if step == "paper_dry_run":
                env["GCLIB_CACHE_DIR"] = str(Path(tmp) / "cache-dry")
            wall = _run(argv + out, env)
            record["steps"][step] = entry(wall, command, "measured by benchmarks/costs.py (fresh cache and "
                                                         "output directory)")
            print(f"{step}: {wall:.1f} s")
    save(record)
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    m = sub.add_parser("measure", help="time the steps this script can run itself")
    m.add_argument("steps", nargs="*", help=f"any of {', '.join([*MEASURED, 'book_size_mb'])} (default: all)")
    a = sub.add_parser("add", help="enter a step measured elsewhere")
    a.add_argument("step")
    a.add_argument("seconds", type=float, help="seconds (megabytes for a step named …_mb)")
    a.add_argument("--command", required=True)
    a.add_argument("--how", required=True)
    a.add_argument("--date")
    a.add_argument("--count", type=int)
    args = parser.parse_args(argv)
    if args.what == "measure":
        known = [*MEASURED, "book_size_mb"]
        unknown = [s for s in args.steps if s not in known]
        if unknown:
            parser.error(f"unknown step(s) {', '.join(unknown)}; valid: {', '.join(known)}")
        measure(args.steps or known)
    else:
        record = load()
        step = entry(args.seconds, args.command, args.how, date=args.date, count=args.count, here=False)
        record["steps"][args.step] = megabytes(step) if args.step.endswith("_mb") else step
        save(record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
