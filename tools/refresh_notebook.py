#!/usr/bin/env python
"""Re-execute figure notebooks in place at their smoke defaults and strip volatile metadata (for nbval).

Usage (from the repository root): .venv/bin/python tools/refresh_notebook.py notebooks/gc_l2.ipynb [...]

Each notebook runs with papermill in notebooks/ (so its figures go to the git-ignored notebooks/figures/),
with one intra-op thread per kernel as the runner does, in this machine's own numeric environment: nbval
compares only the cells that print the same text in every environment (``tools/numeric_spread.py`` measures
which; the others are tagged ``nbval-ignore-output``), so it does not matter which machine refreshes them.
Then papermill's timestamps, durations and the injected-parameters bookkeeping are removed, leaving only the
kernelspec and the cell outputs nbval compares.
"""
import os
import sys
from pathlib import Path

import nbformat
import papermill as pm


def strip(nb):
    gclib_meta = nb.metadata.get("gclib")  # the notebook's own declarations (verdicts_from_tables) stay
    nb.metadata = {"kernelspec": nb.metadata.get("kernelspec", {}), "language_info": {"name": "python"}}
    if gclib_meta:
        nb.metadata["gclib"] = gclib_meta
    for cell in nb.cells:
        tags = [t for t in cell.metadata.get("tags", []) if t != "injected-parameters"]
        cell.metadata = {"tags": tags} if tags else {}
    return nb


def main(paths):
    # one intra-op thread in the kernel, the runner's rule (gclib.companion.run.job.DEFAULT_THREADS): the
    # committed outputs are then the same on a 2-core and a 16-core machine
    from gclib.companion.run.job import DEFAULT_THREADS, THREAD_VARS

    os.environ.update({var: str(DEFAULT_THREADS) for var in THREAD_VARS})
    for p in map(Path, paths):
        pm.execute_notebook(str(p), str(p), cwd=str(p.parent), kernel_name="python3", progress_bar=False)
        nb = strip(nbformat.read(p, as_version=4))
        nbformat.write(nb, p)
        print(f"refreshed {p}")


if __name__ == "__main__":
    main(sys.argv[1:])
