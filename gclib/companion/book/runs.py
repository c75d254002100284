"""What the runner left for the book: one :class:`FigureRun` per figure folder (executed notebook, images,
scorecard and provenance JSON), the profiles file, and each figure's paper, title and order. [ours]
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from gclib.companion.errors import BookBuildError, ParameterError
from gclib.companion.figures.catalogue import figure_entries, read_profiles

__all__ = ["GENERATED", "PAPERS", "BookBuildError", "FigureRun", "discover_figures", "load_profiles",
           "paper_of", "paper_name", "notebook_title", "figure_order", "thumbnail"]

GENERATED = "_generated"
PAPERS = {"dherin2022": "Dherin et al. 2022", "teague2022": "Teague 2022"}
PREFIX_PAPER = {"gc": "dherin2022", "gr": "teague2022"}


@dataclass
class FigureRun:
    """What the runner left for one figure in ``figures_dir/<id>/`` (any part may be missing)."""

    id: str
    directory: Path
    notebook: Path | None
    pngs: list[Path] = field(default_factory=list)
    svgs: list[Path] = field(default_factory=list)
    scorecard: dict | None = None
    provenance: dict | None = None

    @property
    def status(self) -> str:
        return (self.provenance or {}).get("status") or ("success" if self.notebook else "missing")

    @property
    def claims(self) -> list[dict]:
        return list((self.scorecard or {}).get("claims", []))

    @property
    def title(self) -> str | None:
        """The first H1 of the executed notebook's first cell."""
        if self.notebook is None:
            return None
        try:
            return notebook_title(json.loads(self.notebook.read_text(encoding="utf-8")))
        except ValueError:
            return None

    @property
    def profile(self) -> str:
        return (self.scorecard or {}).get("profile") or (self.provenance or {}).get("profile") or "—"


# ----------------------------------------------------------------------------------------------- inputs
def read_json(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise BookBuildError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise BookBuildError(f"{path}: expected a JSON object")
    return data


def discover_figures(figures_dir: str | os.PathLike) -> dict[str, FigureRun]:
    """Figures under ``figures_dir``: every sub-directory ``<id>/`` holding ``<id>.ipynb``,
    ``<id>.scorecard.json`` or ``<id>.provenance.json`` (names starting with ``_`` or ``.`` are skipped)."""
    root = Path(figures_dir)
    found: dict[str, FigureRun] = {}
    if not root.is_dir():
        return found
    for d in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        fid = d.name
        nb, card, prov = d / f"{fid}.ipynb", d / f"{fid}.scorecard.json", d / f"{fid}.provenance.json"
        if not (nb.exists() or card.exists() or prov.exists()):
            continue
        found[fid] = FigureRun(
            fid,
            d,
            nb if nb.exists() else None,
            sorted(d.glob("*.png")),
            sorted(d.glob("*.svg")),
            read_json(card),
            read_json(prov),
        )
    return found


def load_profiles(path: str | os.PathLike | None = None) -> dict:
    """``{figure id: profiles.yaml entry}``: by default the catalogue's (every figure notebook, with an empty
    entry where profiles.yaml has none: :func:`~gclib.companion.figures.catalogue.figure_entries`), else the
    profiles file at ``path``; ``{}`` when absent."""
    try:
        return figure_entries() if path is None else read_profiles(path)
    except ParameterError as err:
        raise BookBuildError(str(err)) from None


def paper_of(fid: str, entry: dict) -> str:
    return entry.get("paper") or PREFIX_PAPER.get(fid.split("_", 1)[0], "")


def paper_name(key: str) -> str:
    return PAPERS.get(key, key or "other")


def notebook_title(nb: dict) -> str | None:
    for cell in nb.get("cells", [])[:1]:
        if cell.get("cell_type") == "markdown":
            m = re.search(r"^#\s+(.+)$", "".join(cell.get("source", "")), flags=re.M)
            if m:
                return m.group(1).strip()
    return None


def figure_order(profiles: dict, runs: dict[str, FigureRun]) -> list[str]:
    """Figure ids: profiles.yaml order grouped by paper (Dherin first), then unknown ids alphabetically."""
    ids = list(profiles) + sorted(set(runs) - set(profiles))
    rank = {k: i for i, k in enumerate(PAPERS)}
    return sorted(ids, key=lambda f: (rank.get(paper_of(f, profiles.get(f, {})), len(rank)), ids.index(f)))


def thumbnail(run: FigureRun) -> Path | None:
    if not run.pngs:
        return None
    own = [p for p in run.pngs if p.stem == run.id or p.stem.startswith(run.id)]
    return (own or run.pngs)[0]
