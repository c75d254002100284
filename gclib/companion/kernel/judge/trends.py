"""The v1 checks a regularizer sweep records (G2, G3, G5: fixed in shared/papers before running), with the
statistics beside their verdicts. [ours]
"""
from __future__ import annotations

from gclib.companion.kernel.judge.claims import Scorecard

__all__ = ["record_trend_checks"]


def record_trend_checks(card: Scorecard, family: str, hp: str, final, *, runs=None, bound: str | None = None):
    """The v1 checks of a regularizer sweep (G2, G3, G5; fixed in shared/papers): ``<family>.rho_<hp>_gc``
    — Spearman ρ(hp, final GC), mean over seeds, ≤ −0.8; ``<family>.gc_drop`` — GC(largest hp) − GC(smallest)
    with a bootstrap CI over seeds below 0; and with ``bound`` (a history column of ``runs``)
    ``<family>.bound_holds`` — GC ≤ the bound at every logged step. Returns the ``trend_summary``.

    The ρ claim carries the statistics beside its verdict (spec fixed 2026-12-03 in shared/papers/README.md;
    they change no verdict and no summary line): ``stats = {"page": page_trend(final, block="seed",
    treatment=hp, value="gc", order=the hp levels ascending, direction="decreasing"), "per_seed_rho":
    per_block_spearman(final, ...), "interval": seed_interval(the per-seed ρ of the mean)}``."""
    from gclib.stats import page_trend, per_block_spearman, seed_interval, trend_summary

    trend = trend_summary(final, hp)
    stats = {"page": page_trend(final, block="seed", treatment=hp, value="gc",
                                order=sorted(final[hp].unique().tolist()), direction="decreasing"),
             "per_seed_rho": per_block_spearman(final, block="seed", treatment=hp, value="gc"),
             "interval": seed_interval(trend["rho_per_seed"])}
    card.record(f"{family}.rho_{hp}_gc", statistic=trend["rho"], ci=trend["rho_ci"], threshold=-0.8,
                direction="<=", passed=bool(trend["rho"] <= -0.8), stats=stats,
                description=f"Spearman ρ({hp}, final GC), mean over seeds; CI: bootstrap over seeds")
    card.record(f"{family}.gc_drop", statistic=trend["diff"], ci=trend["diff_ci"], threshold=0.0,
                direction="<", passed=trend["diff_ci"] is not None and trend["diff_ci"][1] < 0,
                stats={"interval": seed_interval(trend["diff_per_seed"])},
                description=f"GC(largest {hp}) − GC(smallest), final, mean over seeds; CI excludes 0")
    if bound is not None:
        held = runs.dropna(subset=[bound])
        card.record(f"{family}.bound_holds", statistic=float((held["gc"] <= held[bound]).mean()),
                    threshold=1.0, direction=">=", passed=bool((held["gc"] <= held[bound]).all()),
                    description=f"fraction of logged steps with GC <= {bound}")
    return trend
