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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument("--only", choices=MODULES, action="append", help="run only these modules")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    rows = []
    for name in args.only or MODULES:
        mod = importlib.import_module(name)
        rows += [{"module": name, **r} for r in mod.run(quick=args.quick)]
    print(f"\nmachine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}, python {platform.python_version()}")
    w = max(len(r["benchmark"]) for r in rows)
    print(f"{'benchmark':<{w}}  {'measured':>12}  {'unit':<22}  {'target':<14}  ok")
    for r in rows:
        print(f"{r['benchmark']:<{w}}  {r['measured']:>12.3g}  {r['unit']:<22}  {str(r['target']):<14}  "
              f"{'✓' if r['ok'] else '✗'}")
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
