"""What a figure run records about itself (``<figure>.provenance.json``): the commit and whether the code
that produced its numbers had uncommitted changes, library versions, the device, and when it ran. [ours]
"""
from __future__ import annotations

import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import gclib

__all__ = ["git_output", "library_versions", "device_name", "now_utc"]


def git_output(root: Path, *args) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def library_versions() -> dict:
    def version(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {"gclib": gclib.__version__, "torch": version("torch"), "python": platform.python_version(),
            "numpy": version("numpy"), "papermill": version("papermill")}


def device_name(device) -> str:
    if isinstance(device, str) and (device == "auto" or device.startswith("cuda")):
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(int(device.split(":")[1]) if ":" in device else 0)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return "cpu: " + line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
