"""Reading training histories (``gclib.experiments.train`` output, one row per logged step): the last row
of each run, a value at a given training loss (v1: interpolated; protocol v2: the first row at or below it,
with the run's status), at a common step or epoch, and G6 v2's split of a learning-rate grid at the
stability edge. All functions take and return tidy pandas tables. [ours]
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from gclib.validate import check_real

__all__ = ["final_rows", "value_at_train_loss", "crossings", "value_at", "read_at_common",
           "stability_regimes"]


def _by(by) -> list[str]:
    return [by] if isinstance(by, str) else list(by)


def final_rows(df: pd.DataFrame, by) -> pd.DataFrame:
    """The last logged row (largest ``step``) of every run, runs identified by the columns ``by``."""
    by = _by(by)
    return (df.sort_values("step", kind="stable").groupby(by, sort=True, dropna=False).tail(1)
            .sort_values(by, kind="stable").reset_index(drop=True))


def value_at_train_loss(df: pd.DataFrame, target: float, by, value: str = "gc", *, loss: str = "train_loss",
                        interpolate: bool = True) -> pd.DataFrame:
    """Per run, ``value`` where the ``loss`` column first reaches ``target`` (G6: GC at equal train loss).

    ``interpolate=True`` (v1): with rows i−1, i the first pair with L_{i−1} > target ≥ L_i, returns
    v_{i−1} + t (v_i − v_{i−1}), t = (L_{i−1} − target)/(L_{i−1} − L_i) (linear in the loss between
    logged steps; step interpolated the same way), v_0 if L_0 ≤ target, NaN if never reached.
    ``interpolate=False`` (protocol v2): the first logged row with L ≤ target, as it is (log densely near
    the crossing: ``train(target_loss=…)`` stops there).
    Columns: ``by``..., ``value``, ``step`` and ``loss`` (the loss read: ``target`` when interpolated, the
    row's own loss otherwise, NaN when never reached).
    """
    check_real("target", target)
    by, out = _by(by), []
    for keys, g in df.sort_values("step", kind="stable").groupby(by, sort=True, dropna=False):
        losses, v, st = (g[c].to_numpy(dtype=float) for c in (loss, value, "step"))
        hit = np.flatnonzero(losses <= target)
        res_v = res_s = res_l = math.nan
        if len(hit):
            i = hit[0]
            t = 1.0 if i == 0 or not interpolate else (losses[i - 1] - target) / (losses[i - 1] - losses[i])
            j = max(i - 1, 0)
            res_v, res_s = v[j] + t * (v[i] - v[j]), st[j] + t * (st[i] - st[j])
            res_l = target if interpolate and i > 0 else losses[i]
        out.append({**dict(zip(by, keys)), value: res_v, "step": res_s, loss: res_l})
    return pd.DataFrame(out)


def crossings(df: pd.DataFrame, target: float, by, *, loss: str = "full_train_loss", values=("gc",),
              peaks=()) -> pd.DataFrame:
    """Protocol v2's reading of each run at the loss ``target``: one row per run (identified by ``by``).

    Columns: ``by``..., ``status`` (the run's, see ``train``), ``step``, ``epoch`` and ``loss`` of the
    first logged row with ``loss`` ≤ ``target`` (the crossing; NaN when the run never got there), each of
    ``values`` at that row, ``ratio`` = loss read / target (in (0, 1]; ≥ 0.95 means the crossing was read
    within 5 %), and ``peak_<col>`` for each of ``peaks``: the largest logged value of that column up to
    the crossing (over the whole run when it never crossed), e.g. the peak sharpness λ_max. Runs that did
    not reach the target keep their row with NaN values, so they are counted and shown, not dropped.
    """
    check_real("target", target, low=0.0, low_open=True)
    by = _by(by)
    need = [*by, "step", "epoch", loss, *values, *peaks]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(f"history has no column(s) {missing}")
    out = []
    for keys, g in df.sort_values("step", kind="stable").groupby(by, sort=True, dropna=False):
        hit = np.flatnonzero(g[loss].to_numpy(dtype=float) <= target)
        row = {**dict(zip(by, keys if isinstance(keys, tuple) else (keys,))),
               "status": g["status"].iloc[-1] if "status" in g else "completed"}
        upto = g.iloc[: hit[0] + 1] if len(hit) else g
        at = g.iloc[hit[0]] if len(hit) else None
        for col in ("step", "epoch", *values):
            row[col] = float(at[col]) if at is not None else math.nan
        row["loss"] = float(at[loss]) if at is not None else math.nan
        row["ratio"] = row["loss"] / target
        for col in peaks:
            row[f"peak_{col}"] = float(upto[col].max())
        out.append(row)
    return pd.DataFrame(out)


def value_at(df: pd.DataFrame, column: str, point: float, by, value: str = "gc") -> pd.DataFrame:
    """Per run, ``value`` at ``column`` = ``point`` (e.g. a common step or epoch: the equal-steps and
    equal-epochs contrasts of G7 v2), linear in log(column) between the logged rows around it (exact at a
    logged row); NaN when the run's logged range does not contain ``point`` (> 0). Columns: ``by``...,
    ``value``."""
    check_real("point", point, low=0.0, low_open=True)
    by, out = _by(by), []
    for keys, g in df.sort_values(column, kind="stable").groupby(by, sort=True, dropna=False):
        g = g[g[column] > 0].dropna(subset=[value])
        xs, vs = np.log(g[column].to_numpy(dtype=float)), g[value].to_numpy(dtype=float)
        res = float(np.interp(math.log(point), xs, vs)) if len(xs) and xs[0] <= math.log(point) <= xs[-1] \
            else math.nan
        out.append({**dict(zip(by, keys if isinstance(keys, tuple) else (keys,))), value: res})
    return pd.DataFrame(out)


def stability_regimes(table: pd.DataFrame, hp: str = "lr", *, peak: str = "peak_sharpness") -> dict:
    """G6 v2's split of a learning-rate grid at the stability edge [fixed in shared/papers, protocol v2]:
    λ_ref = the peak λ_max of the smallest-lr runs (mean over their seeds), edge = 2/λ_ref; an lr is
    "past the edge" when lr > edge and "stable" when lr < edge. ``table``: ``crossings(..., peaks=
    ["sharpness"])``. Returns ``{"lambda_ref", "edge", "stable": [...], "past": [...]}``."""
    for col in (hp, peak):
        if col not in table.columns:
            raise ValueError(f"table has no column {col!r}")
    levels = sorted(set(table[hp]))
    lam = float(table.loc[table[hp] == levels[0], peak].mean())
    edge = 2.0 / lam if lam > 0 else math.inf
    return {"lambda_ref": lam, "edge": edge, "stable": [v for v in levels if v < edge],
            "past": [v for v in levels if v > edge]}


def read_at_common(runs: pd.DataFrame, table: pd.DataFrame, column: str, *, group: str, hp: str,
                   value: str = "gc") -> pd.DataFrame:
    """G7 v2's contrasts: within each level of ``group`` (the learning rate), read every run's ``value`` at
    one common ``column`` point (``"step"``: equal steps, ``"epoch"``: equal epochs) = the smallest
    seed-mean crossing ``column`` over the levels of ``hp`` in ``table`` (``crossings``), so every run has
    trained at least that long; linear in log(column) between logged rows (``value_at``). Runs that did
    not reach the target (status other than "reached" in ``table``) read NaN, as in the equal-loss
    statistic. Returns one row per run: ``group, hp, "seed", value`` and ``column`` (the common point)."""
    out = []
    for g_level, g_table in table.groupby(group, sort=True):
        point = g_table.groupby(hp)[column].mean().min()
        if not (isinstance(point, float) and math.isfinite(point) and point > 0):
            continue
        sub = runs[runs[group] == g_level]
        vals = value_at(sub, column, point, [hp, "seed"], value)
        vals = vals.merge(g_table[[hp, "seed", "status"]], on=[hp, "seed"], how="left")
        vals.loc[vals["status"] != "reached", value] = math.nan
        out.append(vals.assign(**{group: g_level, column: point}))
    cols = [group, hp, "seed", value, column]
    return pd.concat(out, ignore_index=True)[cols] if out else pd.DataFrame(columns=cols)
