#!/usr/bin/env python
"""Write the protocol-v2 calibration records: each figure run at the cpu profile on the calibration seed.

Usage (repository root): .venv/bin/python tools/calibrate_v2.py [FIGURE ...]   (default: all four)

The protocol (shared/papers/geometric_complexity.md, "Protocol v2") lets the choices it leaves open — the
exact lr grid (G6), the second learning rate (G7), the strength grid and step cap (G4), the rough start's
scaling (G9) — be made on a seed the verdicts do not use. This tool executes the figure notebook itself
(`gclib run FIGURE --profile cpu -p seeds [100] ...`, with the candidate grids below), takes the per-run
table the notebook saved beside its figure and writes it to gclib/calibration/FIGURE.csv under a header
saying how it was made. The notebooks print these records; they never compute from them.
"""
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

from gclib.companion.locations import repo_root
from gclib.companion.run import run_figure

SEED = 100
#: figure -> (the candidate overrides run on the calibration seed, the table the notebook saves)
CALIBRATIONS = {
    "gc_learning_rate": ({"v2_lrs": [0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.4, 2.0]}, "gc_learning_rate_v2.csv"),
    "gc_batch_size": ({"v2_lrs": [0.1, 0.2, 0.3, 0.4, 0.5]}, "gc_batch_size_v2.csv"),
    "gc_flatness": ({"gauss_newton": [0.0, 1e-7, 3e-7, 1e-6, 3e-6, 1e-5]}, "gc_flatness_v2.csv"),
    "gc_dirichlet_1d": ({}, "gc_dirichlet_1d_runs.csv"),
}


def calibrate(figure: str) -> Path:
    overrides, table = CALIBRATIONS[figure]
    overrides = {"seeds": [SEED], **overrides}
    with tempfile.TemporaryDirectory(prefix="gclib-calibration-") as out:
        res = run_figure(figure, profile="cpu", overrides=overrides, out_dir=out, force=True)
        if res.status == "failed":
            raise SystemExit(f"{figure}: the calibration run failed: {res.error}")
        sha = subprocess.run(["git", "-C", str(repo_root()), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True).stdout.strip() or "unknown"
        args = " ".join(f"-p {k} '{v}'" for k, v in overrides.items())
        header = [f"calibration record of {figure}: the cpu profile on calibration seed {SEED}, which no "
                  "verdict uses", f"made by tools/calibrate_v2.py = gclib run {figure} --profile cpu {args}",
                  f"on {date.today().isoformat()} at commit {sha}, in {res.wall_seconds:.0f} s"]
        dest = repo_root() / "gclib" / "calibration" / f"{figure}.csv"
        tmp = dest.with_name(dest.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            fh.writelines(f"# {line}\n" for line in header)
            with (Path(res.directory) / table).open(encoding="utf-8") as src:
                shutil.copyfileobj(src, fh)
        tmp.replace(dest)
    return dest


def main(figures):
    for figure in figures or list(CALIBRATIONS):
        if figure not in CALIBRATIONS:
            raise SystemExit(f"unknown figure {figure!r}; valid: {', '.join(CALIBRATIONS)}")
        print(f"wrote {calibrate(figure)}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
