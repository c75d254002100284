"""The scorecard at a glance: a forest plot of claims, drawn from the scorecard JSON at book build time (SVG
with its text kept as text, a PNG beside it, and alt text). [ours]

One row per claim, grouped by paper and figure family; one panel per profile (the book's, and the
committed paper-scale result where there is one), side by side. In each panel the statistic is a dot in
its verdict's colour (✓ green, ✗ vermillion, — context blue; n/a: not judged, no dot), its interval a solid
bar with caps (a bootstrap, from 5 blocks), its range over blocks a dashed bar (below 5), and the
pre-registered threshold a black tick; the side of the tick that passes is shaded. Statistics live on
different scales (ρ, ratios, differences, counts), so every row has its own axis, fitted to its statistic,
interval and threshold, without ticks: the statistic's value is printed above its dot and the threshold's
below its tick — except Spearman ρ rows, which share the axis −1 … 1. Nothing here computes a statistic:
it draws what the notebooks recorded.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from gclib.companion.kernel.judge.verdicts import verdict

__all__ = ["ForestRow", "forest_rows", "draw_forest", "forest_files", "alt_text", "COLORS", "CAPTION"]

COLORS = {"✓": "#029e73", "✗": "#d55e00", "n/a": "#949494", "—": "#56b4e9"}
CAPTION = ("Each row is one claim; each panel one profile. Dot: the statistic, its value above it, in its "
           "verdict's colour (✓ green, ✗ vermillion, — context in blue; n/a: not judged at that setting, no "
           "dot). Solid bar with caps: its bootstrap interval; dashed bar: the range over blocks (below 5 "
           "seeds or targets). Black tick: the threshold fixed in advance, its value below it, the passing "
           "side shaded. The statistics are ρ, ratios, differences and counts, so each row has its own "
           "axis, fitted to its statistic, interval and threshold, with no ticks: the printed values are its "
           "scale. Spearman ρ rows share the axis −1 … 1.")


@dataclass(frozen=True)
class ForestRow:
    """One claim: its id, figure, group label, and per profile the claim record (or None)."""

    claim_id: str
    figure: str
    group: str
    claims: dict  # profile → claim dict (scorecard JSON) or None


def forest_rows(groups: list[tuple[str, str, dict]]) -> list[ForestRow]:
    """``groups``: ``(figure id, group label, {profile: [claims]})`` in page order → one row per claim id
    (in first-seen order), each with its claim at every profile that recorded it."""
    rows = []
    for fid, label, by_profile in groups:
        ids = list(dict.fromkeys(c.get("claim_id") for cs in by_profile.values() for c in cs))
        for cid in ids:
            claims = {p: next((c for c in cs if c.get("claim_id") == cid), None)
                      for p, cs in by_profile.items()}
            rows.append(ForestRow(cid, fid, label, claims))
    return rows


def _interval(claim: dict):
    """(lo, hi, kind) to draw: the recorded interval over blocks (a range or a bootstrap), else the claim's
    own CI; kind "bootstrap", "range" or None (no interval, or one of zero width)."""
    iv = (claim.get("stats") or {}).get("interval")
    if isinstance(iv, dict) and iv.get("kind") in ("range", "bootstrap"):
        lo, hi, kind = iv.get("lo"), iv.get("hi"), iv["kind"]
    else:
        ci = claim.get("ci")
        lo, hi, kind = (ci[0], ci[1], "bootstrap") if isinstance(ci, (list, tuple)) and len(ci) == 2 else \
            (None, None, None)
    ok = all(isinstance(v, (int, float)) and math.isfinite(v) for v in (lo, hi))
    return (lo, hi, kind) if ok and lo != hi else (None, None, None)


def _is_rho(claim: dict) -> bool:
    text = f"{claim.get('claim_id', '')} {claim.get('description', '')}".lower()
    return "spearman" in text or ".rho" in text


def _thresholds(claim: dict) -> list[float]:
    t = claim.get("threshold")
    vals = t if isinstance(t, (list, tuple)) else [t]
    return [float(v) for v in vals if isinstance(v, (int, float)) and math.isfinite(v)]


def _limits(claims) -> tuple[float, float]:
    if any(_is_rho(c) for c in claims):
        return -1.08, 1.08
    vals = []
    for c in claims:
        stat = c.get("statistic")
        vals += [v for v in (stat, *_interval(c)[:2], *_thresholds(c)) if isinstance(v, (int, float))
                 and math.isfinite(v)]
    if not vals:
        return -1.0, 1.0
    lo, hi = min(vals), max(vals)
    pad = (hi - lo) * 0.15 or max(abs(lo), 1.0) * 0.5
    return lo - pad, hi + pad


def _short(v: float) -> str:
    return f"{v:.3g}".replace("-", "−")


def _panel(ax, claim: dict | None, xlim) -> None:
    """One claim at one profile on its row's axis. The axis has no ticks: the numbers printed are the
    threshold (below its tick) and the statistic (above its dot), which is all the scale a row needs."""
    ax.set_xlim(*xlim)
    ax.set_ylim(-1.9, 1.5)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ("left", "right", "top", "bottom"):
        ax.spines[side].set_visible(False)
    ax.axhline(0, color="0.85", lw=0.5, zorder=0)
    if claim is None:
        ax.text(0.5, 0, "not run at this profile", transform=ax.transAxes, ha="center", va="center",
                fontsize=7, color="0.55")
        return
    v = verdict(claim)
    thr, direction = _thresholds(claim), claim.get("direction")
    if thr and direction in ("<=", "<"):
        ax.axvspan(xlim[0], thr[0], ymin=0.15, ymax=0.85, color=COLORS["✓"], alpha=0.09, lw=0)
    elif thr and direction in (">=", ">"):
        ax.axvspan(thr[0], xlim[1], ymin=0.15, ymax=0.85, color=COLORS["✓"], alpha=0.09, lw=0)
    elif len(thr) == 2 and direction == "in":
        ax.axvspan(thr[0], thr[1], ymin=0.15, ymax=0.85, color=COLORS["✓"], alpha=0.09, lw=0)
    if _is_rho(claim):  # the shared ρ axis: its ends marked, where no threshold sits
        for end in (-1.0, 1.0):
            if all(abs(end - t) > 0.2 for t in thr):
                ax.text(end, -0.95, _short(end), ha="center", va="top", fontsize=6.5, color="0.6")
    for t in thr:
        ax.plot([t, t], [-0.8, 0.8], color="k", lw=1.1)
        ax.text(t, -0.95, _short(t), ha="center", va="top", fontsize=6.5, color="0.25")
    if v == "n/a":
        ax.text(0.5, 0, "not judged (n/a)", transform=ax.transAxes, ha="center", va="center", fontsize=7,
                color="0.35", bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": COLORS["n/a"],
                                    "lw": 0.5})
        return
    lo, hi, kind = _interval(claim)
    color = COLORS.get(v, "k")
    if kind is not None:
        ax.plot([lo, hi], [0, 0], color=color, lw=1.4, ls="-" if kind == "bootstrap" else (0, (2, 1.5)),
                solid_capstyle="butt")
        if kind == "bootstrap":
            ax.plot([lo, lo], [-0.35, 0.35], color=color, lw=1.1)
            ax.plot([hi, hi], [-0.35, 0.35], color=color, lw=1.1)
    stat = claim.get("statistic")
    if isinstance(stat, (int, float)) and math.isfinite(stat):
        x = min(max(stat, xlim[0]), xlim[1])
        ax.plot([x], [0], "o", ms=4.5, color=color, mec="white", mew=0.5, zorder=3, clip_on=False)
        ax.text(x, 0.45, _short(stat), ha="center", va="bottom", fontsize=6.5, color=color, weight="bold")
    elif isinstance(stat, (int, float)) and stat != stat:  # NaN: nothing to draw
        ax.text(0.5, 0, "no statistic", transform=ax.transAxes, ha="center", va="center", fontsize=7,
                color=color)
    elif isinstance(stat, (int, float)):  # ±inf (e.g. no interior peak): drawn at the edge, said so
        ax.text(1.0 if stat > 0 else 0.0, 0, "+∞ →" if stat > 0 else "← −∞", transform=ax.transAxes,
                color=color, ha="right" if stat > 0 else "left", va="center", fontsize=7.5, weight="bold")


def draw_forest(rows: list[ForestRow], profiles: list[str], *, title: str | None = None):
    """The forest figure of ``rows`` with one panel per profile of ``profiles`` (in that order); text is
    kept as text in the SVG (the claim ids can be found and read by a browser). Returns the Figure."""
    import matplotlib.pyplot as plt

    groups = list(dict.fromkeys(r.group for r in rows))
    n_lines = len(rows) + len(groups)
    height = 0.62 + 0.34 * n_lines
    fig = plt.figure(figsize=(7.6, height))
    top = 1 - 0.42 / height
    row_h = (top - 0.22 / height) / max(n_lines, 1)
    left, label_w, gap = 0.005, 0.34, 0.02
    panel_w = (1 - left - label_w - 0.01 - gap * (len(profiles) - 1)) / max(len(profiles), 1)
    for j, prof in enumerate(profiles):
        fig.text(left + label_w + j * (panel_w + gap) + panel_w / 2, 1 - 0.2 / height, f"{prof} profile",
                 ha="center", va="center", fontsize=9.5, weight="bold")
    if title:
        fig.text(left, 1 - 0.2 / height, title, ha="left", va="center", fontsize=9.5, weight="bold")
    line = 0
    for group in groups:
        y = top - line * row_h - row_h / 2
        fig.text(left, y, group, ha="left", va="center", fontsize=9, weight="bold", color="0.25")
        line += 1
        for r in (r for r in rows if r.group == group):
            y0 = top - (line + 1) * row_h
            present = [c for c in r.claims.values() if c is not None]
            verdicts = " ".join(verdict(r.claims[p]) if r.claims.get(p) else "·" for p in profiles)
            fig.text(left + 0.01, y0 + row_h / 2, f"{r.claim_id}", ha="left", va="center", fontsize=8.5,
                     family="DejaVu Sans Mono")
            fig.text(left + label_w - 0.005, y0 + row_h / 2, verdicts, ha="right", va="center", fontsize=8.5)
            xlim = _limits(present)
            for j, prof in enumerate(profiles):
                ax = fig.add_axes([left + label_w + j * (panel_w + gap), y0 + row_h * 0.12, panel_w,
                                   row_h * 0.76])
                _panel(ax, r.claims.get(prof), xlim)
            line += 1
    return fig


def alt_text(rows: list[ForestRow], profiles: list[str]) -> str:
    """A one-paragraph description of the plot for its alt text: how many claims, and per profile how many
    are ✓, ✗ and n/a."""
    parts = []
    for prof in profiles:
        vs = [verdict(r.claims[prof]) for r in rows if r.claims.get(prof)]
        if vs:
            parts.append(f"{prof} profile: {vs.count('✓')} ✓, {vs.count('✗')} ✗, {vs.count('n/a')} not judged"
                         + (f", {vs.count('—')} context" if vs.count("—") else ""))
    return (f"Forest plot of {len(rows)} claims, each with its statistic, interval and pre-registered "
            f"threshold; " + "; ".join(parts) + ". The table below lists the same claims.")


def forest_files(rows: list[ForestRow], profiles: list[str], *, title: str | None = None) -> dict[str, bytes]:
    """``{"svg": bytes, "png": bytes}`` of :func:`draw_forest`: the SVG keeps its text as text (the claim ids
    can be searched and read), both with stable bytes (fixed hash salt, no date)."""
    import io

    import matplotlib as mpl
    import matplotlib.pyplot as plt

    with mpl.rc_context({"svg.hashsalt": "gclib-forest", "svg.fonttype": "none", "font.family": "DejaVu Sans",
                         "axes.linewidth": 0.6}):
        fig = draw_forest(rows, profiles, title=title)
        out = {}
        for fmt, meta in (("svg", {"Date": None, "Creator": "gclib"}), ("png", {"Software": "gclib"})):
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, metadata=meta, dpi=110)
            out[fmt] = buf.getvalue()
        plt.close(fig)
    return out

