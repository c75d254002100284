"""Run every ratio benchmark and print one table (``make bench``).

Each benchmark module measures its naive baseline in the same run and reports ratios, so the table is
meaningful on any machine. ``--quick`` uses smaller sizes (for a smoke check, not for the README numbers).
Results are also written to benchmarks/results/latest.csv.

Every run also writes a JSON record (:func:`make_record`; schema in ``RECORD_SCHEMA``): the date, the machine
(CPU model, cores, torch version and threads, load average) and every row (measured value, unit, whether it
is a ratio to a baseline measured in the same run, target, met). A full run of every module writes the
committed record ``benchmarks/record.json`` (the numbers the README and the book quote, with their date; the
record it replaces becomes its ``previous``); ``--quick`` and ``--only`` runs write
``benchmarks/results/record-quick.json`` / ``record-partial.json`` (git-ignored) and never touch the committed
record. ``--record PATH`` writes elsewhere.
"""
from __future__ import annotations

import argparse
import csv
import datetime
import importlib
import inspect
import json
import os
import platform
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
MODULES = ["bench_complexity", "bench_sampling"]
#: the committed record of the last full run (quoted by README.md and the book's include/bench.md)
RECORD = HERE / "record.json"
#: where runs that must not replace the committed record write theirs (git-ignored)
SCRATCH = HERE / "results"
#: units whose values are ratios to a baseline measured in the same run (the rest are absolute rates/times)
RATIO_UNITS = {"fwd+bwd units", "x RNG bound", "x"}
#: the record's keys: top level, ``machine``, and each entry of ``rows`` (``previous`` has the same top-level
#: keys, with ``previous`` itself null). ``measured`` is a number in a real run; ``range`` ([low, high]) and
#: ``note`` are null there and are used only where a record was seeded from a stated range.
RECORD_SCHEMA = {
    "record": ["schema", "source", "date", "time_utc", "command", "quick", "modules", "machine", "rows",
               "previous"],
    "machine": ["cpu", "cores", "torch", "torch_threads", "python", "platform", "load_average"],
    "rows": ["module", "benchmark", "measured", "range", "note", "unit", "ratio", "target", "ok", "threads"],
}


def row(benchmark: str, measured: float, unit: str, target: float | None = None,
        at_most: bool = True) -> dict:
    """One benchmark row: ``ok`` is ``measured <= target`` (``at_most``) or ``>= target``; else True."""
    if target is None:
        return dict(benchmark=benchmark, measured=measured, unit=unit, target=None, ok=True)
    ok = measured <= target if at_most else measured >= target
    sign = "<=" if at_most else ">="
    return dict(benchmark=benchmark, measured=measured, unit=unit, target=f"{sign} {target:g}", ok=bool(ok))


def format_table(rows: list[dict]) -> str:
    """A plain-text table of benchmark rows (keys benchmark, measured, unit, target, ok)."""
    width = max(len(r["benchmark"]) for r in rows)
    lines = [f"{'benchmark':<{width}}  {'measured':>9}  {'unit':<13}  {'target':<8}  ok"]
    for r in rows:
        target = r["target"] if r["target"] is not None else "-"
        lines.append(f"{r['benchmark']:<{width}}  {r['measured']:>9.2f}  {r['unit']:<13}  {target:<8}  "
                     f"{'yes' if r['ok'] else 'NO'}")
    return "\n".join(lines)


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; else :func:`platform.processor` or the machine type)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _threads_of(module) -> int | None:
    """Torch threads a module measures with: the default of its ``run(threads=…)``, else torch's default."""
    param = inspect.signature(module.run).parameters.get("threads")
    default = param.default if param is not None else None
    return default if isinstance(default, int) else torch.get_num_threads()


def make_record(rows: list[dict], *, quick: bool, modules: list[str], command: str,
                source: str = "measured by benchmarks/run_all.py", previous: dict | None = None,
                now: datetime.datetime | None = None) -> dict:
    """The JSON record of one run (keys ``RECORD_SCHEMA``); ``rows`` as ``run`` returns them plus
    ``module`` and ``threads``. ``previous``: the record this one replaces (stored without its own
    ``previous``)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if previous is not None:
        previous = {**previous, "previous": None}
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "schema": 1,
        "source": source,
        "date": now.date().isoformat(),
        "time_utc": now.strftime("%H:%M"),
        "command": command,
        "quick": quick,
        "modules": modules,
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "torch": torch.__version__,
                    "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
                    "platform": platform.platform(), "load_average": load},
        "rows": [{"module": r["module"], "benchmark": r["benchmark"], "measured": r["measured"],
                  "range": None, "note": None, "unit": r["unit"], "ratio": r["unit"] in RATIO_UNITS,
                  "target": r["target"], "ok": r["ok"], "threads": r.get("threads")} for r in rows],
        "previous": previous,
    }


def record_path(quick: bool, only: list[str] | None) -> Path:
    """Where a run writes its record: the committed ``RECORD`` only for a full run of every module."""
    if quick:
        return SCRATCH / "record-quick.json"
    if only and set(only) != set(MODULES):
        return SCRATCH / "record-partial.json"
    return RECORD


def write_record(record: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--only", choices=MODULES, action="append", help="run only these modules")
    parser.add_argument("--record", type=Path, default=None,
                        help=f"write the JSON record here (default: {RECORD.relative_to(HERE.parent)} for a "
                             f"full run, benchmarks/results/record-{{quick,partial}}.json otherwise)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    modules = args.only or MODULES
    path = args.record or record_path(args.quick, args.only)
    if args.quick and path.resolve() == RECORD.resolve():
        parser.error(f"a --quick run never writes the committed record {RECORD}")
    rows = []
    for name in modules:
        mod = importlib.import_module(name)
        threads = _threads_of(mod)
        rows += [{"module": name, **r, "threads": threads} for r in mod.run(quick=args.quick)]
    print(f"\nmachine: {cpu_model()}, "
          f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, "
          f"python {platform.python_version()}")
    print(format_table(rows))
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    with open(out / "latest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["module", "benchmark", "measured", "unit", "target", "ok"],
                                extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    previous = None
    if path.exists():
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = None
    given = argv if argv is not None else sys.argv[1:]
    command = " ".join(["python benchmarks/run_all.py", *given])
    record = make_record(rows, quick=args.quick, modules=list(modules), command=command, previous=previous)
    write_record(record, path)
    print(f"record: {path}")
    failed = [r["benchmark"] for r in rows if not r["ok"]]
    if failed:
        print(f"targets missed: {', '.join(failed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
