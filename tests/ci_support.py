"""Shared by the tests: in CI (``CI=true``) a missing prerequisite is a failure, elsewhere a skip."""
import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(msg: str):
    """Fail (in CI) or skip (elsewhere) for a missing prerequisite; ``msg`` says how to install it."""
    if IN_CI:
        pytest.fail(msg + " — CI must have it")
    pytest.skip(msg)
