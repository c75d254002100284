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
    """nbval's kernels start from a kernelspec that carries NBVAL_ENV (its variables and threads) and a
    training cache apart from the one every other run of the session shares."""
    if not getattr(config.option, "nbval", False):
        return
    from ci_support import write_kernelspec

    root = Path(tempfile.mkdtemp(prefix="gclib-kernelspec-"))
    # a training cache of their own: the smoke run (SMOKE_ENV) trains with the same parameters first, and a
    # training nbval read back from it would not have run in NBVAL_ENV at all
    config.option.nbval_kernel_name = write_kernelspec(root, NBVAL_ENV,
                                                       {"GCLIB_CACHE_DIR": str(Path(_CACHE) / "nbval")})
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


# ---------------------------------------------------------------- order and xdist groups
# Run order: the book and browser checks first (one work unit, the longest: it starts the shared smoke run of
# every figure, then builds the book from it, while the other workers take the rest), then the unit tests,
# then the tests that run figures (smoke results, fuzz, dry runs), then nbval (many short units last, so the
# workers finish together). Under pytest-xdist (`make test`: one worker more than the cores, --dist
# loadgroup) the cells of one notebook stay on one worker, in order, with their kernel, and a module whose
# tests share an expensive module fixture (the built book) stays on one worker.
#
# The groups are computed here from each test's node id (xdist_group), by a scheduler of our own
# (pytest_xdist_make_scheduler), not by xdist's loadgroup: that one renames node ids on the workers
# (``item._nodeid = nodeid@group``), which pytest >= 9.2 no longer reads (node ids became structured), so
# every nbval cell became its own work unit, a notebook's cells ran on two workers with two kernels, and
# every cell after the imports failed with NameError (CI of 2026-12-06, 106 failures).
_TIER = {"book": -1, "browser": -1, "notebooks": 1}
_GROUPS = {"test_book.py": "book", "test_browser.py": "book"}


def xdist_group(nodeid: str) -> str | None:
    """The xdist group of the test ``nodeid`` (None: the test is scheduled alone): ``nbval-<stem>`` for
    every cell of a notebook, the shared name of the modules in ``_GROUPS``."""
    path = nodeid.split("::", 1)[0]
    name = path.rsplit("/", 1)[-1]
    if name.endswith(".ipynb"):
        return f"nbval-{name[:-len('.ipynb')]}"
    return _GROUPS.get(name)


def _tier(item) -> int:
    if item.nodeid.endswith(".ipynb") or ".ipynb::" in item.nodeid:
        return 4
    return min((_TIER[m.name] for m in item.iter_markers() if m.name in _TIER), default=0)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    for item in items:
        group = xdist_group(item.nodeid)
        if group is not None:  # for the record (`pytest --markers`, -v); the scheduler reads xdist_group()
            item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=_tier)  # stable: keeps file order within a tier


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadgroup`: xdist's scope scheduler with our groups (:func:`xdist_group`) as scopes; a work
    unit is a whole group, in collection order, so its tests share one worker, one kernel, one fixture."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_group(nodeid) or nodeid

    return GroupScheduling(config, log)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run fastest single-threaded (and far faster when the CPU is shared); restored after.
    Use per module: ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def shared_dir(tmp_path_factory, worker_id) -> Path:
    """A folder every pytest-xdist worker of this session sees (the session's base temp when not
    distributed): what one worker computes there under a lock, the others read instead of recomputing."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if worker_id != "master" else base


@pytest.fixture(scope="session")
def smoke_cli(tmp_path_factory, worker_id):
    """`gclib run all --profile smoke --jobs 2` on the repository's notebooks, as a user runs it: a
    subprocess (two figures at a time on Dask) in SMOKE_ENV, its exit status and output kept for the tests
    that check what a successful run prints. Run once per session: the first xdist worker that needs it runs
    it under a file lock, the others wait and read its record. Returns ``(out_dir, CompletedProcess)``."""
    import json
    import subprocess
    import sys

    from filelock import FileLock

    root = shared_dir(tmp_path_factory, worker_id)
    out, record = root / "smoke-figures", root / "smoke-cli.json"
    args = [sys.executable, "-m", "gclib", "run", "all", "--profile", "smoke", "--jobs", "2", "--out",
            str(out)]
    with FileLock(str(root / "smoke-cli.lock")):
        if not record.exists():
            env = {k: v for k, v in SMOKE_ENV.apply().items() if k != "GCLIB_NOTEBOOKS_DIR"}
            env["GCLIB_NOTEBOOKS_DIR"] = str(Path(__file__).resolve().parents[1] / "notebooks")
            proc = subprocess.run(args, capture_output=True, text=True, timeout=1800, env=env)
            record.write_text(json.dumps({"returncode": proc.returncode, "stdout": proc.stdout,
                                          "stderr": proc.stderr}))
    data = json.loads(record.read_text())
    return out, subprocess.CompletedProcess(args, data["returncode"], data["stdout"], data["stderr"])


@pytest.fixture(scope="session")
def smoke_runs(smoke_cli):
    """Every figure notebook executed once at the smoke profile through the runner (papermill), by
    :func:`smoke_cli`; here the runner's results of that directory (every figure a cache hit)."""
    from pathlib import Path

    from gclib.companion.run.parallel import run_all

    out, proc = smoke_cli
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    nbs = Path(__file__).resolve().parents[1] / "notebooks"
    return {r.figure: r for r in run_all(profile="smoke", out_dir=out, progress=False, notebooks_dir=nbs)}


@pytest.fixture(scope="session")
def book_figures(smoke_cli):
    """The figures the book tests build the book from: ``GCLIB_BOOK_FIGURES`` when set, else the session's
    smoke run of every figure (:func:`smoke_cli`)."""
    env = os.environ.get("GCLIB_BOOK_FIGURES")
    if env:
        return Path(env).resolve()
    out, proc = smoke_cli
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


@pytest.fixture(scope="session")
def warm_kernel():
    """This worker's warm kernel (:class:`gclib.companion.run.WarmKernel`, reset between runs): the fuzz's
    draws, the paper dry runs and the re-derivations of committed results run in it one after another,
    instead of starting a kernel and importing torch, SciPy and matplotlib for each (that costs more than a
    draw). Shut down at the end of the session."""
    from gclib.companion.run import WarmKernel

    with WarmKernel() as kernel:
        yield kernel
