"""Is a committed result what its tables say? Every per-run table still has the sha256 its run recorded,
and the scorecard recomputed from those tables by the same verdict code (a rejudge into a scratch copy,
:mod:`gclib.companion.run.rejudge`) equals the committed one, claim by claim. A hand edit of a committed
table or scorecard fails one of the two. [ours]
"""
from __future__ import annotations

import math
import shutil
from pathlib import Path

from gclib.companion.figures.catalogue import get_figure
from gclib.companion.locations import repo_root
from gclib.companion.outputs import read_json
from gclib.companion.run.job import Job
from gclib.companion.run.provenance import table_hashes
from gclib.companion.run.rejudge import rejudge

__all__ = ["check_tables", "rederive", "compare_claims"]

#: numbers recomputed from the same table on another CPU may differ in their last bits (a NumPy reduction
#: in another order): two claims agree within this relative difference; verdicts and text must be equal
REL_TOL = 1e-9


def check_tables(directory) -> list[str]:
    """One line per table of the result folder ``directory`` that is not the one its run recorded: missing,
    added, or with another sha256 than ``tables`` of the provenance (empty when all match)."""
    d = Path(directory)
    prov = read_json(d / f"{d.name}.provenance.json") or {}
    recorded, now = prov.get("tables"), table_hashes(d)
    if not isinstance(recorded, dict):
        return [f"{d.name}: the provenance records no table hashes"]
    out = [f"{d.name}: {name} is missing" for name in sorted(set(recorded) - set(now))]
    out += [f"{d.name}: {name} was not saved by the run" for name in sorted(set(now) - set(recorded))]
    out += [f"{d.name}: {name} has sha256 {now[name][:12]}…, the run recorded {recorded[name][:12]}…"
            for name in sorted(set(now) & set(recorded)) if now[name] != recorded[name]]
    return out


def _same(a, b, where: str, out: list) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a or k not in b:
                out.append(f"{where}.{k}: {'only in the committed' if k in a else 'only in the recomputed'}")
            else:
                _same(a[k], b[k], f"{where}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]", out)
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) \
            and not isinstance(b, bool):
        if not (a == b or (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=REL_TOL)):
            out.append(f"{where}: committed {a!r}, recomputed {b!r}")
    elif a != b:
        out.append(f"{where}: committed {a!r}, recomputed {b!r}")


def compare_claims(committed: dict, recomputed: dict) -> list[str]:
    """One line per difference between two scorecards (claim ids, and every field of every claim: verdicts
    and text exactly, numbers within :data:`REL_TOL`)."""
    mine = {c.get("claim_id"): c for c in committed.get("claims", [])}
    theirs = {c.get("claim_id"): c for c in recomputed.get("claims", [])}
    out = [f"{cid}: only in the committed scorecard" for cid in mine if cid not in theirs]
    out += [f"{cid}: only in the recomputed scorecard" for cid in theirs if cid not in mine]
    for cid in mine:
        if cid in theirs:
            _same(mine[cid], theirs[cid], cid, out)
    return out


def rederive(directory, work, kernel=None) -> list[str]:
    """Recompute the scorecard of the committed result folder ``directory`` from its tables — a copy in
    ``work`` rejudged with its recorded parameters and threads by today's verdict code — and compare it claim
    by claim with the committed one; one line per difference (empty when they agree). The rejudge takes
    seconds: it runs the notebook's imports, parameters, check and verdict cells only (in ``kernel``, a
    :class:`~gclib.companion.run.warm.WarmKernel`, when given)."""
    d = Path(directory)
    prov = read_json(d / f"{d.name}.provenance.json")
    card = read_json(d / f"{d.name}.scorecard.json")
    if prov is None or card is None:
        return [f"{d.name}: no readable provenance or scorecard"]
    copy = Path(work) / d.name
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(d, copy)
    job = Job(d.name, get_figure(d.name).notebook, prov["profile"], prov["parameters"], copy.resolve(),
              prov.get("cache_key") or "", repo_root(), prov.get("threads") or 1)
    result = rejudge(job, kernel=kernel)
    if result is None:
        return [f"{d.name}: its verdicts could not be recomputed from its tables"]
    return compare_claims(card, read_json(copy / f"{d.name}.scorecard.json") or {})
