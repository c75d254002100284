"""Shared test set-up: a per-session sweep cache and the test tiers (CI awareness: ci_support.py)."""
import os
import shutil
import tempfile

import pytest

# One training-sweep cache per test session, shared by papermill runs and nbval re-executions (kernels inherit
# this environment), so nothing leaks into ~/.cache and nothing is reused from an earlier session.
_CACHE = tempfile.mkdtemp(prefix="gclib-test-cache-")
os.environ["GCLIB_CACHE_DIR"] = _CACHE
# One intra-op thread in this process and in every kernel it starts (nbval's included), the runner's rule
# (gclib.companion.runner.DEFAULT_THREADS): the committed smoke outputs are the same on any core count.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_CACHE, ignore_errors=True)


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
def smoke_runs(tmp_path_factory):
    """Every figure notebook executed once at the smoke profile through the runner (papermill).

    The outputs also feed the book tests: ``GCLIB_BOOK_FIGURES`` is pointed at them unless already set.
    """
    from gclib.companion.parallel import run_all

    out = tmp_path_factory.mktemp("smoke-figures")
    results = {r.figure: r for r in run_all(profile="smoke", out_dir=out, progress=False)}
    os.environ.setdefault("GCLIB_BOOK_FIGURES", str(out))
    return results
