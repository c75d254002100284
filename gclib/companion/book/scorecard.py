"""The reproduction scorecard a reader takes in at a glance: the forest plot of every claim, one short table
(claim, verdict per profile, statistic, Page's p, Holm's p), every detail of a claim one click away in its
dropdown, and the data behind it as CSV and JSON per profile; and the landing page's tally. Generated from
the scorecard JSON of the runs (never typed). [ours]
"""
from __future__ import annotations

import csv
import io
import json
import re

from gclib.companion.book.index import doc_link
from gclib.companion.book.paper import claim_cell, paper_claims
from gclib.companion.book.runs import GENERATED, paper_name, paper_of
from gclib.companion.book.strength import (
    holm_column,
    holm_sentence,
    interval_text,
    mc_interval_text,
    page_of,
    per_seed_text,
    trend_text,
)
from gclib.companion.format import fmt_ci, fmt_number, fmt_p, fmt_threshold, md_cell, md_table
from gclib.companion.kernel.judge.verdicts import protocol_of, tally, tally_text, verdict

__all__ = ["claim_anchor", "claim_ref", "scorecard_page", "claim_details", "forest_html", "at_a_glance",
           "scorecard_rows", "rows_csv", "COLUMNS", "EXTRA"]

#: the folder Sphinx copies as is into the built book (``html_extra_path``): forest plots and data files
EXTRA = "extra"
#: the columns of the downloadable scorecard, in order, with what each holds
COLUMNS = {
    "figure": "figure id (its notebook and page)", "claim_id": "the claim's id (paper family first)",
    "protocol": "v1, v2 (fixed 2026-11-28) or post-hoc (added after the runs, not pre-registered)",
    "profile": "the profile of the run that judged it", "verdict": "✓, ✗, n/a (not judged) or — (context)",
    "statistic": "the claim's statistic", "ci_lo": "its confidence interval, low", "ci_hi": "high",
    "direction": "how the statistic meets the threshold (<=, <, >=, >, in)", "threshold": "the threshold "
    "fixed in advance (two values for 'in')", "interval": "the interval or range over blocks as the page "
    "shows it", "page_L": "Page's L", "page_p": "Page's one-sided p", "page_method": "exact or asymptotic",
    "page_blocks": "blocks used (n)", "page_block_unit": "what a block is (seeds, targets, draws)",
    "page_grid": "grid values used (k)", "page_floor": "the smallest p the method allows",
    "holm_p": "Holm-adjusted p across the paper's trend claims at this profile",
    "reason": "why a claim was not judged", "description": "what the statistic is"}


def claim_ref(claim_id: str, where: str, text: str | None = None) -> str:
    """A MyST ``{ref}`` to a claim's dropdown (``where``: "figure" or "scorecard"), its text the claim id as
    it is (a role's text is not Markdown: nothing is escaped, only what would end the role is replaced)."""
    shown = str(text if text is not None else claim_id)
    for a, b in (("`", "'"), ("<", "‹"), (">", "›"), ("|", "¦")):
        shown = shown.replace(a, b)
    return f"{{ref}}`{shown} <{claim_anchor(claim_id, where)}>`"


def claim_anchor(claim_id: str, where: str) -> str:
    """The reference name of a claim's dropdown: on its figure page (``where="figure"``) or on the
    scorecard page (``where="scorecard"``)."""
    return f"{where}-claim-" + re.sub(r"[^a-z0-9]+", "-", str(claim_id).lower()).strip("-")


def _holm(groups) -> dict[int, float | None]:
    """Holm-adjusted p per claim (by ``id()``), within each paper's trend claims."""
    out = {}
    for claims in groups:
        out.update({id(claims[i]): p for i, p in holm_column(claims).items()})
    return out


def _by_paper(order, runs, profiles) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for fid in order:
        if fid in runs:
            out.setdefault(paper_of(fid, profiles.get(fid, {})), []).extend(runs[fid].claims)
    return out


def scorecard_rows(order, runs, profiles, profile_name: str) -> list[dict]:
    """One flat record per claim of ``runs`` (the COLUMNS), for the downloads."""
    holm = _holm(_by_paper(order, runs, profiles).values())
    rows = []
    for fid in order:
        if fid not in runs:
            continue
        for c in runs[fid].claims:
            page, ci, thr = page_of(c) or {}, c.get("ci") or [None, None], c.get("threshold")
            rows.append({"figure": fid, "claim_id": c.get("claim_id"), "protocol": protocol_of(c),
                         "profile": profile_name, "verdict": verdict(c), "statistic": c.get("statistic"),
                         "ci_lo": ci[0], "ci_hi": ci[1], "direction": c.get("direction"),
                         "threshold": json.dumps(thr) if isinstance(thr, (list, tuple)) else thr,
                         "interval": interval_text(c) or "", "page_L": page.get("L"), "page_p": page.get("p"),
                         "page_method": page.get("method"), "page_blocks": page.get("n"),
                         "page_block_unit": page.get("block_unit"), "page_grid": page.get("k"),
                         "page_floor": page.get("p_min"), "holm_p": holm.get(id(c)),
                         "reason": c.get("reason") or "", "description": c.get("description") or ""})
    return rows


def rows_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def claim_details(c: dict, *, holm_p=None, other: dict | None = None, other_name: str = "paper",
                  back: str | None = None, holm: bool = True) -> list[str]:
    """The lines inside a claim's dropdown: everything the short table leaves out."""
    lines = [f"**Claim.** {md_cell(c.get('description') or '—')}", "",
             f"**Verdict** {verdict(c)} · **protocol** {protocol_of(c)} · **threshold** "
             f"{md_cell(fmt_threshold(c))}"
             f" · **statistic** {fmt_number(c.get('statistic'))}", ""]
    if c.get("reason"):
        lines += [f"**Not judged:** {md_cell(c['reason'])}.", ""]
    iv, mc = interval_text(c), mc_interval_text(c)
    if iv or c.get("ci"):
        lines += [f"**Interval:** {iv or fmt_ci(c.get('ci'))}", ""]
    if mc:
        lines += [f"**Resampling interval of the verdict:** {mc}", ""]
    if page_of(c):
        lines += [f"**Trend test (Page's L, one-sided):** {trend_text(c)}", "",
                  f"**Per-block ρ:** {per_seed_text(c)}", ""]
        if holm:
            lines += [f"**Holm-adjusted p** (across the paper's trend claims): {fmt_p(holm_p)}", ""]
    if other is not None:
        lines += [f"**At the {other_name} profile:** {claim_cell(other)}"
                  + (f"; trend test {trend_text(other)}" if page_of(other) else ""), ""]
    if back:
        lines += [back, ""]
    return lines


def forest_html(stem: str, alt: str, depth: str) -> list[str]:
    """The forest plot ``extra/forest/<stem>``: the SVG with its PNG as the fallback and ``alt`` as its
    text, from a page ``depth`` ("../", "../../") below the book's root."""
    return ['<figure class="gclib-forest">', "<picture>",
            f'<source srcset="{depth}{EXTRA}/forest/{stem}.svg" type="image/svg+xml">',
            f'<img src="{depth}{EXTRA}/forest/{stem}.png" alt="{alt}">', "</picture>",
            "</figure>", ""]


def scorecard_page(order, runs, profiles, paper=None, *, forest_alt: str = "", book_profile: str = "cpu",
                   caption: str = "") -> str:
    """The scorecard page: tallies, the forest plot, one short table, the claims' dropdowns, downloads."""
    paper = paper or {}
    holm = _holm(_by_paper(order, runs, profiles).values())
    claims = [c for f in order if f in runs for c in runs[f].claims]
    current = {f: p for f, p in paper.items() if p.current}
    stale = sorted(f for f, p in paper.items() if not p.current)
    n_figures = sum(1 for f in order if f in runs and runs[f].claims)
    out = ["# Reproduction scorecard", "",
           "Every claim checked by a figure notebook, generated from the `*.scorecard.json` files the runs "
           "wrote (never typed). Each claim's statistic and confidence interval are compared with a "
           "threshold fixed in advance in the design notes [ours]; ✓ means the threshold was met, ✗ that it "
           "was not — a claim that does not reproduce keeps its ✗ and the figure page shows what was seen. "
           "n/a: the claim could not be judged at that setting (every run diverged, or too few "
           "grid values).", "",
           "Protocol v1 is the design notes' first recipe for each claim. Where v1 gave ✗ because its "
           "experiment sat where the mechanism cannot act, a **protocol v2** (fixed on 2026-11-28, before "
           "any v2 run) adds checks beside the v1 ones and replaces none. A **post-hoc** check was added "
           "after the runs were seen and is not pre-registered. The three are counted apart, never summed. "
           "A value shown as *context* (—) stands beside the checks with no verdict.", "",
           "Figures `gc_*` reproduce Dherin et al. 2022, figures `gr_*` Teague 2022; the claim id starts "
           "with the paper's figure family.", "",
           f"**Book profile (`{book_profile}`): {len(claims)} claims** from {n_figures} figures — "
           f"{tally_text(tally(claims), bold=True)}.", "",
           f"**At the paper profile** (committed results in `results/paper/`): {len(paper_claims(current))} "
           f"claims from {len(current)} figures — {tally_text(tally(paper_claims(current)), bold=True)}"
           + (f"; stale, not counted: {', '.join(f'`{f}`' for f in stale)}" if stale else "")
           + ". The other figures need a GPU (their pages say how long, and the command).", ""]
    if not claims:
        return "\n".join(out + ["No scorecard has been generated yet: run `gclib run all --profile cpu`, "
                                "then `make book`.", ""])
    out += ["## At a glance", "", *forest_html("scorecard", forest_alt, "../"), caption, ""]
    out += [s for key, cs in _by_paper(order, runs, profiles).items() if any(page_of(c) for c in cs)
            for s in (holm_sentence(paper_name(key), cs), "")]
    rows, details = [], []
    for fid in order:
        run = runs.get(fid)
        if run is None:
            continue
        theirs = {c.get("claim_id"): c for c in paper[fid].run.claims} if fid in current else {}
        old = paper.get(fid)
        stale_ids = set() if old is None or old.current else {c.get("claim_id") for c in old.run.claims}
        for c in run.claims:
            cid = c.get("claim_id", "?")
            page = page_of(c)
            at_paper = verdict(theirs[cid]) if cid in theirs else ("stale" if cid in stale_ids else "—")
            rows.append([claim_ref(cid, "scorecard"), verdict(c), at_paper, fmt_number(c.get("statistic")),
                         fmt_p(page.get("p")) if page else "—", fmt_p(holm.get(id(c))) if page else "—"])
            back = (f"On its figure page: {claim_ref(cid, 'figure', f'{cid} in {fid}')}"
                    if run.notebook is not None else f"Figure `{fid}` has no page yet.")
            details += [f":::{{dropdown}} {verdict(c)} {md_cell(cid)} · {fid}",
                        f":name: {claim_anchor(cid, 'scorecard')}", "",
                        *claim_details(c, holm_p=holm.get(id(c)), other=theirs.get(cid), back=back),
                        ":::", ""]
    out += ["## Every claim", "",
            f"Verdicts at the book's profile (`{book_profile}`) and at the paper profile (committed "
            "results; — where none is committed, *stale* where the committed one no longer matches the "
            "code); the statistic at the book's profile. A claim's id opens its details below: its "
            "description, protocol, threshold, interval, trend test, per-block ρ and its row on the figure "
            "page.", "",
            "**How strong each verdict is** (statistics fixed 2026-12-03 beside the verdicts, changing "
            "none): for every ordered-grid claim, Page's L test for a trend in the claimed direction with "
            "seeds (or targets, or draws) as blocks, its p (*Page p*) and, in the details, the smallest p "
            "its design allows; *Holm p* is that p adjusted across each paper's trend claims at this "
            "profile. Intervals from fewer than 5 blocks are shown as the range over blocks.", "",
            md_table(["claim", book_profile, "paper", "statistic", "Page p", "Holm p"], rows, compact=True),
            "",
            "## Details of every claim", "", *details]
    out += ["## Download the scorecard", "",
            "The rows behind this page, one file per profile, as CSV and as JSON (a list of the same "
            "records):",
            "", "<ul>", *[f'<li>{p} profile: <a href="../{EXTRA}/data/scorecard-{p}.csv" download>CSV</a>, '
                          f'<a href="../{EXTRA}/data/scorecard-{p}.json" download>JSON</a></li>'
                          for p in dict.fromkeys((book_profile, "paper"))], "</ul>", "",
            ":::{dropdown} The columns", md_table(["column", "what it holds"],
                                                 [[f"`{k}`", md_cell(v)] for k, v in COLUMNS.items()]), ":::",
            ""]
    missing = [f for f in order if f not in runs or not runs[f].claims]
    if missing:
        out += ["Not yet generated (no scorecard): " + ", ".join(f"`{f}`" for f in missing) + ".", ""]
    failed = [f for f in order if f in runs and runs[f].status not in ("success",)]
    if failed:
        out += ["Runs that did not finish: " + ", ".join(doc_link(f, runs) for f in failed) + ".", ""]
    return "\n".join(out)


def at_a_glance(order, runs, profiles, paper=None) -> str:
    """Per paper: figures with a scorecard and their claims' verdicts per protocol, at the book's profile and
    at the paper profile (committed results; stale ones never counted)."""
    paper = paper or {}
    groups: dict[str, dict] = {}
    for fid in order:
        g = groups.setdefault(paper_of(fid, profiles.get(fid, {})), {"figs": 0, "done": 0, "claims": [],
                                                                     "pdone": 0, "pclaims": []})
        g["figs"] += 1
        if fid in runs and runs[fid].claims:
            g["done"] += 1
            g["claims"] += runs[fid].claims
        if fid in paper and paper[fid].current:
            g["pdone"] += 1
            g["pclaims"] += paper[fid].run.claims
    if len(groups) > 1:
        groups["both papers"] = {k: sum((g[k] for g in groups.values()), [] if k.endswith("claims") else 0)
                                 for k in ("figs", "done", "claims", "pdone", "pclaims")}
    rows = [[f"**{key}**" if key == "both papers" else md_cell(paper_name(key)),
             f"{g['done']} of {g['figs']}", tally_text(tally(g["claims"])), f"{g['pdone']} of {g['figs']}",
             tally_text(tally(g["pclaims"])) if g["pclaims"] else "—"] for key, g in groups.items()]
    stale = sorted(f for f, p in paper.items() if not p.current)
    if not rows:
        return "No figure has been generated yet.\n"
    return "\n".join([
        md_table(["paper", "figures (book)", "claims at the book's profile", "figures (paper)",
                  "claims at the paper profile"], rows, compact=True), "",
        "v1, v2 and post-hoc checks are counted apart. Every claim with its statistic, interval and "
        "threshold, "
        f"and the forest plot of all of them: {{doc}}`/{GENERATED}/scorecard`. The paper-profile columns "
        f"count "
        "the committed results in `results/paper/` (the figures whose paper profile runs on the 2-core "
        "reference CPU; the others need a GPU)"
        + (f"; stale results are not counted: {', '.join(f'`{f}`' for f in stale)}" if stale else "") + ".",
        ""])
