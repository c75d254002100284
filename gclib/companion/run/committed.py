"""Committed paper-scale results: where they live (``results/paper/<figure>/``), which figures the CPU
reaches at the paper profile, the *code hash* each result was made with, and whether it is stale.

A committed result is the runner's output folder of ``gclib run FIGURE --profile paper`` (executed
notebook, PNG + SVG, scorecard and provenance JSON, the per-run table as CSV). Its provenance records the
code hash: sha256 over the source fingerprint of the "table" scope (``gclib.experiments.cache``: the core,
the experiments wing and the plotting modules, without the statistics and the scorecard) and the notebook's
code cells that are not tagged ``verdict`` (statistics and scorecard) or ``check`` (the parameter check).
Markdown never enters it. When today's hash differs from the recorded one, the code that produced the
table has changed since: the result is *stale*, the book says so with its date and commit, and the test
suite fails until it is regenerated (``make paper-results``). [ours]
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from gclib.companion.errors import ParameterError
from gclib.companion.figures.catalogue import fits_cpu, get_figure
from gclib.companion.locations import RESULTS_SUBDIR, results_dir
from gclib.experiments import cache

__all__ = ["RESULTS_SUBDIR", "UNHASHED_TAGS", "notebook_code_hash", "code_hash", "results_dir", "fits_cpu",
           "ResultStatus", "committed_results"]
#: code cells that never change a number of the table: the statistics/verdicts and the parameter check
UNHASHED_TAGS = ("verdict", "check")


def notebook_code_hash(path) -> str:
    """sha256 of the notebook's code cells, in order, less those tagged :data:`UNHASHED_TAGS`."""
    cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    skip = set(UNHASHED_TAGS)
    src = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells
           if c["cell_type"] == "code" and not set(c.get("metadata", {}).get("tags", [])) & skip]
    return hashlib.sha256(json.dumps(src).encode()).hexdigest()


def code_hash(figure: str, notebooks_dir=None, *, notebook=None) -> str:
    """Today's code hash of ``figure`` (see the module docstring); ``notebook``: its path, if known."""
    path = notebook or get_figure(figure, notebooks_dir).notebook
    payload = {"table_source": cache.source_fingerprint("table"), "notebook": notebook_code_hash(path)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class ResultStatus:
    """One committed result: its provenance and whether the code that made its table has changed."""

    figure: str
    directory: Path
    provenance: dict
    recorded_hash: str | None
    current_hash: str | None
    profile: str = "paper"  # the profile the folder holds (results/<profile>)

    @property
    def stale(self) -> bool:
        return self.recorded_hash is None or self.recorded_hash != self.current_hash

    @property
    def ok(self) -> bool:
        p = self.provenance
        return p.get("status") == "success" and p.get("profile") == self.profile and not self.stale

    def describe(self) -> str:
        p = self.provenance
        when = (p.get("start") or "?")[:10]
        sha = (p.get("git_sha") or "?")[:12]
        if self.stale:
            old, new = str(self.recorded_hash)[:12], str(self.current_hash)[:12]
            return (f"{self.figure}: STALE — made on {when} at commit {sha}; the code that produced its "
                    f"table has changed since (code hash {old} → {new})")
        return f"{self.figure}: current — made on {when} at commit {sha}, status {p.get('status')}"


def committed_results(directory=None, notebooks_dir=None, *,
                      profile: str = "paper") -> dict[str, ResultStatus]:
    """Every ``<directory>/<figure>/<figure>.provenance.json`` (default ``results/<profile>``) with its
    staleness against today's code; a figure no longer in the notebooks is stale (current hash None)."""
    root = Path(directory) if directory is not None else results_dir(profile=profile)
    out = {}
    if not root.is_dir():
        return out
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        prov_path = d / f"{d.name}.provenance.json"
        if not prov_path.exists():
            continue
        prov = json.loads(prov_path.read_text(encoding="utf-8"))
        try:
            current = code_hash(d.name, notebooks_dir)
        except ParameterError:  # the figure is gone
            current = None
        out[d.name] = ResultStatus(d.name, d, prov, prov.get("code_hash"), current, profile)
    return out
