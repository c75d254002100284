"""Where things are: the repository root, the figure notebooks, the default output folders and the committed
paper-scale results (a leaf: it imports nothing of the wing). [ours]

- repository root: ``GCLIB_ROOT``, else the parent of the ``gclib`` package;
- notebooks: the ``notebooks_dir`` argument, else ``GCLIB_NOTEBOOKS_DIR``, else ``<root>/notebooks``;
- a figure run's outputs: ``<root>/book/_generated/figures`` (``gclib run``, ``make book``);
- sweeps: ``<root>/book/_generated/sweeps/<figure>/``;
- committed results: ``<root>/results/<profile>/<figure>/`` — the paper profile's (``results/paper``: every
  file of the run) and the cpu profile's records (``results/cpu``: scorecard, provenance and tables, from
  which the book's discussion of the cpu profile takes its numbers).
"""
from __future__ import annotations

import os
from pathlib import Path

import gclib

__all__ = ["repo_root", "notebook_directory", "default_out_dir", "default_sweep_dir", "RESULTS_SUBDIR",
           "COMMITTED_PROFILES", "results_dir"]

#: where committed paper-profile results live, relative to the repository root
RESULTS_SUBDIR = "results/paper"
#: the profiles with committed results: ``results/<profile>``
COMMITTED_PROFILES = ("paper", "cpu")


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


def results_dir(root=None, profile: str = "paper") -> Path:
    """``<repository>/results/<profile>`` (``results/paper`` by default)."""
    if profile not in COMMITTED_PROFILES:
        raise ValueError(f"no committed results for profile {profile!r}; valid: "
                         f"{', '.join(COMMITTED_PROFILES)}")
    return Path(root or repo_root()) / "results" / profile
