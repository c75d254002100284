"""Starting a figure's kernel: the environment it gets (its output folder, the inline matplotlib backend,
this checkout's gclib first on the path, its intra-op threads), the kernel manager that passes it, papermill's
parser noise silenced, and the timestamps and absolute paths stripped from the executed notebook. [ours]
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

import gclib
from gclib.companion.outputs import read_json
from gclib.companion.run.job import THREAD_VARS, Job

__all__ = ["KERNEL_NAME", "INLINE_BACKEND", "kernel_env", "env_kernel_manager", "quiet_papermill_parser",
           "strip_timestamps", "failed_cell", "relative"]

KERNEL_NAME = "python3"  # jupyter_client starts "python" kernels with sys.executable: this (venv) interpreter
#: matplotlib backend of every kernel the runner starts: figures are embedded in the executed notebook.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


def kernel_env(job: Job) -> dict:
    """The environment a figure's kernel starts with (added to the caller's): its output directory, the
    inline matplotlib backend, this checkout's gclib first on the path, and ``job.threads`` intra-op
    threads."""
    # the kernel imports the gclib whose sources are in the cache key, even from an uninstalled checkout
    path = os.pathsep.join(p for p in (str(Path(gclib.__file__).resolve().parent.parent),
                                        os.environ.get("PYTHONPATH")) if p)
    # figures must appear inline in the executed notebook (the book shows it), whatever the caller's backend
    return {"GCLIB_OUTPUT_DIR": str(job.directory), "MPLBACKEND": INLINE_BACKEND, "PYTHONPATH": path,
            **{var: str(job.threads) for var in THREAD_VARS}}  # torch reads OMP_NUM_THREADS at import


def env_kernel_manager(env: dict, *, track_clients: bool = False):
    """A kernel manager class starting kernels with ``env`` added (thread-safe, unlike os.environ), and
    CurveZMQ transport encryption where the kernel and libzmq support it (else ipykernel warns on stderr).
    ``track_clients``: every client it makes is kept in its ``clients`` list (a kernel that outlives one
    run: :class:`~gclib.companion.run.warm.WarmKernel` closes them)."""
    import zmq
    from jupyter_client.manager import AsyncKernelManager

    class _EnvKernelManager(AsyncKernelManager):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.clients = []

        def client(self, **kw):
            kc = super().client(**kw)
            if track_clients:
                self.clients.append(kc)
            return kc

        async def start_kernel(self, **kw):
            kw["env"] = {**os.environ, **kw.get("env", {}), **env}
            if zmq.has("curve") and "transport_encryption" in self.trait_names():
                kw.setdefault("transport_encryption", "auto")
            return await super().start_kernel(**kw)

        async def _async_interrupt_kernel(self):
            # jupyter_client's shutdown_kernel() SIGINTs the kernel before its shutdown_request. papermill
            # shuts the kernel down right after the reply to its final kernel_info_request, when the kernel
            # may not yet have left that handler (its SIGINT handler is Python's until it does): it then
            # prints "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel." on stderr after a run that
            # succeeded. Our kernels are idle at shutdown (papermill waited for every reply), so skip that
            # interrupt; a kernel still busy is terminated by shutdown's SIGTERM/SIGKILL fallback. An
            # explicit interrupt_kernel() (a cell timeout) is unchanged: it does not go through this method.
            if self.shutting_down:
                return
            await super()._async_interrupt_kernel()

    return _EnvKernelManager


class _ParserNoise(logging.Filter):
    """papermill re-parses the parameters cell with a line-based parser that trips on ``=`` inside comments
    and then warns about "unknown" parameters; :func:`notebook_parameters` has already checked them."""

    def filter(self, record):
        return not record.getMessage().startswith(("Unable to parse line", "Passed unknown parameter"))


def quiet_papermill_parser() -> None:
    for name in ("papermill", "papermill.translators"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _ParserNoise) for f in logger.filters):
            logger.addFilter(_ParserNoise())


def relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path)


def strip_timestamps(path: Path, job: Job) -> None:
    """Drop papermill's and nbclient's timestamps and absolute paths from the executed notebook."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    meta = nb.metadata.get("papermill", {})
    for key in ("start_time", "end_time", "duration"):
        meta.pop(key, None)
    meta.update(input_path=relative(job.notebook, job.root), output_path=f"{job.figure}.ipynb")
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        for key in ("start_time", "end_time", "duration"):
            cell.metadata.get("papermill", {}).pop(key, None)
    nbformat.write(nb, path)


def failed_cell(err, nb_out: Path) -> int:
    """papermill's cell index counts its injected-parameters cell; return the index in the source notebook.
    (In the saved notebook papermill also put an error banner at the top, shifting everything by one.)"""
    cells = (read_json(nb_out) or {}).get("cells", [])
    injected = next((i - 1 for i, c in enumerate(cells)
                     if "injected-parameters" in c.get("metadata", {}).get("tags", [])), -1)
    return err.cell_index - (1 if 0 <= injected < err.cell_index else 0)
