"""The book's index pages, generated from the runs (never typed): the reproduction scorecard, the landing
page's at-a-glance table, the gallery, the figure-family table, the paper-profile times, the command
line's error table, and ``notebooks/README.md``. [ours]
"""
from __future__ import annotations

from gclib.companion.book.paper import claim_cell, paper_claims
from gclib.companion.book.runs import (
    GENERATED,
    FigureRun,
    figure_order,
    load_profiles,
    paper_name,
    paper_of,
)
from gclib.companion.book.strength import (
    holm_column,
    holm_sentence,
    interval_text,
    page_of,
    trend_text,
)
from gclib.companion.errors import ERROR_TABLE
from gclib.companion.format import (
    OVER_BUDGET_NOTE,
    est_times,
    fmt_ci,
    fmt_number,
    fmt_p,
    fmt_threshold,
    md_cell,
    md_table,
    seconds,
)
from gclib.companion.kernel.judge.verdicts import protocol_of, tally, tally_text, verdict

__all__ = ["scorecard_page", "at_a_glance", "family_table", "gallery_page", "paper_times", "notebooks_readme",
           "error_table_markdown", "paper_results_table"]


def doc_link(fid: str, runs: dict[str, FigureRun], text: str | None = None) -> str:
    if fid in runs and runs[fid].notebook is not None:
        return f"{{doc}}`{text or fid} </{GENERATED}/pages/{fid}>`"
    return f"`{fid}` (not yet generated)"


def scorecard_page(order: list[str], runs: dict, profiles: dict, paper: dict | None = None) -> str:
    """Every claim of the book's runs, with a column for the committed paper-profile result of the same
    claim (``paper``: figure id → ``PaperResult``; stale ones are marked and never counted)."""
    paper = paper or {}
    rows, claims = [], []
    holm_p, sentences = {}, []  # Holm across each paper's trend claims at the book's profile
    for key in dict.fromkeys(paper_of(f, profiles.get(f, {})) for f in order):
        mine = [c for f in order if f in runs and paper_of(f, profiles.get(f, {})) == key
                for c in runs[f].claims]
        holm_p.update({id(mine[i]): p for i, p in holm_column(mine).items()})
        if any(page_of(c) for c in mine):
            sentences.append(holm_sentence(paper_name(key), mine))
    for fid in order:
        run = runs.get(fid)
        if run is None:
            continue
        theirs = {c.get("claim_id"): c for c in paper[fid].run.claims} if fid in paper else {}
        stale = fid in paper and not paper[fid].current
        for c in run.claims:
            claims.append(c)
            cid = c.get("claim_id")
            at_paper = "stale" if stale and cid in theirs else claim_cell(theirs.get(cid))
            rows.append(
                [
                    verdict(c),
                    protocol_of(c),
                    f"`{c.get('claim_id', '?')}` {md_cell(c.get('description', ''))}".strip(),
                    doc_link(fid, runs),
                    fmt_number(c.get("statistic")),
                    interval_text(c) or fmt_ci(c.get("ci")),
                    fmt_threshold(c),
                    f"`{run.profile}`",
                    trend_text(c),
                    fmt_p(holm_p.get(id(c))),
                    at_paper,
                ]
            )
    counts = tally(claims)
    current = {f: p for f, p in paper.items() if p.current}
    stale_ids = sorted(f for f, p in paper.items() if not p.current)
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
        "summed. A value shown as *context* (—) stands beside the checks with no verdict.",
        "",
        "Figures `gc_*` reproduce Dherin et al. 2022, figures `gr_*` Teague 2022; the claim id starts with "
        "the paper's figure family.",
        "",
        f"**{len(claims)} claims** from {sum(1 for f in order if f in runs and runs[f].claims)} figures — "
        f"{tally_text(counts, bold=True)}.",
        "",
        f"**At the paper profile** (committed results in `results/paper/`, the last column): "
        f"{len(paper_claims(current))} claims from {len(current)} figures — "
        f"{tally_text(tally(paper_claims(current)), bold=True)}"
        + (f"; stale, not counted: {', '.join(f'`{f}`' for f in stale_ids)}" if stale_ids else "")
        + ". The other figures need a GPU (their pages say how long, and the command).",
        "",
    ]
    if rows:
        out += ["**How strong each verdict is** (statistics fixed 2026-12-03 beside the verdicts, "
                "changing none): for every ordered-grid claim, Page's L test for a trend in the claimed "
                "direction with seeds as blocks, its p and the smallest p its design allows; the "
                "Holm-adjusted p across each paper's trend claims at this profile is the next column. "
                "Intervals from fewer than 5 seeds are shown as the range over seeds.", ""]
        out += [s for s in sentences for s in (s, "")]
        out.append(md_table(["✓/✗", "protocol", "claim", "figure", "statistic", "CI", "threshold", "profile",
                             "trend test (Page)", "Holm p", "paper profile"], rows, compact=True))
    else:
        out.append(
            "No scorecard has been generated yet: run `gclib run all --profile cpu`, then `make book`."
        )
    missing = [f for f in order if f not in runs or not runs[f].claims]
    if missing:
        out += ["", "Not yet generated (no scorecard): " + ", ".join(f"`{f}`" for f in missing) + "."]
    failed = [f for f in order if f in runs and runs[f].status not in ("success",)]
    if failed:
        out += ["", "Runs that did not finish: " + ", ".join(doc_link(f, runs) for f in failed) + "."]
    return "\n".join(out) + "\n"


def at_a_glance(order: list[str], runs: dict, profiles: dict, paper: dict | None = None) -> str:
    """Per paper: the figures with a scorecard and the claims ✓/✗ per protocol at the book's profile, then the
    same at the paper profile from the committed results (stale ones never counted)."""
    paper = paper or {}
    by_paper: dict[str, dict] = {}
    for fid in order:
        key = paper_of(fid, profiles.get(fid, {}))
        row = by_paper.setdefault(key, {"figs": 0, "done": 0, "claims": [], "profiles": set(), "pdone": 0,
                                        "pclaims": []})
        row["figs"] += 1
        if fid in paper and paper[fid].current:
            row["pdone"] += 1
            row["pclaims"] += paper[fid].run.claims
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
            "profiles": set().union(*(v["profiles"] for v in papers)), "bold": True,
            "pdone": sum(v["pdone"] for v in papers), "pclaims": [c for v in papers for c in v["pclaims"]]}
    rows = []
    for key, v in by_paper.items():
        t, pt, b = tally(v["claims"]), tally(v["pclaims"]), "**" if v.get("bold") else ""
        rows.append([key if v.get("bold") else md_cell(paper_name(key)), f"{b}{v['done']} of {v['figs']}{b}",
                     *(f"{b}{n}{b}" for n in (*t["v1"], *t["v2"])),
                     ", ".join(f"`{p}`" for p in sorted(v["profiles"])) or "—",
                     f"{b}{v['pdone']} of {v['figs']}{b}", *(f"{b}{n}{b}" for n in (*pt["v1"], *pt["v2"]))])
    stale = sorted(f for f, p in paper.items() if not p.current)
    out = [
        md_table(["paper", "figures with a scorecard", "v1 claims ✓", "v1 claims ✗", "v2 claims ✓",
                "v2 claims ✗", "profile", "paper profile: figures", "v1 ✓", "v1 ✗", "v2 ✓", "v2 ✗"], rows)
        if rows
        else "No figure has been generated yet.",
        "",
        "Protocol v2 (fixed 2026-11-28) adds checks where v1's experiment sat where the mechanism cannot "
        f"act; v1 and v2 are counted apart. Every claim with its statistic, CI and threshold: "
        f"{{doc}}`/{GENERATED}/scorecard`.",
        "",
        "The paper-profile columns count the committed results in `results/paper/` (the figures whose paper "
        "profile runs on the 2-core reference CPU; the others need a GPU)"
        + (f"; stale results are not counted: {', '.join(f'`{f}`' for f in stale)}" if stale else "") + ".",
    ]
    return "\n".join(out) + "\n"


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
