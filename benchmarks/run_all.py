"""Run every ratio benchmark and print one table (``make bench``).

Each benchmark module measures its naive baseline in the same run and reports ratios, so the table is
meaningful on any machine. ``--quick`` uses smaller sizes (for a smoke check, not for the README numbers).
Results are also written to benchmarks/results/latest.csv.
"""
from __future__ import annotations

import argparse
import csv
import importlib
import platform
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
MODULES = ["bench_complexity", "bench_sampling"]


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--only", choices=MODULES, action="append", help="run only these modules")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    rows = []
    for name in args.only or MODULES:
        mod = importlib.import_module(name)
        rows += [{"module": name, **r} for r in mod.run(quick=args.quick)]
    print(f"\nmachine: {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, "
          f"python {platform.python_version()}")
    print(format_table(rows))
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    with open(out / "latest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["module", "benchmark", "measured", "unit", "target", "ok"])
        writer.writeheader()
        writer.writerows(rows)
    failed = [r["benchmark"] for r in rows if not r["ok"]]
    if failed:
        print(f"targets missed: {', '.join(failed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
