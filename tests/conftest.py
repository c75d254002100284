"""Shared test set-up: headless plotting, a per-session sweep cache, and CI-aware tool checks."""
import os
import shutil
import tempfile

import pytest

os.environ.setdefault("MPLBACKEND", "agg")
# One training-sweep cache per test session, shared by papermill runs and nbval re-executions (kernels inherit
# this environment), so nothing leaks into ~/.cache and nothing is reused from an earlier session.
_CACHE = tempfile.mkdtemp(prefix="gclib-test-cache-")
os.environ["GCLIB_CACHE_DIR"] = _CACHE

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_tool(name: str, why: str) -> str:
    """Path of an executable; in CI a missing tool fails the test, elsewhere it skips with a reason."""
    path = shutil.which(name)
    if path is None:
        msg = f"{name} not found ({why})"
        if IN_CI:
            pytest.fail(msg + " — CI must have it (make setup installs it)")
        pytest.skip(msg)
    return path


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_CACHE, ignore_errors=True)
