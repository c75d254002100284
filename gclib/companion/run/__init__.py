"""Outside the kernel: what starts figure kernels, waits for them and reads what they leave (nothing here is
imported by a notebook).

- :mod:`~gclib.companion.run.job` — one run as data: the job, its cache key, its folder and files
- :mod:`~gclib.companion.run.cache` — a cached run reused, a broken entry rerun, the folder lock
- :mod:`~gclib.companion.run.launch` — a kernel's environment and papermill's execution details
- :mod:`~gclib.companion.run.warm` — one kernel reused for many small runs, reset between them
- :mod:`~gclib.companion.run.provenance` — what a run records about itself
- :mod:`~gclib.companion.run.runner` — one figure: cached, rejudged or executed (:func:`run_figure`)
- :mod:`~gclib.companion.run.rejudge` — verdicts recomputed from a run's saved tables
- :mod:`~gclib.companion.run.parallel` — many figures and parameter grids on Dask distributed
- :mod:`~gclib.companion.run.committed` — the committed paper-scale results: code hash, staleness
- :mod:`~gclib.companion.run.verify` — a committed result re-derived from its tables, and its table hashes
- :mod:`~gclib.companion.run.numerics` — numeric environments a kernel can be started in
"""
from gclib.companion.errors import RunError
from gclib.companion.run.job import DEFAULT_THREADS, Job, RunResult, cache_key, prepare
from gclib.companion.run.parallel import run_all, sweep
from gclib.companion.run.runner import execute, run_figure, run_locked
from gclib.companion.run.warm import WarmKernel

__all__ = ["run_figure", "run_all", "sweep", "run_locked", "execute", "prepare", "cache_key", "Job",
           "RunResult", "RunError", "DEFAULT_THREADS", "WarmKernel"]
