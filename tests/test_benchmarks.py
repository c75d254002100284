"""The ratio benchmarks still run end to end (``--quick`` sizes): every row is there and well formed.

Timings are not asserted (a test is no benchmark); what is asserted is that each module measures every row
the README table quotes, that the numbers are finite and positive, and that the benchmarks' own sanity
checks pass (exact GC, vmap(jacrev) and the per-example loop agree before anything is timed).
"""
import importlib
import math
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"

# module -> (substring of a row name, its target as printed, or None for a comparison row)
EXPECTED = {
    "bench_complexity": [("exact GC, K=10 (", "<= 5"), ("exact GC, K=100", "<= 45"),
                         ("Hutchinson GC, 1 probe", "<= 1"), ("vmap(jacrev), K=10", None),
                         ("naive per-example jacobian loop", None), ("speedup exact vs loop", ">= 40"),
                         ("sharpness λ_max: one Lanczos iteration", "<= 2.5"), ("sharpness, chunked", None),
                         ("naive torch.autograd.functional.hvp", None)],
    "bench_sampling": [("torch.randn rate", None), ("naive nn.Module loop", None),
                       *[(f"batched weights {name} ", ">= 0.7") for name in
                         ("he_normal", "he_uniform", "he_truncated_normal", "glorot_normal", "glorot_uniform",
                          "lecun_normal", "lecun_uniform", "pytorch_default", "normal")],
                       ("truncated-normal draw alone", None),
                       ("speedup preactivation vs naive loop", ">= 300")],
}


@pytest.fixture(scope="module")
def bench_path():
    sys.path.insert(0, str(BENCH))
    yield
    sys.path.remove(str(BENCH))


@pytest.mark.slow
@pytest.mark.parametrize("module", list(EXPECTED))
def test_quick_benchmark_measures_every_row(module, bench_path):
    rows = importlib.import_module(module).run(quick=True)
    for r in rows:
        assert set(r) == {"benchmark", "measured", "unit", "target", "ok"}
        assert math.isfinite(r["measured"]) and r["measured"] > 0, r
        assert isinstance(r["ok"], bool)
    for needle, target in EXPECTED[module]:
        (match,) = [r for r in rows if needle in r["benchmark"]]
        assert match["target"] == target, match


def test_record_schema_and_where_runs_write(bench_path):
    """A run's JSON record has the keys of ``RECORD_SCHEMA`` (the committed seeded record is checked against
    the same schema in test_prose_numbers.py); only a full run writes the committed record."""
    run_all = importlib.import_module("run_all")
    exact = run_all.row("exact GC, K=10 (K one-hot VJPs)", 2.9, "fwd+bwd units", 5.0)
    rate = run_all.row("torch.randn rate", 290.0, "M normals/s")
    rows = [{"module": "bench_complexity", **exact, "threads": 2},
            {"module": "bench_sampling", **rate, "threads": 1}]
    kw = dict(quick=False, modules=run_all.MODULES, command="make bench")
    old = run_all.make_record(rows, **kw)
    record = run_all.make_record(rows, **kw, previous=old)
    assert list(record) == run_all.RECORD_SCHEMA["record"]
    assert list(record["machine"]) == run_all.RECORD_SCHEMA["machine"]
    assert all(list(r) == run_all.RECORD_SCHEMA["rows"] for r in record["rows"])
    assert record["previous"]["previous"] is None and record["previous"]["rows"] == old["rows"]
    assert [r["ratio"] for r in record["rows"]] == [True, False]
    assert run_all.record_path(quick=False, only=None) == run_all.RECORD == BENCH / "record.json"
    assert run_all.record_path(quick=True, only=None).parent == BENCH / "results"
    assert run_all.record_path(quick=False, only=["bench_sampling"]).parent == BENCH / "results"
    with pytest.raises(SystemExit):
        run_all.main(["--quick", "--record", str(run_all.RECORD)])
