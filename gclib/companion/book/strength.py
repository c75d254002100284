"""How strong each verdict is, as the book shows it (spec: shared/papers/README.md, "Statistics beside the
verdicts", fixed 2026-12-03, and its second revision, fixed 2026-12-07): Page's trend test with the floor of
the method that gave p, the grid values dropped and the blocks left out, the block unit; the per-block
Spearman ρ (over ≥ 3 grid values); the interval or range over blocks with its n; a resampling interval of
zero width as "no Monte Carlo spread"; Holm's adjustment across a paper's trend claims. Read from the
``stats`` a notebook recorded with a claim (:mod:`gclib.stats.strength` computes them); nothing here changes a
verdict. [ours]
"""
from __future__ import annotations

from gclib.companion.format import fmt_number, fmt_p, md_cell

__all__ = ["fmt_p", "page_of", "trend_text", "per_seed_text", "interval_text", "interval_short",
           "mc_interval_text", "holm_column", "holm_sentence"]


def page_of(claim: dict) -> dict | None:
    """The claim's Page test record, or None when it is not a trend claim."""
    page = (claim.get("stats") or {}).get("page")
    return page if isinstance(page, dict) else None


def _plural(n, word: str) -> str:
    return f"{n} {word}" + ("s" if n != 1 else "")


def trend_text(claim: dict) -> str:
    """``L = 84, p = 7.2e-05 (exact; n = 3 seeds as blocks, k = 4 grid values; floor of the exact test
    (1/k!)^n = 7.2e-05, p at its floor)``, with the grid values dropped and the blocks left out; "n/a (why;
    …)" without a p; "—" for a claim with no trend test."""
    page = page_of(claim)
    if page is None:
        return "—"
    n, k, unit = page.get("n"), page.get("k"), page.get("block_unit") or "seeds"
    parts = [f"n = {n} {md_cell(unit if n != 1 else unit.rstrip('s'))} as blocks, k = {k} grid values"]
    dropped = page.get("treatments_dropped") or []
    if dropped:
        parts.append(f"grid value{'s' * (len(dropped) != 1)} {', '.join(fmt_number(v) for v in dropped)} "
                     "dropped (a run there did not reach its target)")
    left = page.get("blocks_left_out") or 0
    if left:
        parts.append(f"{_plural(left, 'block')} left out (a run that did not reach its target)")
    if page.get("p") is None:
        return f"n/a ({md_cell(page.get('reason') or 'n < 2')}; {'; '.join(parts)})"
    floor = page.get("p_min_method") or "exact test: (1/k!)^n"
    at = ", p at its floor" if page.get("at_floor") else ""
    method = md_cell(page.get("method") or "?")
    return (f"L = {fmt_number(page.get('L'))}, p = {fmt_p(page.get('p'))} ({method}; {'; '.join(parts)}; "
            f"floor of the {md_cell(floor)} = {fmt_p(page.get('p_min'))}{at})")


def per_seed_text(claim: dict) -> str:
    """The per-block Spearman ρ values, ``(-1.00, -0.80, -1.00)``; the note where it is not shown (two grid
    values: ±1 by construction); "—" if none."""
    stats = claim.get("stats") or {}
    if stats.get("per_seed_rho_note"):
        return md_cell(stats["per_seed_rho_note"])
    rho = stats.get("per_seed_rho")
    if not isinstance(rho, dict) or not rho:
        return "—"
    return "(" + ", ".join("n/a" if v is None else f"{v:.2f}" for v in rho.values()) + ")"


def _interval(iv) -> str | None:
    if not isinstance(iv, dict):
        return None
    kind, n = iv.get("kind"), iv.get("n")
    unit = iv.get("unit") or "seeds"
    if kind == "range":
        lo, hi = fmt_number(iv.get("lo")), fmt_number(iv.get("hi"))
        unit = unit[:-1] if n == 1 and unit.endswith("s") else unit
        return f"range {lo} … {hi} (n = {n} {md_cell(unit)}; range, not an interval)"
    n_text = f"{n:,}" if isinstance(n, int) else f"{n}"
    if kind == "no-spread":
        return (f"no Monte Carlo spread (n = {n_text} {md_cell(unit)}: every resample gave "
                f"{fmt_number(iv.get('value'))})")
    if kind in ("n/a", None):
        return f"n/a ({md_cell(iv.get('reason') or 'no values')})"
    unit = f" {md_cell(iv['unit'])}" if iv.get("unit") else ""
    return (f"[{fmt_number(iv.get('lo'))}, {fmt_number(iv.get('hi'))}] ({md_cell(iv.get('method') or kind)}, "
            f"n = {n_text}{unit})")


def interval_text(claim: dict) -> str | None:
    """The interval over blocks as recorded (a range below 5, a named bootstrap from 5), with its n; None
    when the claim has none (the table then shows the claim's own CI)."""
    return _interval((claim.get("stats") or {}).get("interval"))


def interval_short(claim: dict) -> str | None:
    """The interval over blocks for a table cell: ``[0.25, 0.5] (bootstrap, 10 seeds)``, ``−1 … −0.8 (range,
    3 seeds)``, ``no MC spread``; None when the claim records none (the full text: :func:`interval_text`)."""
    iv = (claim.get("stats") or {}).get("interval")
    if not isinstance(iv, dict):
        return None
    kind, n, unit = iv.get("kind"), iv.get("n"), md_cell(iv.get("unit") or "seeds")
    if kind == "range":
        return f"{fmt_number(iv.get('lo'))} … {fmt_number(iv.get('hi'))} (range, {n} {unit})"
    if kind == "bootstrap":
        return f"[{fmt_number(iv.get('lo'))}, {fmt_number(iv.get('hi'))}] (bootstrap, {n:,} {unit})"
    if kind == "no-spread":
        return "no Monte Carlo spread"
    return "n/a"


def mc_interval_text(claim: dict) -> str | None:
    """The resampling interval the verdict was judged with, where the claim records it beside the range over
    blocks (``stats["mc_interval"]``: a bootstrap, or "no Monte Carlo spread" at zero width); else None."""
    return _interval((claim.get("stats") or {}).get("mc_interval"))


def holm_column(claims: list[dict]) -> dict[int, float | None]:
    """Holm-adjusted p-values of the trend claims among ``claims`` (one paper at one profile), keyed by the
    claim's position in ``claims``; claims without a p are left out of the family."""
    from gclib.stats import holm  # noqa: PLC0415

    idx = [i for i, c in enumerate(claims) if page_of(c) and page_of(c).get("p") is not None]
    adjusted = holm([page_of(claims[i])["p"] for i in idx]) if idx else []
    return dict(zip(idx, adjusted))


def holm_sentence(paper: str, claims: list[dict], level: float = 0.05) -> str:
    """One sentence: how many of the paper's trend verdicts would still hold at a family-wise ``level``."""
    adj = holm_column(claims)
    if not adj:
        return f"{paper}: no trend claim with a Page test at this profile."
    held = sum(1 for i, p in adj.items() if p is not None and p <= level and claims[i].get("passed"))
    passed = sum(1 for i in adj if claims[i].get("passed"))
    return (f"{paper}: of its {len(adj)} trend claims with a Page test, {passed} pass their pre-registered "
            f"check and {held} of those would still hold at a family-wise error rate of {level:g} "
            f"(Holm-adjusted Page p ≤ {level:g}).")
