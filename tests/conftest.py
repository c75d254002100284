"""Shared test set-up: a per-session sweep cache and the test tiers (CI awareness: ci_support.py)."""
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# One training-sweep cache per test session, shared by papermill runs and nbval re-executions (kernels inherit
# this environment), so nothing leaks into ~/.cache and nothing is reused from an earlier session.
_CACHE = tempfile.mkdtemp(prefix="gclib-test-cache-")
os.environ["GCLIB_CACHE_DIR"] = _CACHE
# One intra-op thread in this process and in every kernel it starts, the runner's rule
# (gclib.companion.run.job.DEFAULT_THREADS): the committed smoke outputs are the same on any core count.
# Set before anything imports torch (it reads them at import): hence the names here, not job.THREAD_VARS.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"
from gclib.companion.run import numerics  # noqa: E402

# The numeric environments the notebook tests run in (gclib.companion.run.numerics): nbval's kernels in
# NBVAL_ENV, the smoke and dry runs of the command line in SMOKE_ENV; GCLIB_NUMERIC_ENV=NAME puts all of them
# in NAME (`make test-numerics` goes through every one this CPU can produce). This process keeps its own.
_CHOSEN = os.environ.get(numerics.ENV_VAR)
NBVAL_ENV = numerics.from_environ(default="aten-default")
SMOKE_ENV = numerics.from_environ(default="native")


def pytest_configure(config):
    """nbval's kernels start from a kernelspec that carries NBVAL_ENV (its variables and threads)."""
    if not getattr(config.option, "nbval", False):
        return
    from ci_support import write_kernelspec

    root = Path(tempfile.mkdtemp(prefix="gclib-kernelspec-"))
    config.option.nbval_kernel_name = write_kernelspec(root, NBVAL_ENV)
    os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(root), os.environ.get("JUPYTER_PATH")) if p)
    config.stash[_KERNELSPEC] = root


_KERNELSPEC = pytest.StashKey[Path]()


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_CACHE, ignore_errors=True)
    root = session.config.stash.get(_KERNELSPEC, None)
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)


def pytest_report_header(config):
    return (f"numeric environments: nbval kernels {NBVAL_ENV.name}, command-line smoke and dry runs "
            f"{SMOKE_ENV.name} ({numerics.ENV_VAR}={_CHOSEN or 'unset'})")


# ---------------------------------------------------------------- tiers
# Run order: unit tests, then the papermill smoke runs of every figure (tests/test_notebooks.py), then the
# book and browser checks (which build the book from those smoke outputs when they exist), then nbval.
_TIER = {"notebooks": 1, "book": 2, "browser": 3}


def _tier(item) -> int:
    if item.nodeid.endswith(".ipynb") or ".ipynb::" in item.nodeid:
        return 4
    return min((_TIER[m.name] for m in item.iter_markers() if m.name in _TIER), default=0)


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=_tier)  # stable: keeps file order within a tier


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run fastest single-threaded (and far faster when the CPU is shared); restored after.
    Use per module: ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def smoke_cli(tmp_path_factory):
    """`gclib run all --profile smoke --jobs 2` on the repository's notebooks, as a user runs it: a
    subprocess (two figures at a time on Dask), its exit status and stderr kept for the tests that check
    what a successful run prints. Returns ``(out_dir, CompletedProcess)``."""
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path_factory.mktemp("smoke-figures")
    env = {k: v for k, v in SMOKE_ENV.apply().items() if k != "GCLIB_NOTEBOOKS_DIR"}
    env["GCLIB_NOTEBOOKS_DIR"] = str(Path(__file__).resolve().parents[1] / "notebooks")
    proc = subprocess.run([sys.executable, "-m", "gclib", "run", "all", "--profile", "smoke", "--jobs", "2",
                           "--out", str(out)], capture_output=True, text=True, timeout=1800, env=env)
    return out, proc


@pytest.fixture(scope="session")
def smoke_runs(smoke_cli):
    """Every figure notebook executed once at the smoke profile through the runner (papermill), by
    :func:`smoke_cli`; here the runner's results of that directory (every figure a cache hit).

    The outputs also feed the book tests: ``GCLIB_BOOK_FIGURES`` is pointed at them unless already set.
    """
    from pathlib import Path

    from gclib.companion.run.parallel import run_all

    out, proc = smoke_cli
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    nbs = Path(__file__).resolve().parents[1] / "notebooks"
    results = {r.figure: r for r in run_all(profile="smoke", out_dir=out, progress=False, notebooks_dir=nbs)}
    os.environ.setdefault("GCLIB_BOOK_FIGURES", str(out))
    return results
