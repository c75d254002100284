"""Shared by the tests: in CI (``CI=true``) a missing prerequisite is a failure, elsewhere a skip."""
import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(msg: str):
    """Fail (in CI) or skip (elsewhere) for a missing prerequisite; ``msg`` says how to install it."""
    if IN_CI:
        pytest.fail(msg + " — CI must have it")
    pytest.skip(msg)


def write_kernelspec(root, env, extra: dict | None = None) -> str:
    """A Jupyter kernelspec under ``root/kernels/`` for this interpreter that starts its kernels in the
    numeric environment ``env`` (``gclib.companion.run.numerics``: its variables and threads), with the
    variables ``extra`` set too; returns its name. Put ``root`` on ``JUPYTER_PATH`` to use it (nbval's
    kernels: tests/conftest.py)."""
    import json
    import sys
    from pathlib import Path

    name = "gclib-numeric"
    spec = Path(root) / "kernels" / name
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"gclib ({env.name})", "language": "python",
        "env": {**env.apply({}), **(extra or {})}}))
    return name
