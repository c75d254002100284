"""The paper-scale results in the book: the committed runs of ``results/paper/``
(:mod:`gclib.companion.run.committed`) beside the book's own profile — a section on each figure page, a column
on the scorecard page and on the landing table. A stale result (the code that produced its table has changed
since) is shown as stale with its date and commit, never as current, and is left out of every count. [ours]
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from gclib.companion.book.runs import FigureRun, discover_figures
from gclib.companion.format import (
    fmt_ci,
    fmt_number,
    md_cell,
    md_table,
    seconds,
    wall,
)
from gclib.companion.kernel.judge.verdicts import tally, tally_text, verdict
from gclib.companion.locations import results_dir
from gclib.companion.run.committed import ResultStatus, committed_results

__all__ = ["PaperResult", "discover_paper", "discover_records", "paper_section", "cpu_section", "claim_cell",
           "paper_claims", "render_discussion", "TABLE_ROWS_SHOWN"]

#: rows of a per-run table printed on the page (all of them are in the CSV download)
TABLE_ROWS_SHOWN = 400
DISCUSSION = "discussion.md"


@dataclass
class PaperResult:
    """One committed paper-profile result: what the runner left, and its staleness."""

    run: FigureRun
    status: ResultStatus

    @property
    def current(self) -> bool:
        return self.status.ok

    @property
    def tables(self) -> list[Path]:
        return sorted(self.run.directory.glob("*.csv"))

    @property
    def discussion(self) -> str | None:
        """The result's ``discussion.md`` with every placeholder filled from the result's own records
        (:func:`render_discussion`); None when it has none."""
        return render_discussion(self.run.directory)


def render_discussion(directory) -> str | None:
    """``<directory>/discussion.md`` rendered by :func:`gclib.companion.book.prose.render` from the records in
    ``directory`` (scorecard, tables, provenance); None when there is no discussion. A placeholder that does
    not evaluate raises ``ValueError`` naming the file: a discussion never shows a number its record lacks."""
    from gclib.companion.book import prose

    path = Path(directory) / DISCUSSION
    if not path.exists():
        return None
    return prose.render(path.read_text(encoding="utf-8").strip(), prose.record_context(directory),
                        where=str(path))


def discover_paper(paper_dir=None) -> dict[str, PaperResult]:
    """The committed results under ``paper_dir`` (default ``results/paper``) with their staleness."""
    return discover_records(paper_dir, profile="paper")


def discover_records(directory=None, *, profile: str = "cpu") -> dict[str, PaperResult]:
    """The committed records of ``profile`` under ``directory`` (default ``results/<profile>``) with their
    staleness: for the cpu profile, the scorecards, tables and provenance its discussions quote."""
    root = Path(directory) if directory is not None else results_dir(profile=profile)
    runs, statuses = discover_figures(root), committed_results(root, profile=profile)
    return {fid: PaperResult(run, statuses[fid]) for fid, run in runs.items() if fid in statuses}


def cpu_section(fid: str, record: PaperResult | None) -> list[str]:
    """"What the cpu profile showed": the discussion of the committed cpu-profile record of ``fid``
    (``results/cpu/<fid>/``), its numbers filled from that record, with the record's date, device and commit;
    a stale record is said to be stale. Nothing when there is no record or no discussion."""
    text = record.discussion if record is not None else None
    if not text:
        return []
    prov = record.status.provenance
    state = "current" if record.current else ("**stale**: the code that produced its tables has changed "
                                               "since; regenerate with `make cpu-results`")
    return ["### What the cpu profile showed", "",
            f"*From the committed cpu-profile record in `results/cpu/{fid}/` ({state}): run on "
            f"{md_cell(prov.get('device') or '?')} at {prov.get('threads')} thread(s), "
            f"{(prov.get('start') or '?')[:10]}, commit `{(prov.get('git_sha') or '?')[:12]}`"
            f"{_dirty_text(prov)}. "
            "Every number below is filled in from that record's scorecard and tables.*", "", text, ""]


def paper_claims(paper: dict[str, PaperResult]) -> list[dict]:
    """The claims of every current (not stale, successful) paper result."""
    return [c for p in paper.values() if p.current for c in p.run.claims]


def claim_cell(claim: dict | None) -> str:
    """``✓ −0.95 [−1, −0.8]`` for one claim at one profile; ``—`` when the profile did not check it."""
    if claim is None:
        return "—"
    ci = fmt_ci(claim.get("ci"))
    return f"{verdict(claim)} {fmt_number(claim.get('statistic'))}" + ("" if ci == "—" else f" {ci}")


def _stale_note(p: PaperResult) -> list[str]:
    prov = p.status.provenance
    when, sha = (prov.get("start") or "?")[:10], (prov.get("git_sha") or "?")[:12]
    if p.status.stale:
        return [":::{warning}",
                f"**Stale.** This paper-profile result was made on {when} at commit `{sha}`; the "
                "code that produced its table has changed since (its code hash differs from today's), so it "
                "is not shown as current and is left out of every count. Regenerate it with "
                "`make paper-results`.", ":::", ""]
    if prov.get("status") != "success":
        return [":::{warning}", f"This paper-profile run did not finish: status `{prov.get('status')}`.",
                ":::", ""]
    return []


def _dirty_text(prov: dict) -> str:
    """" with uncommitted changes to its code (…)" where the run's own code was dirty, else ""."""
    if not prov.get("git_dirty"):
        return ""
    files = prov.get("git_dirty_files") or []
    shown = ", ".join(f"`{md_cell(f)}`" for f in files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5
                                                                else "")
    return " **with uncommitted changes to its code**" + (f" ({shown})" if shown else "")


#: a per-run table wider than this many columns is shown in slices of columns, each repeating the first
#: column, so no table is wider than the page's column; past TABLE_SLICES slices the rest are named only
TABLE_COLUMNS = 7
TABLE_SLICES = 3


def _table_markdown(path: Path) -> str:
    """A committed CSV as Markdown: its first TABLE_ROWS_SHOWN rows; a wide table in slices of at most
    TABLE_COLUMNS columns (each slice repeats the first column), at most TABLE_SLICES of them, the columns
    left out named (every value is in the CSV)."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    if not rows:
        return "(empty table)"
    head, body = rows[0], rows[1:]

    def cell(v):
        try:
            return fmt_number(float(v)) if v not in ("", "True", "False") else md_cell(v)
        except ValueError:
            return md_cell(v)

    shown = [[cell(v) for v in r] for r in body[:TABLE_ROWS_SHOWN]]
    more = f"{len(body) - TABLE_ROWS_SHOWN} more rows in the CSV." if len(body) > TABLE_ROWS_SHOWN else ""
    if len(head) <= TABLE_COLUMNS:
        return md_table([md_cell(h) for h in head], shown, compact=True) + (f"\n\n{more}" if more else "")
    step = TABLE_COLUMNS - 1
    starts = list(range(1, len(head), step))
    parts = []
    for a in starts[:TABLE_SLICES]:
        cols = [0, *range(a, min(a + step, len(head)))]
        parts += [f"Columns {a + 1}–{cols[-1] + 1} of {len(head)}:", "",
                  md_table([md_cell(head[j]) for j in cols], [[r[j] if j < len(r) else "" for j in cols]
                                                              for r in shown], compact=True), ""]
    left = head[starts[TABLE_SLICES]:] if len(starts) > TABLE_SLICES else []
    if left:
        parts.append(f"{len(left)} more columns in the CSV ({md_cell(left[0])} … {md_cell(left[-1])}).")
    if more:
        parts.append(more)
    return "\n".join(parts).rstrip() + "\n"


def paper_section(fid: str, entry: dict, main: FigureRun, paper: PaperResult | None, main_profile: str,
                  asset_dir: str) -> list[str]:
    """The "At paper scale" section of a figure page: the paper figure, its verdicts beside the book's
    profile, device, date and wall time, the per-run table; or where none is committed, what it would
    take (a GPU, with the estimate and the command)."""
    out = ["### At paper scale", ""]
    cpu = entry.get("paper_cpu") or {}
    if paper is None:
        gpu = (entry.get("est_seconds") or {}).get("paper")
        est = f"estimated {seconds(gpu)} on one GPU (H100/H200)" if isinstance(gpu, (int, float)) else "a GPU"
        mins = cpu.get("est_minutes")
        on_cpu = (f"on the 2-core reference CPU it would take about {seconds(60 * mins)}"
                  if isinstance(mins, (int, float)) else "it does not fit the reference CPU's 30 minutes")
        why = f" ({md_cell(cpu['why'])})" if cpu.get("why") else ""
        out += [f"**Needs a GPU**: {est}; {on_cpu}{why}. "
                "No paper-profile result is committed. On a CUDA machine:", "", "```sh",
                f"gclib run {fid} --profile paper --device cuda", "```", ""]
        return out
    prov = paper.status.provenance
    out += _stale_note(paper)
    label = "stale, not counted" if not paper.current else "current"
    out += [f"Committed result in `results/paper/{fid}/` ({label}): the paper profile, run on "
            f"{md_cell(prov.get('device') or '?')} at {prov.get('threads')} intra-op threads, "
            f"{(prov.get('start') or '?')[:10]}, wall time {wall(prov.get('wall_seconds'))}, commit "
            f"`{(prov.get('git_sha') or '?')[:12]}`{_dirty_text(prov)}, code hash "
            f"`{(prov.get('code_hash') or '?')[:12]}`. Regenerate with `make paper-results`.", ""]
    if paper.current and paper.run.claims:
        out += [f"**Scorecard** (paper profile): {tally_text(tally(paper.run.claims))}.", ""]
    for png in paper.run.pngs:
        out += [f"```{{figure}} {asset_dir}/{png.name}", f":alt: {fid} at the paper profile", "",
                f"{fid} at the paper profile ({md_cell(prov.get('device') or '?')}).", "```", ""]
    mine = {c.get("claim_id"): c for c in main.claims}
    theirs = {c.get("claim_id"): c for c in paper.run.claims}
    ids = list(dict.fromkeys([*mine, *theirs]))
    if ids:
        rows = [[f"`{cid}`", claim_cell(mine.get(cid)), claim_cell(theirs.get(cid))] for cid in ids]
        differ = [cid for cid in ids if cid in mine and cid in theirs
                  and verdict(mine[cid]) != verdict(theirs[cid])]
        head = "paper profile" + ("" if paper.current else " (stale)")
        out += [md_table(["claim", f"{main_profile} profile", head], rows, compact=True), ""]
        if differ:
            out += ["Verdicts that differ between the two scales: " + ", ".join(f"`{c}`" for c in differ)
                    + ".", ""]
    if paper.discussion:
        out += [paper.discussion, ""]
    params = prov.get("parameters") or {}
    if params:
        out += [":::{dropdown} Parameters of the paper run",
                md_table(["parameter", "value"], [[f"`{k}`", f"`{v!r}`"] for k, v in params.items()]), ":::",
                ""]
    for table in paper.tables:
        out += [f":::{{dropdown}} Per-run table `{table.name}` (every seed and grid value)",
                _table_markdown(table), ":::", ""]
    downloads = [f"{{download}}`executed notebook <{asset_dir}/{fid}.ipynb>`"]
    downloads += [f"{{download}}`{p.name} <{asset_dir}/{p.name}>`" for p in paper.tables + paper.run.svgs]
    out += ["Downloads: " + ", ".join(downloads) + ".", ""]
    return out
