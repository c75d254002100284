"""Generate the book's figure pages, scorecard, gallery and tables from the runner's outputs; build the book.

The runner (``gclib run FIGURE --out DIR``) leaves ``DIR/FIGURE/{FIGURE.ipynb, *.png, *.svg,
FIGURE.scorecard.json, FIGURE.provenance.json}``. :func:`generate_pages` turns whatever figures exist there
into Markdown/notebook pages under ``<book>/_generated/`` — nothing is computed, only copied and tabulated —
and :func:`build_book` runs ``jupyter-book build -W -n --keep-going`` on the result. [ours]

Generated files are rewritten only when their content changes, so an unchanged rebuild is incremental.
"""

from __future__ import annotations

import ast
import copy
import json
import math
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

__all__ = ["BookBuildError", "FigureRun", "discover_figures", "load_profiles", "generate_pages", "build_book",
           "notebooks_readme"]

GENERATED = "_generated"
PAPERS = {"dherin2022": "Dherin et al. 2022", "teague2022": "Teague 2022"}
_PREFIX_PAPER = {"gc": "dherin2022", "gr": "teague2022"}
_RECORD_ID = "gclib-book-record"
_WIDGET_MIMES = ("application/vnd.jupyter.widget-view+json", "application/vnd.jupyter.widget-state+json")
_JB_MAIN = "import sys; from jupyter_book.cli.main import main; sys.exit(main())"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_DIRECTIONS = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}


class BookBuildError(RuntimeError):
    """The book could not be generated or built; the message ends with the tail of the build log."""


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
            return _notebook_title(json.loads(self.notebook.read_text(encoding="utf-8")))
        except ValueError:
            return None

    @property
    def profile(self) -> str:
        return (self.scorecard or {}).get("profile") or (self.provenance or {}).get("profile") or "—"


# ----------------------------------------------------------------------------------------------- inputs
def _read_json(path: Path) -> dict | None:
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
            _read_json(card),
            _read_json(prov),
        )
    return found


def load_profiles(path: str | os.PathLike | None = None) -> dict:
    """``notebooks/profiles.yaml`` as ``{figure id: entry}`` (``{}`` when absent). Default location: the
    runner's notebooks directory (``GCLIB_NOTEBOOKS_DIR`` or ``<repo>/notebooks``), whose other figure
    notebooks are added with empty entries."""
    scan = path is None
    if scan:
        from .runner import notebook_directory

        path = notebook_directory() / "profiles.yaml"
    path = Path(path)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    data = data or {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise BookBuildError(f"{path}: expected one mapping per figure id")
    if scan:  # a figure notebook without a profiles entry is still a figure (shown as not yet generated)
        for nb in sorted(path.parent.glob("*.ipynb")):
            data.setdefault(nb.stem, {})
    return data


# ----------------------------------------------------------------------------------------------- formatting
def _fmt(x) -> str:
    """Numbers for tables: 4 significant digits, ``—`` for missing."""
    if x is None:
        return "—"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return str(x) if not math.isfinite(x) else f"{x:.4g}"
    return _cell(str(x))


def _ci(ci) -> str:
    return f"[{_fmt(ci[0])}, {_fmt(ci[1])}]" if isinstance(ci, (list, tuple)) and len(ci) == 2 else "—"


def _threshold(claim: dict) -> str:
    d, t = claim.get("direction"), claim.get("threshold")
    if d == "report" or t is None:
        return "reported (no bar)"
    if d == "in" and isinstance(t, (list, tuple)) and len(t) == 2:
        return f"in [{_fmt(t[0])}, {_fmt(t[1])}]"
    return f"{_DIRECTIONS.get(d, d or '')} {_fmt(t)}".strip()


def _verdict(claim: dict) -> str:
    if claim.get("direction") == "report":
        return "—"
    return claim.get("verdict") or ("✓" if claim.get("passed") else "✗")


def _protocol(claim: dict) -> str:
    return claim.get("protocol") or "v1"


def _tally(claims) -> dict:
    """``{"v1": [✓, ✗], "v2": [✓, ✗], "reported": n}``: checked claims counted per protocol (v1 and v2
    never summed into one number), values reported without a bar apart."""
    out = {"v1": [0, 0], "v2": [0, 0], "reported": 0}
    for c in claims:
        if c.get("direction") == "report":
            out["reported"] += 1
        else:
            out.setdefault(_protocol(c), [0, 0])[0 if c.get("passed") else 1] += 1
    return out


def _tally_text(t: dict, *, bold: bool = False) -> str:
    """"v1: 5 ✓ 2 ✗ · v2: 3 ✓ 1 ✗ (+2 reported)" (protocols without claims left out)."""
    b = "**" if bold else ""
    parts = [f"{p}: {b}{ok} ✓{b} {b}{bad} ✗{b}" for p, (ok, bad) in t.items() if p != "reported" and ok + bad]
    reported = f" (+{t['reported']} reported)" if t["reported"] else ""
    return " · ".join(parts or ["no checked claims"]) + reported


_MD_SPECIAL = re.compile(r"([\\`*_<>\[\]|{}#])")


def _cell(text: str) -> str:
    """Free text for a Markdown table cell: Markdown escaped outside ``$…$`` math, one line."""
    parts = re.split(r"(\$[^$]+\$)", str(text).replace("\n", " "))
    return "".join(
        p.replace("|", r"\|")
        if p.startswith("$") and p.endswith("$") and len(p) > 1
        else _MD_SPECIAL.sub(r"\\\1", p)
        for p in parts
    )


def _code(value) -> str:
    """A value as an inline code span (JSON where possible), safe inside a table cell."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > 120:
        text = text[:117] + "..."
    ticks = "``" if "`" in text else "`"
    pad = " " if ticks == "``" else ""
    return f"{ticks}{pad}{text.replace('|', chr(92) + '|')}{pad}{ticks}"


def _code_text(text: str) -> str:
    ticks = "``" if "`" in text else "`"
    return f"{ticks}{text}{ticks}"


def _seconds(s) -> str:
    if not isinstance(s, (int, float)) or isinstance(s, bool):
        return "—"
    if s < 90:
        return f"{s:.0f} s"
    return f"{s / 60:.0f} min" if s < 5400 else f"{s / 3600:.1f} h"


def _est_times(entry: dict) -> str:
    """A profiles.yaml entry's estimated run time per profile: "smoke / cpu / paper"."""
    est = entry.get("est_seconds") or {}
    return " / ".join(_seconds(est.get(p)) for p in ("smoke", "cpu", "paper"))


def _wall(s) -> str:
    if not isinstance(s, (int, float)) or isinstance(s, bool):
        return "—"
    return f"{s:.1f} s" if s < 90 else f"{_seconds(s)} ({s:.0f} s)"


def _shell_value(value) -> str:
    """A parameter value as ``-p`` expects it (a Python literal; a plain word is a string), shell-quoted."""
    if (
        isinstance(value, str)
        and re.fullmatch(r"[A-Za-z_][\w.:/-]*", value)
        and value not in ("True", "False", "None", "true", "false", "none", "null")
    ):
        text = value
    else:
        text = repr(value)
    return shlex.quote(text)


def _table(header: list[str], rows: list[list[str]], *, compact: bool = False) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    if compact:  # smaller font (book/_static/gclib.css) for wide generated tables
        lines = ["```{table}", ":class: gclib-compact", *lines, "```"]
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------- figure info
def _paper(fid: str, entry: dict) -> str:
    return entry.get("paper") or _PREFIX_PAPER.get(fid.split("_", 1)[0], "")


def _paper_name(key: str) -> str:
    return PAPERS.get(key, key or "other")


def _notebook_title(nb: dict) -> str | None:
    for cell in nb.get("cells", [])[:1]:
        if cell.get("cell_type") == "markdown":
            m = re.search(r"^#\s+(.+)$", "".join(cell.get("source", "")), flags=re.M)
            if m:
                return m.group(1).strip()
    return None


def _order(profiles: dict, runs: dict[str, FigureRun]) -> list[str]:
    """Figure ids: profiles.yaml order grouped by paper (Dherin first), then unknown ids alphabetically."""
    ids = list(profiles) + sorted(set(runs) - set(profiles))
    rank = {k: i for i, k in enumerate(PAPERS)}
    return sorted(ids, key=lambda f: (rank.get(_paper(f, profiles.get(f, {})), len(rank)), ids.index(f)))


def _thumbnail(run: FigureRun) -> Path | None:
    if not run.pngs:
        return None
    own = [p for p in run.pngs if p.stem == run.id or p.stem.startswith(run.id)]
    return (own or run.pngs)[0]


# ----------------------------------------------------------------------------------------------- writing
class _Writer:
    """Writes files only when their content changes; remembers every path it manages."""

    def __init__(self, root: Path):
        self.root = root
        self.paths: list[Path] = []
        self.changed: list[Path] = []

    def text(self, rel: str, content: str) -> Path:
        return self.bytes(rel, content.encode("utf-8"))

    def bytes(self, rel: str, content: bytes) -> Path:
        path = self.root / rel
        self.paths.append(path)
        if not (path.exists() and path.read_bytes() == content):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_bytes(content)
            tmp.replace(path)
            self.changed.append(path)
        return path

    def copy(self, rel: str, src: Path) -> Path:
        return self.bytes(rel, src.read_bytes())

    def prune(self, *subdirs: str) -> None:
        """Delete files in ``subdirs`` that this run did not write (figures that no longer exist)."""
        keep = {p.resolve() for p in self.paths}
        for sub in subdirs:
            base = self.root / sub
            if not base.is_dir():
                continue
            for p in sorted(base.rglob("*"), reverse=True):
                if p.is_file() and p.resolve() not in keep:
                    p.unlink()
                elif p.is_dir() and not any(p.iterdir()):
                    p.rmdir()


# ----------------------------------------------------------------------------------------------- figure pages
def _record_markdown(run: FigureRun, entry: dict, has_images: bool, asset_names: list[str]) -> str:
    prov = run.provenance or {}
    fid = run.id
    profile = prov.get("profile") or run.profile
    out = ["## Reproduction record", ""]
    if entry.get("claim"):
        source = f"{_cell(_paper_name(_paper(fid, entry)))}, family {_cell(entry.get('family', '—'))}"
        out += [f"**Claim** ({source}): {_cell(entry['claim'])}", ""]
    device = str((prov.get("parameters") or {}).get("device") or prov.get("device") or "")
    if profile == "paper" or device.startswith("cuda"):  # the one GPU note, shared with the GPU how-to
        out += ["```{include} ../../_includes/gpu_admonition.md", "```", ""]
    if run.status != "success":
        out += [
            ":::{warning}",
            f"This run did not finish: status `{run.status}`"
            + (f" — {_cell(prov['error'])}" if prov.get("error") else "")
            + ".",
            ":::",
            "",
        ]
    claims = run.claims
    if claims:
        out += [f"**Scorecard** ({profile} profile): {_tally_text(_tally(claims))}.", ""]
    if not has_images and run.pngs:
        for name in asset_names:
            if name.endswith(".png"):
                out += [f"```{{figure}} ../assets/{fid}/{name}", f":alt: {fid} figure {name}", "```", ""]

    out += ["### Scorecard verdicts", ""]
    if claims:
        out.append(
            _table(
                ["✓/✗", "claim", "statistic", "CI", "threshold"],
                [
                    [
                        _verdict(c),
                        f"`{c.get('claim_id', '?')}` {_cell(c.get('description', ''))}".strip(),
                        _fmt(c.get("statistic")),
                        _ci(c.get("ci")),
                        _threshold(c),
                    ]
                    for c in claims
                ],
                compact=True,
            )
        )
    else:
        out.append("No scorecard was written for this run.")
    out += ["", "### Parameters", ""]
    params = prov.get("parameters") or {}
    if params:
        out.append(_table(["parameter", "value"], [[f"`{k}`", _code(v)] for k, v in params.items()]))
    else:
        out.append("No provenance record: parameters unknown.")

    versions = prov.get("versions") or {}
    sha = prov.get("git_sha")
    sha_text = (f"`{sha[:12]}`" if sha else "—") + (" (uncommitted changes)" if prov.get("git_dirty") else "")
    rows = [
        ["profile", f"`{profile}`"],
        ["git commit", sha_text],
        ["versions", ", ".join(f"{k} {_cell(v)}" for k, v in versions.items() if v) or "—"],
        ["device", _cell(prov.get("device") or "—")],
        ["seed", _code(prov.get("seed"))],
        ["wall time", _wall(prov.get("wall_seconds"))],
        ["run", f"{_cell(prov.get('start') or '—')} → {_cell(prov.get('end') or '—')}"],
        ["status", f"`{run.status}`"],
        ["cache key", f"`{(prov.get('cache_key') or '—')[:16]}`"],
    ]
    out += ["", "### Provenance", "", _table(["", "value"], rows)]

    source = prov.get("notebook") or f"notebooks/{fid}.ipynb"
    downloads = [f"{{download}}`executed notebook <../assets/{fid}/{fid}.ipynb>`"]
    downloads += [f"{{download}}`{n} <../assets/{fid}/{n}>`" for n in asset_names if n.endswith(".svg")]
    example = next(((k, v) for k, v in params.items() if k not in ("profile", "seed", "device")), None)
    cmd = ["# exactly this run", _exact_command(fid, profile, params), "# with another value of a parameter"]
    if example:
        cmd.append(f"gclib run {fid} --profile cpu -p {example[0]} {_shell_value(example[1])}")
    else:
        cmd.append(f"gclib run {fid} --profile cpu -p NAME VALUE")
    cmd += ["# every parameter, its default and its profile values", f"gclib params {fid}"]
    out += [
        "",
        "### Notebook and rerun",
        "",
        f"Source notebook: {_code_text(source)} in the repository. Downloads: " + ", ".join(downloads) + ".",
        "",
        "Rerun it (then `make book` to refresh this page):",
        "",
        "```sh",
        *cmd,
        "```",
        "",
    ]
    return "\n".join(out)


def _exact_command(fid: str, profile: str, params: dict) -> str:
    """``gclib run`` with the profile and, where the runner can resolve that profile, a ``-p`` for every
    parameter that differs from it (so the command reproduces exactly the parameters shown)."""
    prof = profile if profile in ("smoke", "cpu", "paper") else "smoke"
    cmd = f"gclib run {fid} --profile {prof}"
    try:
        from .runner import resolve_parameters

        base = resolve_parameters(fid, prof)
    except Exception:  # figure not in this checkout's notebooks/ (e.g. a fixture): profile only
        return cmd
    for k, v in params.items():
        if k == "profile" or base.get(k, object()) == v:
            continue
        cmd += f" --device {_shell_value(v)}" if k == "device" else f" -p {k} {_shell_value(v)}"
    return cmd


def _clean_outputs(nb: dict) -> bool:
    """Drop ipywidget state and views (they would load JavaScript from a CDN); True if any image output."""
    nb.get("metadata", {}).pop("widgets", None)
    has_images = False
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            data = out.get("data")
            if isinstance(data, dict):
                for mime in _WIDGET_MIMES:
                    data.pop(mime, None)
                if not data:
                    continue
                has_images = has_images or any(m.startswith("image/") for m in data)
            kept.append(out)
        cell["outputs"] = kept
    return has_images


def _figure_page(run: FigureRun, entry: dict, asset_names: list[str]) -> str:
    nb = json.loads(run.notebook.read_text(encoding="utf-8"))
    nb = copy.deepcopy(nb)
    has_images = _clean_outputs(nb)
    cells = nb.setdefault("cells", [])
    if _notebook_title(nb) is None:
        title = entry.get("title") or run.id
        cells.insert(
            0, {"cell_type": "markdown", "id": "gclib-book-title", "metadata": {}, "source": f"# {title}"}
        )
    record = {
        "cell_type": "markdown",
        "id": _RECORD_ID,
        "metadata": {"tags": [_RECORD_ID]},
        "source": _record_markdown(run, entry, has_images, asset_names),
    }
    cells.insert(1, record)
    if (nb.get("nbformat", 4), nb.get("nbformat_minor", 0)) < (4, 5):  # cell ids exist from nbformat 4.5
        for cell in cells[:2]:
            cell.pop("id", None)
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


# ----------------------------------------------------------------------------------------------- index pages
def _doc(fid: str, runs: dict[str, FigureRun], text: str | None = None) -> str:
    if fid in runs and runs[fid].notebook is not None:
        return f"{{doc}}`{text or fid} </{GENERATED}/pages/{fid}>`"
    return f"`{fid}` (not yet generated)"


def _scorecard_page(order: list[str], runs: dict, profiles: dict) -> str:
    rows, claims = [], []
    for fid in order:
        run = runs.get(fid)
        if run is None:
            continue
        for c in run.claims:
            claims.append(c)
            rows.append(
                [
                    _verdict(c),
                    _protocol(c),
                    f"`{c.get('claim_id', '?')}` {_cell(c.get('description', ''))}".strip(),
                    _doc(fid, runs),
                    _fmt(c.get("statistic")),
                    _ci(c.get("ci")),
                    _threshold(c),
                    f"`{run.profile}`",
                ]
            )
    tally = _tally(claims)
    out = [
        "# Reproduction scorecard",
        "",
        "Every claim checked by a figure notebook, generated from the `*.scorecard.json` files the "
        "runs wrote (never typed). Each claim's statistic and confidence interval are compared with a "
        "threshold fixed in advance in the design notes [ours]; ✓ means the threshold was met, ✗ that it "
        "was not — a claim that does not reproduce keeps its ✗ and the figure page shows what was seen.",
        "",
        "Protocol v1 is the design notes' first recipe for each claim. Where v1 gave ✗ because its "
        "experiment sat where the mechanism cannot act, a **protocol v2** (fixed on 2026-11-28, before any "
        "v2 run) adds checks beside the v1 ones and replaces none: v1 and v2 are counted apart, never "
        "summed. A value *reported* (—) is shown beside the checks with no pass bar.",
        "",
        "Figures `gc_*` reproduce Dherin et al. 2022, figures `gr_*` Teague 2022; the claim id starts with "
        "the paper's figure family.",
        "",
        f"**{len(claims)} claims** from {sum(1 for f in order if f in runs and runs[f].claims)} figures — "
        f"{_tally_text(tally, bold=True)}.",
        "",
    ]
    if rows:
        out.append(_table(["✓/✗", "protocol", "claim", "figure", "statistic", "CI", "threshold", "profile"],
                          rows, compact=True))
    else:
        out.append(
            "No scorecard has been generated yet: run `gclib run all --profile cpu`, then `make book`."
        )
    missing = [f for f in order if f not in runs or not runs[f].claims]
    if missing:
        out += ["", "Not yet generated (no scorecard): " + ", ".join(f"`{f}`" for f in missing) + "."]
    failed = [f for f in order if f in runs and runs[f].status not in ("success",)]
    if failed:
        out += ["", "Runs that did not finish: " + ", ".join(_doc(f, runs) for f in failed) + "."]
    return "\n".join(out) + "\n"


def _at_a_glance(order: list[str], runs: dict, profiles: dict) -> str:
    by_paper: dict[str, dict] = {}
    for fid in order:
        key = _paper(fid, profiles.get(fid, {}))
        row = by_paper.setdefault(key, {"figs": 0, "done": 0, "claims": [], "profiles": set()})
        row["figs"] += 1
        run = runs.get(fid)
        if run is not None and run.claims:
            row["done"] += 1
            row["claims"] += run.claims
            row["profiles"].add(run.profile)
    if len(by_paper) > 1:
        papers = list(by_paper.values())
        by_paper["**both papers**"] = {
            "figs": sum(v["figs"] for v in papers), "done": sum(v["done"] for v in papers),
            "claims": [c for v in papers for c in v["claims"]],
            "profiles": set().union(*(v["profiles"] for v in papers)), "bold": True}
    rows = []
    for key, v in by_paper.items():
        t, b = _tally(v["claims"]), "**" if v.get("bold") else ""
        rows.append([key if v.get("bold") else _cell(_paper_name(key)), f"{b}{v['done']} of {v['figs']}{b}",
                     *(f"{b}{n}{b}" for n in (*t["v1"], *t["v2"])),
                     ", ".join(f"`{p}`" for p in sorted(v["profiles"])) or "—"])
    out = [
        _table(["paper", "figures with a scorecard", "v1 claims ✓", "v1 claims ✗", "v2 claims ✓",
                "v2 claims ✗", "profile"], rows)
        if rows
        else "No figure has been generated yet.",
        "",
        "Protocol v2 (fixed 2026-11-28) adds checks where v1's experiment sat where the mechanism cannot "
        f"act; v1 and v2 are counted apart. Every claim with its statistic, CI and threshold: "
        f"{{doc}}`/{GENERATED}/scorecard`.",
    ]
    return "\n".join(out) + "\n"


def _family_table(order: list[str], runs: dict, profiles: dict) -> str:
    rows = []
    for fid in order:
        entry, run = profiles.get(fid, {}), runs.get(fid)
        outputs = "—"
        if run is not None and (run.pngs or run.svgs):
            outputs = ", ".join(
                f"{{download}}`{_short(p.name, fid)} </{GENERATED}/assets/{fid}/{p.name}>`"
                for p in run.pngs + run.svgs
            )
        claim = entry.get("claim") or entry.get("title") or (run.title if run is not None else None) or "—"
        rows.append(
            [
                _cell(entry.get("family", "—")),
                _cell(claim),
                f"`{fid}.ipynb`",
                _doc(fid, runs),
                outputs,
                _est_times(entry),
            ]
        )
    if not rows:
        return "No figure is listed in `notebooks/profiles.yaml` yet.\n"
    return _table(["family", "claim", "notebook", "page", "outputs", "est. time"], rows, compact=True) + "\n"


def notebooks_readme(profiles: dict | None = None) -> str:
    """The text of ``notebooks/README.md``: the figure family → notebook → claim table, from profiles.yaml
    (a test keeps the committed file equal to this; rewrite it with ``gclib list --readme``)."""
    profiles = load_profiles() if profiles is None else profiles
    rows = []
    for fid in _order(profiles, {}):
        entry = profiles[fid]
        claim = entry.get("claim") or entry.get("title") or "—"
        rows.append([_cell(entry.get("family", "—")), f"[`{fid}.ipynb`]({fid}.ipynb)",
                     _cell(_paper_name(_paper(fid, entry))), _cell(claim), f"`figures/{fid}*.png`, `.svg`",
                     _est_times(entry)])
    return "\n".join([
        "# Figure notebooks",
        "",
        "One notebook per figure family, each a reconstruction from the paper's text (its first cell says",
        "what is ours). Each runs at its own defaults (the smoke profile, committed with outputs for nbval)",
        "or at a profile from `profiles.yaml`: `gclib run <figure> --profile cpu` (`gclib params <figure>`).",
        "Figures go to `figures/` (or `$GCLIB_OUTPUT_DIR`) with a scorecard JSON; the runner adds",
        "provenance. Time: measured on the 2-core reference CPU (smoke, cpu), estimated on one GPU (paper).",
        "",
        "This file is generated from `profiles.yaml` by `gclib list --readme`.",
        "",
        _table(["family", "notebook", "paper", "claim", "outputs", "time smoke / cpu / paper"], rows),
        "",
    ])


def _short(name: str, fid: str) -> str:
    """``gc_l2_curves.png`` → ``curves.png`` (the figure id is already in the row)."""
    stem, dot, ext = name.rpartition(".")
    stem = stem[len(fid) :].lstrip("_-") if stem.startswith(fid) else stem
    return f"{stem or fid}{dot}{ext}"


def _gallery_page(order: list[str], runs: dict, profiles: dict, thumbs: dict[str, str]) -> str:
    done = sum(1 for f in order if f in runs and runs[f].notebook is not None)
    out = [
        "# Figure gallery",
        "",
        f"{done} of {len(order)} figures generated. Each card opens the figure's page: the executed notebook "
        "with its parameters, provenance and scorecard verdicts. Every figure is a *reconstruction from the "
        "paper's text* (see the theory pages for what is ours).",
        "",
    ]
    papers: dict[str, list[str]] = {}
    for fid in order:
        papers.setdefault(_paper(fid, profiles.get(fid, {})), []).append(fid)
    for key, fids in papers.items():
        out += [f"## {_cell(_paper_name(key))}", "", "::::{grid} 1 2 3 3", ":gutter: 3", ""]
        for fid in fids:
            entry, run = profiles.get(fid, {}), runs.get(fid)
            title = entry.get("title") or (run.title if run is not None else None) or fid
            family = entry.get("family")
            header = f"{family} · {fid}" if family else fid
            out.append(f":::{{grid-item-card}} {header}")
            if run is not None and run.notebook is not None:
                out += [f":link: /{GENERATED}/pages/{fid}", ":link-type: doc"]
                if fid in thumbs:
                    out += [f":img-top: {thumbs[fid]}", f":img-alt: thumbnail of {fid}"]
                tally = _tally_text(_tally(run.claims)) if run.claims else "no scorecard"
                foot = f"{tally} · `{run.profile}`" if run.claims else tally
                out += [f":footer: {foot}", "", _cell(title)]
            else:
                out += ["", _cell(title), "", f"*Not yet generated* — `gclib run {fid} --profile cpu`"]
            out += [":::", ""]
        out += ["::::", ""]
    if not order:
        out += ["No figure has been generated yet: run `gclib run all --profile cpu`, then `make book`.", ""]
    out += [
        "## Figure families, notebooks and outputs",
        "",
        "Generated from `notebooks/profiles.yaml`. Estimated time per profile, smoke / cpu / paper: "
        "measured on the 2-core reference CPU, or estimated on one GPU for the paper profile.",
        "",
        "```{include} include/family_table.md",
        "```",
        "",
    ]
    return "\n".join(out)


def _paper_times(order: list[str], runs: dict, profiles: dict) -> str:
    rows, total = [], 0.0
    for fid in order:
        entry = profiles.get(fid)
        if entry is None:
            continue
        est = (entry.get("est_seconds") or {}).get("paper")
        total += est if isinstance(est, (int, float)) else 0.0
        mem = entry.get("est_memory_gb")
        mem = mem.get("paper") if isinstance(mem, dict) else mem
        rows.append(
            [
                f"`{fid}`",
                _cell(entry.get("family", "—")),
                _cell(_paper_name(_paper(fid, entry))),
                _seconds(est),
                f"{mem:g} GB" if isinstance(mem, (int, float)) else "—",
                _cell(entry.get("title") or "—"),
            ]
        )
    if not rows:
        return "No figure is listed in `notebooks/profiles.yaml` yet.\n"
    rows.append(["**all**", "", "", f"**{_seconds(total)}**", "", ""])
    return (
        _table(["figure", "family", "paper", "est. time (paper, 1 GPU)", "est. GPU memory", "title"], rows)
        + "\n"
    )


def _cli_errors() -> str:
    """The text of ``gclib.cli.ERROR_TABLE`` (read from the source without importing, else imported)."""
    src = Path(__file__).with_name("cli.py")
    try:
        for node in ast.parse(src.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and any(
                getattr(t, "id", None) == "ERROR_TABLE" for t in node.targets
            ):
                value = ast.literal_eval(node.value)
                if isinstance(value, str):
                    return value.rstrip() + "\n"
    except (OSError, SyntaxError, ValueError):
        pass
    try:
        from .cli import ERROR_TABLE
    except ImportError:
        return "The command line's error table (`gclib.cli.ERROR_TABLE`) is not available in this build.\n"
    return str(ERROR_TABLE).rstrip() + "\n"


def _toc(book_dir: Path, fids: list[str]) -> str:
    template = book_dir / "_toc.yml"
    if not template.exists():
        raise BookBuildError(f"{template} is missing (the table-of-contents template)")
    toc = yaml.safe_load(template.read_text(encoding="utf-8"))
    gallery = f"{GENERATED}/gallery"
    found = []

    def visit(node):
        if isinstance(node, dict):
            if node.get("file") == gallery:
                found.append(node)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(toc)
    for entry in found[:1]:
        entry.pop("sections", None)
        if fids:
            entry["sections"] = [{"file": f"{GENERATED}/pages/{f}"} for f in fids]
    if not found:
        raise BookBuildError(f"{template}: no chapter '{gallery}' to hang the figure pages on")
    return "# Generated by gclib.bookgen from book/_toc.yml: do not edit.\n" + yaml.safe_dump(
        toc, sort_keys=False, allow_unicode=True
    )


# ----------------------------------------------------------------------------------------------- entry points
def generate_pages(
    book_dir: Path, figures_dir: Path, *, profiles: dict | str | os.PathLike | None = None
) -> list[Path]:
    """Write the generated part of the book into ``book_dir/_generated/`` from the runs in ``figures_dir``.

    Writes one page per figure with an executed notebook (``pages/<id>.ipynb``: the notebook with a
    reproduction-record cell after its first cell — claim, scorecard verdicts, parameters, provenance,
    downloads and the rerun command), copies of its PNG/SVG and notebook (``assets/<id>/``), ``scorecard.md``,
    ``gallery.md``, the includes ``include/{at_a_glance,family_table,paper_times,cli_errors}.md`` and
    ``_toc.yml`` (the template ``book_dir/_toc.yml`` plus the figure pages that exist). Files whose content
    is unchanged are not touched; files of figures that no longer exist are removed.

    Args:
        book_dir: the book source (holding ``_config.yml`` and the ``_toc.yml`` template).
        figures_dir: the runner's output directory (``DIR`` of ``gclib run FIGURE --out DIR``).
        profiles: ``notebooks/profiles.yaml`` content, or its path; default :func:`load_profiles`.
    Returns:
        The paths of every generated file, changed or not.
    """
    book_dir = Path(book_dir).resolve()
    if not (book_dir / "_config.yml").exists():
        raise BookBuildError(f"{book_dir} is not a book directory (no _config.yml)")
    prof = profiles if isinstance(profiles, dict) else load_profiles(profiles)
    runs = discover_figures(figures_dir)
    order = _order(prof, runs)
    w = _Writer(book_dir / GENERATED)

    thumbs: dict[str, str] = {}
    pages: list[str] = []
    for fid in order:
        run = runs.get(fid)
        if run is None:
            continue
        names = []
        for src in run.pngs + run.svgs:
            w.copy(f"assets/{fid}/{src.name}", src)
            names.append(src.name)
        thumb = _thumbnail(run)
        if thumb is not None:
            thumbs[fid] = f"assets/{fid}/{thumb.name}"
        if run.notebook is not None:
            w.copy(f"assets/{fid}/{fid}.ipynb", run.notebook)
            w.text(f"pages/{fid}.ipynb", _figure_page(run, prof.get(fid, {}), names))
            pages.append(fid)

    w.text("scorecard.md", _scorecard_page(order, runs, prof))
    w.text("gallery.md", _gallery_page(order, runs, prof, thumbs))
    w.text("include/at_a_glance.md", _at_a_glance(order, runs, prof))
    w.text("include/family_table.md", _family_table(order, runs, prof))
    w.text("include/paper_times.md", _paper_times(order, runs, prof))
    w.text("include/cli_errors.md", _cli_errors())
    w.text("_toc.yml", _toc(book_dir, pages))
    w.prune("pages", "assets", "include")
    return w.paths


def _mathjax_ok(book_dir: Path) -> bool:
    return (book_dir / "_static" / "mathjax" / "tex-mml-chtml.js").exists()


def build_book(
    book_dir: Path,
    figures_dir: Path | None = None,
    *,
    strict: bool = True,
    profiles: dict | str | os.PathLike | None = None,
) -> Path:
    """Generate the pages, then ``jupyter-book build [-W -n] --keep-going --toc _generated/_toc.yml``.

    Args:
        book_dir: the book source directory.
        figures_dir: the runner's output directory; default ``book_dir/_generated/figures``.
        strict: treat warnings as errors (``-W``) and check every reference (``-n``); the default.
        profiles: passed to :func:`generate_pages`.
    Returns:
        ``book_dir/_build/html``.
    Raises:
        BookBuildError: MathJax is not vendored (run ``bash book/vendor_mathjax.sh``), or the build exited
        non-zero (the message ends with the last lines of ``_build/build.log``).
    """
    book_dir = Path(book_dir).resolve()
    figures_dir = Path(figures_dir) if figures_dir is not None else book_dir / GENERATED / "figures"
    generate_pages(book_dir, figures_dir, profiles=profiles)
    if not _mathjax_ok(book_dir):
        raise BookBuildError(
            f"MathJax is not vendored in {book_dir / '_static' / 'mathjax'}: run "
            f"`bash {book_dir / 'vendor_mathjax.sh'}` (needs npm once), or `make book`"
        )
    cmd = [
        sys.executable,
        "-c",
        _JB_MAIN,
        "build",
        str(book_dir),
        "--toc",
        str(book_dir / GENERATED / "_toc.yml"),
        "--keep-going",
    ] + (["-W", "-n"] if strict else [])
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("FORCE_COLOR", None)
    proc = subprocess.run(cmd, cwd=book_dir, capture_output=True, text=True, env=env)
    proc.stdout, proc.stderr = _ANSI.sub("", proc.stdout), _ANSI.sub("", proc.stderr)
    log = book_dir / "_build" / "build.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"$ {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}", encoding="utf-8")
    html = book_dir / "_build" / "html"
    if proc.returncode != 0 or not (html / "index.html").exists():
        tail = "\n".join((proc.stdout + "\n" + proc.stderr).strip().splitlines()[-40:])
        raise BookBuildError(f"jupyter-book build exited with status {proc.returncode} (log: {log}):\n{tail}")
    return html
