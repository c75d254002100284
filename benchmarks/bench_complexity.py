"""Benchmark: exact / Hutchinson geometric complexity vs a per-example Jacobian loop, in fwd+bwd units.

unit = median wall time of one forward+backward pass (cross-entropy, gradients w.r.t. the parameters) of
the MLP 784-256-256-10 on N = 512 inputs, measured in the same run: each candidate sample is bracketed
by two unit samples and a row is the median over ``repeats`` rounds of t / mean(unit before, after), so
load drift on a shared machine hits both (each sample averages enough calls to last >= 50 ms; one
warm-up first). ``torch.set_num_threads`` is left at its default.

Rows (``run`` returns dicts with keys benchmark, measured, unit, target, ok; rows without a target are
for comparison and have ``target=None, ok=True``):
  exact GC (K one-hot VJPs, ``geometric_complexity``) at K = 10 (target <= 5 units) and K = 100 on the MLP
  784-256-256-100 (target <= 0.45 K units); ``torch.func.vmap(jacrev)`` at both K for comparison; the naive
  baseline, a Python loop of ``torch.autograd.functional.jacobian`` per example (timed on the first
  ``n_loop`` examples and scaled linearly to N = 512), and the speedup of exact over it (target >= 40x);
  Hutchinson with one probe (target <= 1 unit); the sharpness λ_max of the cross-entropy Hessian
  (``gclib.curvature.sharpness``, Lanczos on Hessian-vector products): one iteration = a 10-step run / 10,
  the gradient graph built once (target <= 2.5 units), beside the chunked form (graph rebuilt per
  product) and the naive ``torch.autograd.functional.hvp`` per product (comparison).
"""
from __future__ import annotations

import math
import os
import statistics
import time

import torch
from run_all import format_table, row
from torch import nn
from torch.func import functional_call, jacrev, vmap
from torch.nn import functional as F

from gclib.complexity import geometric_complexity
from gclib.curvature import sharpness

N = 512


def _mlp(k: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, k))


def _vmap_jacrev_gc(model: nn.Module, x: torch.Tensor) -> float:
    params = {name: p.detach() for name, p in model.named_parameters()}

    def f(xi):
        return functional_call(model, params, (xi.unsqueeze(0),))[0]

    return float(vmap(jacrev(f))(x).square().sum()) / x.shape[0]


def _loop_gc(model: nn.Module, x: torch.Tensor) -> float:
    """Naive baseline: one torch.autograd.functional.jacobian call per example."""
    total = 0.0
    for xi in x:
        jac = torch.autograd.functional.jacobian(lambda z: model(z.unsqueeze(0))[0], xi)
        total += float(jac.square().sum())
    return total / x.shape[0]


def _sample(fn, inner: int) -> float:
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t0) / inner


def _ratios(unit, fns: dict, repeats: int, min_sample_s: float = 0.05) -> tuple[float, dict[str, float]]:
    """Median seconds of ``unit`` and, per candidate, the median over ``repeats`` rounds of
    t_candidate / mean(t_unit just before, t_unit just after): bracketing each sample by unit samples
    makes a ratio see the same machine load on a shared CPU. One warm-up call each first; a timing sample
    averages enough calls to last >= ``min_sample_s``."""
    inner = {}
    for name, fn in {"unit": unit, **fns}.items():
        t0 = time.perf_counter()
        fn()
        inner[name] = max(1, math.ceil(min_sample_s / max(time.perf_counter() - t0, 1e-9)))
    units, ratios = [], {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            before = _sample(unit, inner["unit"])
            t = _sample(fn, inner[name])
            after = _sample(unit, inner["unit"])
            units += [before, after]
            ratios[name].append(2 * t / (before + after))
    return statistics.median(units), {name: statistics.median(r) for name, r in ratios.items()}


def run(quick: bool = False) -> list[dict]:
    """Measure and return the rows (see the module docstring). ``quick``: fewer repeats, smaller loop."""
    repeats, n_loop = (3, 32) if quick else (7, 128)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, 784, generator=g)
    y = torch.randint(0, 10, (N,), generator=g)
    m10, m100 = _mlp(10, 0).eval(), _mlp(100, 1).eval()

    def unit():
        m10.zero_grad(set_to_none=True)
        F.cross_entropy(m10(x), y).backward()

    # sanity: the three methods agree before anything is timed
    exact10 = geometric_complexity(m10, x).value
    if not math.isclose(_vmap_jacrev_gc(m10, x), exact10, rel_tol=1e-4):
        raise RuntimeError("vmap(jacrev) disagrees with the exact GC")
    if not math.isclose(_loop_gc(m10, x[:8]), geometric_complexity(m10, x[:8]).value, rel_tol=1e-4):
        raise RuntimeError("the per-example jacobian loop disagrees with the exact GC")

    params = {name: p.detach() for name, p in m10.named_parameters()}
    v_hvp = {name: torch.randn(p.shape, generator=g) for name, p in params.items()}

    def loss_of(*ps):
        return F.cross_entropy(functional_call(m10, dict(zip(params, ps)), (x,)), y)

    def naive_hvp():  # the textbook call: builds the gradient graph and a double-backward per product
        torch.autograd.functional.hvp(loss_of, tuple(params.values()), tuple(v_hvp.values()))

    fns = {
        "sharp10": lambda: sharpness(m10, x, y, n_iter=10, tol=0.0),
        "sharp10_chunked": lambda: sharpness(m10, x, y, n_iter=10, tol=0.0, chunk_size=N // 2),
        "hvp_naive": naive_hvp,
        "exact10": lambda: geometric_complexity(m10, x),
        "hutch1": lambda: geometric_complexity(m10, x, method="hutchinson", n_probes=1),
        "vmap10": lambda: _vmap_jacrev_gc(m10, x),
        "loop10": lambda: _loop_gc(m10, x[:n_loop]),
        "exact100": lambda: geometric_complexity(m100, x),
    }
    if not quick:
        fns["vmap100"] = lambda: _vmap_jacrev_gc(m100, x)
    u, r = _ratios(unit, fns, repeats)
    loop_full = r["loop10"] * N / n_loop
    fb = "fwd+bwd units"
    rows = [
        row(f"unit: fwd+bwd MLP 784-256-256-10, N={N}", 1e3 * u, "ms"),
        row("exact GC, K=10 (K one-hot VJPs)", r["exact10"], fb, 5.0),
        row("exact GC, K=100 (MLP 784-256-256-100)", r["exact100"], fb, 0.45 * 100),
        row("Hutchinson GC, 1 probe, K=10", r["hutch1"], fb, 1.0),
        row("sharpness λ_max: one Lanczos iteration (10 iterations / 10)", r["sharp10"] / 10, fb, 2.5),
        row("sharpness, chunked in 2 (graph rebuilt per product; comparison)", r["sharp10_chunked"] / 10, fb),
        row("naive torch.autograd.functional.hvp per product (comparison)", r["hvp_naive"], fb),
        row("vmap(jacrev), K=10 (comparison)", r["vmap10"], fb),
    ]
    if not quick:
        rows.append(row("vmap(jacrev), K=100 (comparison)", r["vmap100"], fb))
    rows += [
        row(f"naive per-example jacobian loop, K=10 ({n_loop} of {N} examples, scaled x{N // n_loop})",
             loop_full, fb),
        row("speedup exact vs loop, K=10", loop_full / r["exact10"], "x", 40.0, at_most=False),
    ]
    return rows


def main() -> None:
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, load average {load} "
          f"(other processes on a shared CPU inflate every ratio's noise)")
    print(format_table(run()))


if __name__ == "__main__":
    main()
