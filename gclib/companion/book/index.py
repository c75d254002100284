"""The book's index pages, generated from the runs (never typed): the reproduction scorecard, the landing
page's at-a-glance table, the gallery, the figure-family table, the paper-profile times, the command
line's error table, and ``notebooks/README.md``. [ours]
"""
from __future__ import annotations

from gclib.companion.book.runs import (
    GENERATED,
    FigureRun,
    figure_order,
    load_profiles,
    paper_name,
    paper_of,
)
from gclib.companion.errors import ERROR_TABLE
from gclib.companion.format import (
    OVER_BUDGET_NOTE,
    est_times,
    md_cell,
    md_table,
    seconds,
)
from gclib.companion.kernel.judge.verdicts import tally, tally_text

__all__ = ["family_table", "gallery_page", "paper_times", "notebooks_readme", "error_table_markdown",
           "paper_results_table"]


def doc_link(fid: str, runs: dict[str, FigureRun], text: str | None = None) -> str:
    if fid in runs and runs[fid].notebook is not None:
        return f"{{doc}}`{text or fid} </{GENERATED}/pages/{fid}>`"
    return f"`{fid}` (not yet generated)"


def family_table(order: list[str], runs: dict, profiles: dict) -> str:
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
                md_cell(entry.get("family", "—")),
                md_cell(claim),
                f"`{fid}.ipynb`",
                doc_link(fid, runs),
                outputs,
                est_times(entry),
            ]
        )
    if not rows:
        return "No figure is listed in `notebooks/profiles.yaml` yet.\n"
    header = ["family", "claim", "notebook", "page", "outputs", "est. time"]
    return md_table(header, rows, compact=True) + "\n"


def notebooks_readme(profiles: dict | None = None) -> str:
    """The text of ``notebooks/README.md``: the figure family → notebook → claim table, from profiles.yaml
    (a test keeps the committed file equal to this; rewrite it with ``gclib list --readme``)."""
    profiles = load_profiles() if profiles is None else profiles
    rows = []
    for fid in figure_order(profiles, {}):
        entry = profiles[fid]
        claim = entry.get("claim") or entry.get("title") or "—"
        rows.append([md_cell(entry.get("family", "—")), f"[`{fid}.ipynb`]({fid}.ipynb)",
                     md_cell(paper_name(paper_of(fid, entry))), md_cell(claim),
                     f"`figures/{fid}*.png`, `.svg`", est_times(entry)])
    return "\n".join([
        "# Figure notebooks",
        "",
        "One notebook per figure family, each a reconstruction from the paper's text (its first cell says",
        "what is ours). Each runs at its own defaults (the smoke profile, committed with outputs for nbval)",
        "or at a profile from `profiles.yaml`: `gclib run <figure> --profile cpu` (`gclib params <figure>`).",
        "Figures go to `figures/` (or `$GCLIB_OUTPUT_DIR`) with a scorecard JSON; the runner adds",
        "provenance. Time: measured on the 2-core reference CPU (smoke, cpu), estimated on one GPU (paper);",
        OVER_BUDGET_NOTE,
        "",
        "This file is generated from `profiles.yaml` by `gclib list --readme`.",
        "",
        md_table(["family", "notebook", "paper", "claim", "outputs", "time smoke / cpu / paper"], rows),
        "",
    ])


def _short(name: str, fid: str) -> str:
    """``gc_l2_curves.png`` → ``curves.png`` (the figure id is already in the row)."""
    stem, dot, ext = name.rpartition(".")
    stem = stem[len(fid) :].lstrip("_-") if stem.startswith(fid) else stem
    return f"{stem or fid}{dot}{ext}"


def gallery_page(order: list[str], runs: dict, profiles: dict, thumbs: dict[str, str]) -> str:
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
        papers.setdefault(paper_of(fid, profiles.get(fid, {})), []).append(fid)
    for key, fids in papers.items():
        out += [f"## {md_cell(paper_name(key))}", "", "::::{grid} 1 2 3 3", ":gutter: 3", ""]
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
                summary = tally_text(tally(run.claims)) if run.claims else "no scorecard"
                foot = f"{summary} · `{run.profile}`" if run.claims else summary
                out += [f":footer: {foot}", "", md_cell(title)]
            else:
                out += ["", md_cell(title), "", f"*Not yet generated* — `gclib run {fid} --profile cpu`"]
            out += [":::", ""]
        out += ["::::", ""]
    if not order:
        out += ["No figure has been generated yet: run `gclib run all --profile cpu`, then `make book`.", ""]
    out += [
        "## Figure families, notebooks and outputs",
        "",
        "Generated from `notebooks/profiles.yaml`. Estimated time per profile, smoke / cpu / paper: "
        "measured on the 2-core reference CPU, or estimated on one GPU for the paper profile; "
        + OVER_BUDGET_NOTE,
        "",
        "```{include} include/family_table.md",
        "```",
        "",
    ]
    return "\n".join(out)


def paper_times(order: list[str], runs: dict, profiles: dict) -> str:
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
                md_cell(entry.get("family", "—")),
                md_cell(paper_name(paper_of(fid, entry))),
                seconds(est),
                f"{mem:g} GB" if isinstance(mem, (int, float)) else "—",
                md_cell(entry.get("title") or "—"),
            ]
        )
    if not rows:
        return "No figure is listed in `notebooks/profiles.yaml` yet.\n"
    rows.append(["**all**", "", "", f"**{seconds(total)}**", "", ""])
    return (
        md_table(["figure", "family", "paper", "est. time (paper, 1 GPU)", "est. GPU memory", "title"], rows)
        + "\n"
    )


def error_table_markdown() -> str:
    """The command line's error table (``gclib.companion.errors.ERROR_TABLE``), for the book's include."""
    return ERROR_TABLE.rstrip() + "\n"


def paper_results_table(order: list[str], profiles: dict, paper: dict) -> str:
    """Every figure at the paper profile: its committed result (where the CPU reaches it: device, date, wall
    time, verdicts, current or stale) or what it needs (the GPU estimate and the rough CPU estimate)."""
    rows = []
    for fid in order:
        entry, p = profiles.get(fid, {}), paper.get(fid)
        gpu = seconds((entry.get("est_seconds") or {}).get("paper"))
        if p is not None:
            prov = p.status.provenance
            state = "current" if p.current else ("**stale**" if p.status.stale else f"`{prov.get('status')}`")
            rows.append([f"`{fid}`", f"committed ({state})", md_cell(prov.get("device") or "—"),
                         (prov.get("start") or "—")[:10], seconds(prov.get("wall_seconds")),
                         tally_text(tally(p.run.claims)) if p.current else "not counted", gpu])
        else:
            mins = (entry.get("paper_cpu") or {}).get("est_minutes")
            cpu = f"≈ {seconds(60 * mins)} (rough)" if isinstance(mins, (int, float)) else "—"
            rows.append([f"`{fid}`", "needs a GPU", "—", "—", cpu, "—", gpu])
    if not rows:
        return "No figure is listed in `notebooks/profiles.yaml` yet.\n"
    return md_table(["figure", "paper-profile result", "device", "date", "wall time (CPU)", "verdicts",
                     "est. on one GPU"], rows, compact=True) + "\n"
