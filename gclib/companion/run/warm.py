"""One kernel for many runs: :class:`WarmKernel` executes figure runs one after another in a single kernel,
reset between runs, for work that runs many small parameter sets (the figures of ``gclib run all`` on each
worker, the cells of a sweep, the fuzz of valid parameters, the paper profile's capped dry runs), where
starting a kernel and importing torch, SciPy, pandas and matplotlib costs more than the run itself. [ours]

What a warm run shares with the runs before it, and what it does not:

- reset before every run: the notebook's namespace (``%reset -f``), every open figure, matplotlib's
  rcParams (back to what they were after the kernel imported pyplot), the working directory (the run's
  folder) and the environment variables, set to what a fresh kernel would get now (this process's
  environment with the job's, e.g. ``GCLIB_OUTPUT_DIR`` and a caller's ``GCLIB_NOTEBOOKS_DIR``);
- kept: imported modules and their module-level state, warnings already shown once (a warning is printed in
  the first run that raises it), the device notice of ``device="auto"`` (once per kernel), the execution
  counter of the saved notebook;
- fixed at the kernel's start: what is read at import (the job's kernel variables such as intra-op
  threads, and the numeric environment's variables). A job that needs other values gets a fresh kernel.

Every figure seeds its own generators, so a warm run computes the same tables as a cold one
(``tests/test_robustness.py`` checks the tables of gc_l2, run in ``gclib run all``'s warm kernels after other
figures, byte for byte against a fresh kernel's). The provenance of a warm run records ``warm_kernel`` (how
many runs the kernel executed before it). ``gclib run all``, ``sweep`` and ``book`` use one per Dask worker
(:mod:`gclib.companion.run.parallel`).
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager

from gclib.companion.errors import RunError
from gclib.companion.run.launch import KERNEL_NAME, env_kernel_manager
from gclib.companion.run.numerics import VARIABLES as NUMERIC_VARIABLES

__all__ = ["WarmKernel", "kernel_for"]

#: the job's own environment variables: set in the kernel before each run, never a reason for a new kernel
PER_RUN_VARS = ("GCLIB_OUTPUT_DIR",)
#: variables of this process read when the kernel imports torch, MKL, oneDNN or NumPy: a change starts a
#: new kernel (the job's kernel variables, e.g. the threads, do too)
RESTART_VARS = NUMERIC_VARIABLES
_STATE = "_gclib_warm_kernel"  # a module in the kernel's sys.modules: what %reset -f cannot clear

_START = f"""
import sys as _sys, types as _types
import matplotlib as _mpl, matplotlib.pyplot as _plt
_state = _sys.modules.setdefault({_STATE!r}, _types.ModuleType({_STATE!r}))
_state.rc = _mpl.rcParams.copy()
del _sys, _types, _mpl, _plt, _state
"""

_RESET = """
get_ipython().run_line_magic("reset", "-f")
import os as _os, sys as _sys, matplotlib as _mpl, matplotlib.pyplot as _plt
_plt.close("all")
_mpl.rcParams.update(_sys.modules[{state!r}].rc)
_os.chdir({cwd})
_os.environ.update({env})
for _name in {unset}:
    _os.environ.pop(_name, None)
del _os, _sys, _mpl, _plt
"""


class WarmKernel:
    """A kernel reused by :func:`~gclib.companion.run.runner.run_figure` (``kernel=``): started on first
    use, reset before each run (module docstring), restarted when a job needs another environment or the
    kernel died, shut down by :meth:`close` (or on leaving a ``with`` block).

    >>> with WarmKernel() as kernel:                                              # doctest: +SKIP
    ...     for seeds in ([0], [1], [2]):
    ...         run_figure("gc_l2", overrides={"seeds": seeds}, out_dir=f"out/{seeds[0]}", kernel=kernel)
    """

    def __init__(self, timeout: float = 60.0):
        self.timeout = timeout
        self.km = None
        self.runs = 0  # runs started in the current kernel
        self._fixed: dict | None = None  # what the current kernel read at import (RESTART_VARS, job's)
        self._environ: dict = {}  # the environment the kernel holds now

    # ---------------------------------------------------------------- life cycle
    def __enter__(self) -> WarmKernel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Shut the kernel down (nothing if none was started)."""
        km, self.km, self._fixed, self._environ, self.runs = self.km, None, None, {}, 0
        if km is not None:
            from jupyter_core.utils import run_sync

            for kc in km.clients:
                kc.stop_channels()
            try:
                run_sync(km.shutdown_kernel)(now=True)
            except Exception:  # already gone: nothing left to shut
                pass

    def _start(self, env: dict, fixed: dict) -> None:
        from jupyter_core.utils import run_sync

        self.close()
        km = env_kernel_manager(env, track_clients=True)(kernel_name=KERNEL_NAME)
        run_sync(km.start_kernel)()
        self.km, self._fixed, self._environ, self.runs = km, fixed, {**os.environ, **env}, 0
        self._execute(_START)

    def _alive(self) -> bool:
        from jupyter_core.utils import run_sync

        return self.km is not None and bool(run_sync(self.km.is_alive)())

    def _execute(self, code: str) -> None:
        """Run ``code`` in the kernel; raise :class:`RunError` unless it ran without an error."""
        from jupyter_core.utils import run_sync

        kc = self.km.client()
        kc.start_channels()
        try:
            run_sync(kc.wait_for_ready)(timeout=self.timeout)
            reply = run_sync(kc.execute_interactive)(code, timeout=self.timeout, output_hook=lambda msg: None,
                                                     store_history=False)
        finally:
            self.finished()
        content = reply["content"]
        if content.get("status") != "ok":
            raise RunError(f"warm kernel: resetting between runs failed: {content.get('ename')}: "
                           f"{content.get('evalue')}")

    # ---------------------------------------------------------------- one run
    def prepare(self, env: dict, cwd) -> tuple[object, int]:
        """A kernel ready for a run with environment ``env`` in folder ``cwd``: ``(kernel manager, runs
        before this one in that kernel)``."""
        environ = {**os.environ, **{k: str(v) for k, v in env.items()}}  # what a fresh kernel would get
        fixed = {k: environ.get(k) for k in sorted((set(env) | set(RESTART_VARS)) - set(PER_RUN_VARS))}
        if self._fixed != fixed or not self._alive():
            self._start({k: v for k, v in env.items() if k not in PER_RUN_VARS}, fixed)
        unset = sorted(set(self._environ) - set(environ))
        self._execute(_RESET.format(state=_STATE, cwd=json.dumps(str(cwd)), env=json.dumps(environ),
                                    unset=json.dumps(unset)))
        self._environ = environ
        before, self.runs = self.runs, self.runs + 1
        return self.km, before

    def finished(self) -> None:
        """After a run: stop the channels of the clients papermill opened on the kernel (it keeps a kernel
        it did not start running, and its clients with it)."""
        if self.km is not None:
            for kc in list(self.km.clients):
                kc.stop_channels()
            self.km.clients.clear()


@contextmanager
def kernel_for(env: dict, cwd, kernel: WarmKernel | None = None):
    """papermill's kernel arguments for one run in folder ``cwd``, and how many runs the kernel made before:
    ``({"kernel_manager_class": ...}, None)`` for a fresh kernel started with ``env``, or ``({"km": ...},
    n)`` for ``kernel`` reset for this run, whose papermill clients are closed on leaving. A run that fails
    other than by a cell raising (the kernel died, hung, or could not be reset) shuts ``kernel`` down: the
    next run starts a new one. A cell that raised leaves it running; the next run resets it."""
    if kernel is None:
        yield {"kernel_manager_class": env_kernel_manager(env)}, None
        return
    try:
        km, before = kernel.prepare(env, cwd)
        yield {"km": km}, before
    except Exception as err:
        from papermill.exceptions import PapermillExecutionError

        if not isinstance(err, PapermillExecutionError):
            kernel.close()
        raise
    finally:
        kernel.finished()
