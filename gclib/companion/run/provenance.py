"""What a figure run records about itself (``<figure>.provenance.json``): the commit and whether the code
that produced its numbers had uncommitted changes, library versions, the device, and when it ran. [ours]
"""
from __future__ import annotations

import hashlib
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import gclib

__all__ = ["git_output", "library_versions", "device_name", "now_utc", "table_hashes", "code_dirty"]


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


def table_hashes(directory: Path) -> dict[str, str]:
    """``{file name: sha256}`` of every per-run table (``*.csv``) a run saved in ``directory``: recorded in
    the provenance, so a table edited by hand no longer matches the run that made it."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(directory).glob("*.csv")) if not p.name.startswith(".")}


def code_dirty(root: Path, notebook: Path) -> list[str] | None:
    """The files with uncommitted changes among those that produced a figure's numbers — the code of the
    "table" scope (:mod:`gclib.experiments.cache`) and the figure's notebook — relative to ``root``;
    ``None`` outside a git checkout. Changes elsewhere (a result being written into ``results/``, the book,
    the docs) do not make a result's code dirty."""
    from gclib.experiments import cache

    paths = [str(p) for p in cache.scope_files("table")] + [str(notebook)]
    out = git_output(root, "status", "--porcelain", "--untracked-files=no", "--", *paths)
    return None if out is None else sorted(line[3:] for line in out.splitlines() if line.strip())

