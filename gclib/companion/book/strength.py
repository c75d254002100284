"""How strong each verdict is, as the book shows it (spec: shared/papers/README.md, "Statistics beside the
verdicts", fixed 2026-12-03): Page's trend test with its smallest attainable p and the blocks left out, the
per-seed Spearman ρ, the interval or range over seeds with its n, and Holm's adjustment across a paper's
trend claims. Read from the ``stats`` a notebook recorded with a claim (``gclib.stats`` computes them);
nothing here changes a verdict. [ours]
"""
from __future__ import annotations

from gclib.companion.format import fmt_number, fmt_p, md_cell

__all__ = ["fmt_p", "page_of", "trend_text", "per_seed_text", "interval_text", "holm_column", "holm_sentence"]


def page_of(claim: dict) -> dict | None:
    """The claim's Page test record, or None when it is not a trend claim."""
    page = (claim.get("stats") or {}).get("page")
    return page if isinstance(page, dict) else None


def trend_text(claim: dict) -> str:
    """``L = 84, p = 7.2e-05 (exact; n = 3 seeds, k = 4; smallest possible 7.2e-05)``; "—" if none."""
    page = page_of(claim)
    if page is None:
        return "—"
    n, k = page.get("n"), page.get("k")
    left = page.get("blocks_left_out") or 0
    plural = "s" * (left != 1)
    left_text = f"; {left} block{plural} left out (a run that did not reach its target)" if left else ""
    if page.get("p") is None:
        return f"n/a ({md_cell(page.get('reason') or 'n < 2')}; n = {n}, k = {k}{left_text})"
    method = md_cell(page.get("method") or "?")
    return (f"L = {fmt_number(page.get('L'))}, p = {fmt_p(page.get('p'))} ({method}; "
            f"n = {n}, k = {k}; smallest possible {fmt_p(page.get('p_min'))}{left_text})")


def per_seed_text(claim: dict) -> str:
    """The per-seed Spearman ρ values, ``(-1.00, -0.80, -1.00)``; "—" if none."""
    rho = (claim.get("stats") or {}).get("per_seed_rho")
    if not isinstance(rho, dict) or not rho:
        return "—"
    return "(" + ", ".join("n/a" if v is None else f"{v:.2f}" for v in rho.values()) + ")"


def interval_text(claim: dict) -> str | None:
    """The interval over seeds as recorded (a range below 5 seeds, a named bootstrap from 5), with its n;
    None when the claim has none (the table then shows the claim's own CI)."""
    iv = (claim.get("stats") or {}).get("interval")
    if not isinstance(iv, dict):
        return None
    kind, n = iv.get("kind"), iv.get("n")
    if kind == "range":
        lo, hi = fmt_number(iv.get("lo")), fmt_number(iv.get("hi"))
        unit = iv.get("unit") or "seeds"
        unit = unit[:-1] if n == 1 and unit.endswith("s") else unit
        return f"range {lo} … {hi} (n = {n} {md_cell(unit)}; range, not an interval)"
    if kind in ("n/a", None):
        return f"n/a ({md_cell(iv.get('reason') or 'no values')})"
    unit = f" {md_cell(iv['unit'])}" if iv.get("unit") else ""
    n_text = f"{n:,}" if isinstance(n, int) else f"{n}"
    return (f"[{fmt_number(iv.get('lo'))}, {fmt_number(iv.get('hi'))}] ({md_cell(iv.get('method') or kind)}, "
            f"n = {n_text}{unit})")


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
