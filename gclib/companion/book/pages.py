"""The figure pages: each executed notebook with a reproduction-record cell after its first cell — claim,
scorecard verdicts, parameters, provenance, downloads and the command that reruns it. [ours]
"""
from __future__ import annotations

import copy
import json

from gclib.companion.book.forest import CAPTION as FOREST_CAPTION
from gclib.companion.book.paper import cpu_section, paper_section
from gclib.companion.book.runs import FigureRun, notebook_title, paper_name, paper_of
from gclib.companion.book.scorecard import claim_anchor, claim_details, claim_ref, forest_html
from gclib.companion.book.strength import interval_short
from gclib.companion.errors import ParameterError
from gclib.companion.figures.check import parameter_ranges
from gclib.companion.figures.resolve import resolve_parameters
from gclib.companion.format import (
    code_span,
    fmt_ci,
    fmt_number,
    fmt_threshold,
    md_cell,
    md_code,
    md_table,
    shell_value,
    wall,
)
from gclib.companion.kernel.judge.verdicts import tally, tally_text, verdict

__all__ = ["figure_page", "exact_command", "parameters_table"]

RECORD_ID = "gclib-book-record"
_WIDGET_MIMES = ("application/vnd.jupyter.widget-view+json", "application/vnd.jupyter.widget-state+json")


def _header(run: FigureRun, entry: dict, profile: str, has_images: bool, asset_names: list[str]) -> list[str]:
    """The claim, the GPU note (paper profile or CUDA), a warning when the run did not finish, the tally and,
    when the executed notebook holds no image, the saved PNGs."""
    prov, fid = run.provenance or {}, run.id
    out = ["## Reproduction record", ""]
    if entry.get("claim"):
        source = f"{md_cell(paper_name(paper_of(fid, entry)))}, family {md_cell(entry.get('family', '—'))}"
        out += [f"**Claim** ({source}): {md_cell(entry['claim'])}", ""]
    device = str((prov.get("parameters") or {}).get("device") or prov.get("device") or "")
    if profile == "paper" or device.startswith("cuda"):  # the one GPU note, shared with the GPU how-to
        out += ["```{include} ../../_includes/gpu_admonition.md", "```", ""]
    if run.status != "success":
        error = f" — {md_cell(prov['error'])}" if prov.get("error") else ""
        out += [":::{warning}", f"This run did not finish: status `{run.status}`{error}.", ":::", ""]
    if run.claims:
        out += [f"**Scorecard** ({profile} profile): {tally_text(tally(run.claims))}.", ""]
    if not has_images and run.pngs:
        for name in (n for n in asset_names if n.endswith(".png")):
            out += [f"```{{figure}} ../assets/{fid}/{name}", f":alt: {fid} figure {name}", "```", ""]
    return out


def _verdicts(run: FigureRun, paper=None, forest_alt: str = "") -> list[str]:
    """The claims of this run: the forest plot, a short table (a claim's id opens its details), and per
    claim a dropdown with everything else — description, interval, trend test, per-block ρ, the paper
    profile's value — linked to and from the scorecard page."""
    if not run.claims:
        return ["### Scorecard verdicts", "", "No scorecard was written for this run."]
    fid = run.id
    theirs = {c.get("claim_id"): c for c in paper.run.claims} if paper is not None and paper.current else {}
    rows, details = [], []
    for c in run.claims:
        cid = c.get("claim_id", "?")
        rows.append([claim_ref(cid, "figure"), verdict(c),
                     fmt_number(c.get("statistic")), interval_short(c) or fmt_ci(c.get("ci")),
                     md_cell(fmt_threshold(c))])
        back = f"On the scorecard page: {claim_ref(cid, 'scorecard')}"
        details += [f":::{{dropdown}} {verdict(c)} "
                    f"{md_cell(cid)}", f":name: {claim_anchor(cid, 'figure')}", "",
                    *claim_details(c, other=theirs.get(cid), back=back, holm=False), ":::", ""]
    return ["### Scorecard verdicts", "", *forest_html(fid, forest_alt, "../../"), FOREST_CAPTION, "",
            md_table(["claim", "verdict", "statistic", "interval", "threshold"], rows, compact=True), "",
            "A claim's id opens its details: what it measures, its protocol, its interval and, for an "
            "ordered-grid claim, Page's L test for a trend in the claimed direction with seeds (or targets, "
            "or draws) as blocks — a run that did not reach the target loss leaves its seed's block out — "
            "with the smallest p its design allows, and the Spearman ρ of every block. Below 5 blocks the "
            "interval is the range over blocks, not a bootstrap interval. The ✓/✗ is the pre-registered "
            "verdict and does not depend on these.", "", *details]


def parameters_table(params: dict, figure: str | None = None) -> list[str]:
    if not params:
        return ["### Parameters", "", "No provenance record: parameters unknown."]
    try:
        ranges = parameter_ranges(figure) if figure else {}
    except ParameterError:  # a figure not in this checkout's notebooks/ (e.g. a fixture): no ranges
        ranges = {}
    rows = [[f"`{k}`", md_code(v), code_span(ranges[k].replace("|", "\\|")) if k in ranges else "—"]
            for k, v in params.items()]
    return ["### Parameters", "", md_table(["parameter", "value", "range"], rows)]


def _provenance(run: FigureRun, profile: str) -> list[str]:
    prov = run.provenance or {}
    versions, sha = prov.get("versions") or {}, prov.get("git_sha")
    dirty = prov.get("git_dirty_files")
    sha_text = (f"`{sha[:12]}`" if sha else "—") + (
        (" (uncommitted changes to its code: " + ", ".join(code_span(f) for f in dirty) + ")" if dirty
         else " (uncommitted changes)") if prov.get("git_dirty") else "")
    rows = [
        ["profile", f"`{profile}`"],
        ["git commit", sha_text],
        ["versions", ", ".join(f"{k} {md_cell(v)}" for k, v in versions.items() if v) or "—"],
        ["device", md_cell(prov.get("device") or "—")],
        ["kernel threads", md_code(prov.get("threads"))],
        ["seed", md_code(prov.get("seed"))],
        ["wall time", wall(prov.get("wall_seconds"))],
        ["run", f"{md_cell(prov.get('start') or '—')} → {md_cell(prov.get('end') or '—')}"],
        ["status", f"`{run.status}`"],
        ["cache key", f"`{(prov.get('cache_key') or '—')[:16]}`"],
    ]
    return ["### Provenance", "", md_table(["", "value"], rows)]


def _rerun(run: FigureRun, profile: str, params: dict, asset_names: list[str]) -> list[str]:
    prov, fid = run.provenance or {}, run.id
    source = prov.get("notebook") or f"notebooks/{fid}.ipynb"
    downloads = [f"{{download}}`executed notebook <../assets/{fid}/{fid}.ipynb>`"]
    downloads += [f"{{download}}`{n} <../assets/{fid}/{n}>`" for n in asset_names if n.endswith(".svg")]
    example = next(((k, v) for k, v in params.items() if k not in ("profile", "seed", "device")), None)
    other = f"-p {example[0]} {shell_value(example[1])}" if example else "-p NAME VALUE"
    cmd = ["# exactly this run", exact_command(fid, profile, params), "# with another value of a parameter",
           f"gclib run {fid} --profile cpu {other}", "# every parameter, its default and its profile values",
           f"gclib params {fid}"]
    files = f"Source notebook: {code_span(source)} in the repository. Downloads: {', '.join(downloads)}."
    return ["### Notebook and rerun", "", files,
            "", "Rerun it (then `make book` to refresh this page):", "", "```sh", *cmd, "```", ""]


def _record_markdown(run: FigureRun, entry: dict, has_images: bool, asset_names: list[str],
                     paper=None, forest_alt: str = "", cpu=None) -> str:
    """The reproduction-record cell: header, verdicts, the paper-scale result (or what it needs),
    parameters, provenance, rerun — one section each."""
    prov = run.provenance or {}
    profile = prov.get("profile") or run.profile
    params = prov.get("parameters") or {}
    at_paper = [] if profile == "paper" else paper_section(run.id, entry, run, paper, profile,
                                                           f"../assets/{run.id}/paper")
    sections = (_header(run, entry, profile, has_images, asset_names), _verdicts(run, paper, forest_alt),
                cpu_section(run.id, cpu), at_paper,
                parameters_table(params, run.id), _provenance(run, profile),
                _rerun(run, profile, params, asset_names))
    return "\n".join(line for i, part in enumerate(sections) if part
                     for line in (([""] if i > 1 else []) + part))


def exact_command(fid: str, profile: str, params: dict) -> str:
    """``gclib run`` with the profile and, where the runner can resolve that profile, a ``-p`` for every
    parameter that differs from it (so the command reproduces exactly the parameters shown)."""
    prof = profile if profile in ("smoke", "cpu", "paper") else "smoke"
    cmd = f"gclib run {fid} --profile {prof}"
    try:
        base = resolve_parameters(fid, prof)
    except ParameterError:  # figure not in this checkout's notebooks/ (e.g. a fixture): profile only
        return cmd
    for k, v in params.items():
        if k == "profile" or base.get(k, object()) == v:
            continue
        cmd += f" --device {shell_value(v)}" if k == "device" else f" -p {k} {shell_value(v)}"
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


def figure_page(run: FigureRun, entry: dict, asset_names: list[str], paper=None, forest_alt: str = "",
                cpu=None) -> str:
    """The figure's page: its executed notebook with the reproduction record after the first cell;
    ``paper``: its committed paper-scale result (``gclib.companion.book.paper.PaperResult``), if any; ``cpu``:
    its committed cpu-profile record, whose discussion the page shows; ``forest_alt``: its forest plot's alt
    text."""
    nb = json.loads(run.notebook.read_text(encoding="utf-8"))
    nb = copy.deepcopy(nb)
    has_images = _clean_outputs(nb)
    cells = nb.setdefault("cells", [])
    if notebook_title(nb) is None:
        title = entry.get("title") or run.id
        cells.insert(
            0, {"cell_type": "markdown", "id": "gclib-book-title", "metadata": {}, "source": f"# {title}"}
        )
    record = {
        "cell_type": "markdown",
        "id": RECORD_ID,
        "metadata": {"tags": [RECORD_ID]},
        "source": _record_markdown(run, entry, has_images, asset_names, paper, forest_alt, cpu),
    }
    cells.insert(1, record)
    if (nb.get("nbformat", 4), nb.get("nbformat_minor", 0)) < (4, 5):  # cell ids exist from nbformat 4.5
        for cell in cells[:2]:
            cell.pop("id", None)
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
