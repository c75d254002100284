"""What the README's "What it costs here" table says each step costs, as a record (``benchmarks/costs.json``).

Each step has its wall time (seconds), the command, the date, the machine (CPU, cores, load average before the
step) and how it was measured. Two ways in:

- ``python benchmarks/costs.py measure [STEP ...]`` runs steps this script times itself and writes their
  entries (``how`` starts "measured by benchmarks/costs.py"). In this checkout, on a fresh cache and output
  directory each: ``smoke_cold`` / ``smoke_warm`` (``gclib run all --profile smoke --jobs 2``, then again:
  every figure a cache hit), ``paper_dry_run`` (``gclib run all --profile paper --dry-run --jobs 2``),
  ``cpu_cold`` (``gclib run all --profile cpu --jobs 1``) and, when the book is built, ``book_size_mb``. In a
  fresh clone of this checkout's HEAD (``../shared`` linked beside it, as CI has it): ``setup`` (``make
  setup``, a new venv), ``make_test`` and ``make_test_pytest`` (``bash .ci/run``: the wall time, and pytest's
  own time and test count from its summary line), ``book_cold`` / ``book_warm`` (``make book JOBS=2``, then
  again with nothing changed). Default: the quick ones (``QUICK``); name the long ones to run them.
- ``python benchmarks/costs.py add STEP SECONDS --command CMD --how TEXT [--date YYYY-MM-DD] [--count N]``
  enters a step measured elsewhere, saying where in ``how``; the README then says beside the number that it
  was entered by hand (``tests/test_prose_numbers.py`` holds it to that).

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


QUICK = ("smoke_cold", "smoke_warm", "paper_dry_run", "book_size_mb")
#: steps timed in a fresh clone: id -> (command as the README prints it, shell command in the clone)
IN_CLONE = {"setup": ("make setup", "make setup"),
            "make_test": ("CI=true bash .ci/run", "CI=true bash .ci/run"),
            "book_cold": ("make book JOBS=2", "make book JOBS=2"),
            "book_warm": ("make book JOBS=2 (again, nothing changed)", "make book JOBS=2")}
MEASURED["cpu_cold"] = ("gclib run all --profile cpu --jobs 1 --device cpu --threads 1",
                        ["run", "all", "--profile", "cpu", "--jobs", "1", "--device", "cpu"])


def _clone(tmp: Path) -> Path:
    """A fresh clone of this checkout's HEAD in ``tmp/p``, ``tmp/shared`` linking ../shared, as CI runs."""
    clone = tmp / "p"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    shared = ROOT.parent / "shared"
    if shared.is_dir():
        (tmp / "shared").symlink_to(shared, target_is_directory=True)
    return clone


def _in_clone(clone: Path, shell: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GCLIB_", "VIRTUAL_ENV"))}
    proc = subprocess.run(["bash", "-c", shell], cwd=clone, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"`{shell}` failed in {clone} ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                         f"{proc.stderr[-2000:]}")
    return wall, proc.stdout


def _pytest_summary(stdout: str) -> tuple[int, float]:
    """(tests passed, pytest's seconds) from its last summary line, "1187 passed, … in 512.34s (0:08:32)"."""
    import re

    m = re.search(r"(\d+) passed.* in ([\d.]+)s", stdout.strip().splitlines()[-1] if stdout.strip() else "")
    if not m:
        m = next((re.search(r"(\d+) passed.* in ([\d.]+)s", ln) for ln in reversed(stdout.splitlines())
                  if re.search(r"(\d+) passed.* in ([\d.]+)s", ln)), None)
    if not m:
        raise SystemExit("no pytest summary line in the output of .ci/run")
    return int(m.group(1)), float(m.group(2))


def measure_in_clone(steps: list[str], record: dict) -> None:
    how = "measured by benchmarks/costs.py in a fresh clone of HEAD ({sha}) with ../shared beside it{extra}"
    sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="gclib-costs-clone-") as tmp:
        clone = _clone(Path(tmp))
        for step in ("setup", "make_test", "book_cold", "book_warm"):
            if step not in steps:
                continue
            command, shell = IN_CLONE[step]
            wall, stdout = _in_clone(clone, shell)
            log = Path(tempfile.gettempdir()) / f"gclib-costs-{step}.log"
            # e.g. pytest's --durations, read after the clone is gone
            log.write_text(stdout, encoding="utf-8")
            print(f"{step}: its output is in {log}")
            extra = ": a new venv" if step == "setup" else ""
            record["steps"][step] = entry(wall, command, how.format(sha=sha, extra=extra))
            print(f"{step}: {wall:.1f} s")
            if step == "make_test":
                passed, seconds = _pytest_summary(stdout)
                record["steps"]["make_test"]["count"] = passed
                record["steps"]["make_test_pytest"] = entry(seconds, "make test (its pytest)",
                                                            how.format(sha=sha, extra=": pytest's own time"))
                print(f"make_test_pytest: {seconds:.1f} s, {passed} passed")


def measure(steps: list[str], out_dir: str | None = None) -> dict:
    """Time ``steps``; ``out_dir``: where the figure runs write (kept), instead of a temporary folder (its
    cache is still a fresh one: ``make cpu-results`` and ``cpu_cold`` in one run)."""
    record = load()
    if set(steps) & set(IN_CLONE):
        measure_in_clone(steps, record)
        save(record)
    steps = [st for st in steps if st not in IN_CLONE]
    with tempfile.TemporaryDirectory(prefix="gclib-costs-") as tmp:
        env = {**os.environ, "GCLIB_CACHE_DIR": str(Path(tmp) / "cache")}
        out = ["--out", str(Path(out_dir).resolve() if out_dir else Path(tmp) / "out")]
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
            if out_dir and step != "smoke_warm":
                stale = [p for p in Path(out_dir).glob("*/*.provenance.json")]
                for p in stale:  # a fresh run: the runner would otherwise reuse what the folder holds
                    p.unlink()
            wall = _run(argv + out + (["--threads", "1"] if step == "cpu_cold" else []), env)
            where = f"output kept in {out_dir}" if out_dir else "output directory"
            record["steps"][step] = entry(wall, command, f"measured by benchmarks/costs.py (fresh cache and "
                                                         f"{where})")
            print(f"{step}: {wall:.1f} s")
    save(record)
    return record


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    m = sub.add_parser("measure", help="time the steps this script can run itself")
    m.add_argument("steps", nargs="*", help=f"any of {', '.join([*MEASURED, *IN_CLONE, 'book_size_mb'])} "
                                            f"(default: {', '.join(QUICK)})")
    m.add_argument("--out", help="keep the figure runs' outputs here (e.g. results/cpu with cpu_cold: the "
                                 "committed cpu records and their time in one run)")
    a = sub.add_parser("add", help="enter a step measured elsewhere")
    a.add_argument("step")
    a.add_argument("seconds", type=float, help="seconds (megabytes for a step named …_mb)")
    a.add_argument("--command", required=True)
    a.add_argument("--how", required=True)
    a.add_argument("--date")
    a.add_argument("--count", type=int)
    args = parser.parse_args(argv)
    if args.what == "measure":
        known = [*MEASURED, *IN_CLONE, "book_size_mb"]
        unknown = [s for s in args.steps if s not in known]
        if unknown:
            parser.error(f"unknown step(s) {', '.join(unknown)}; valid: {', '.join(known)}")
        measure(args.steps or list(QUICK), out_dir=args.out)
    else:
        record = load()
        step = entry(args.seconds, args.command, args.how, date=args.date, count=args.count, here=False)
        record["steps"][args.step] = megabytes(step) if args.step.endswith("_mb") else step
        save(record)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
