"""Where things are: the repository root, the figure notebooks, the default output folders and the committed
paper-scale results (a leaf: it imports nothing of the wing). [ours]

- repository root: ``GCLIB_ROOT``, else the parent of the ``gclib`` package;
- notebooks: the ``notebooks_dir`` argument, else ``GCLIB_NOTEBOOKS_DIR``, else ``<root>/notebooks``;
- a figure run's outputs: ``<root>/book/_generated/figures`` (``gclib run``, ``make book``);
- sweeps: ``<root>/book/_generated/sweeps/<figure>/``;
- committed paper-profile results: ``<root>/results/paper/<figure>/``.
"""
from __future__ import annotations

import os
from pathlib import Path

import gclib

__all__ = ["repo_root", "notebook_directory", "default_out_dir", "default_sweep_dir", "RESULTS_SUBDIR",
           "results_dir"]

#: where committed paper-profile results live, relative to the repository root
RESULTS_SUBDIR = "results/paper"


def repo_root() -> Path:
    return Path(os.environ.get("GCLIB_ROOT") or Path(gclib.__file__).resolve().parent.parent).resolve()


def notebook_directory(path: str | os.PathLike | None = None) -> Path:
    """The ``path`` argument, else ``GCLIB_NOTEBOOKS_DIR``, else ``<root>/notebooks``."""
    return Path(path or os.environ.get("GCLIB_NOTEBOOKS_DIR") or repo_root() / "notebooks").resolve()


def default_out_dir() -> Path:
    return repo_root() / "book" / "_generated" / "figures"


def default_sweep_dir() -> Path:
    """Sweeps go to ``<this>/sweeps/<figure>/``, outside the book's figures directory."""
    return repo_root() / "book" / "_generated"


def results_dir(root=None) -> Path:
    """``<repository>/results/paper``."""
    return Path(root or repo_root()) / RESULTS_SUBDIR
