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
