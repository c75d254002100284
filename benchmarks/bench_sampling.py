"""Benchmark: batched init-loss sampling vs a per-init nn.Module loop, and vs the RNG bound.

Setting: the MLP 4-32-32-1 (ReLU, zero bias, P = 1184 weights) on one sample (m = 1), the single-sample
histograms of Teague 2022 (E-2..E-5). Measured in the same run, interleaved so load drift on a shared
machine hits all candidates alike; each row is a median over ``repeats`` rounds after one warm-up.
Single-threaded by default (``threads=1``, restored afterwards) and timed in CPU seconds of this process
(``time.process_time``): on a shared 2-core machine, OpenMP's two-thread barriers stall whenever a
neighbour takes a core, and wall-clock ratios then measure the neighbours (2 threads under load 9:
preactivation 30k inits/s; 1 thread: 760k). All rates are per CPU-second of one core.

Rows (``run`` returns dicts with keys benchmark, measured, unit, target, ok; rows without a target are for
comparison and have ``target=None, ok=True``):
  the RNG rate of ``torch.randn`` (normals/s: N·P normals, as many as one batched call draws, written
  block by block into a reused buffer of BLOCK·P, so both calls last alike); the naive baseline, a loop
  building one ``nn.Sequential`` per init (``kaiming_normal_``) and evaluating its loss (inits/s); for
  every init scheme, ``sample_init_losses(method="weights")`` as a fraction of the RNG bound, randn
  rate / P inits/s (target >= 0.7); for context, the truncated-normal draw alone (inverse CDF: uniforms,
  then erfinv_), once as gclib draws it on the CPU (NumPy PCG64 uniforms) and once with the generator's
  own mt19937 ``uniform_`` (the path for CUDA and strided tensors, 0.64 end to end before); the
  exact Gaussian pre-activation shortcut (``method="preactivation"``, he_normal) as a speedup over the
  naive loop (target >= 300x).
"""
from __future__ import annotations

import math
import statistics
import time

import torch
from run_all import format_table, row
from torch import nn

from gclib.sampling import BLOCK, get_init, init_names, sample_init_losses

SIZES = [4, 32, 32, 1]
P = sum(a * b for a, b in zip(SIZES[:-1], SIZES[1:]))   # 1184 weights
CHUNK = 4096


def _naive(n: int, x: torch.Tensor, y: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Naive baseline: one nn.Module per init, he_normal weights, zero bias, one forward each."""
    out = torch.empty(n)
    for i in range(n):
        net = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1))
        with torch.no_grad():
            for lin in net[::2]:
                nn.init.kaiming_normal_(lin.weight, nonlinearity="relu", generator=g)
                lin.bias.zero_()
            out[i] = ((net(x) - y) ** 2).mean()
    return out


def _timed(fns: dict, repeats: int) -> dict[str, float]:
    """Median CPU seconds per callable, interleaved over ``repeats`` rounds after one warm-up call each."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.process_time()
            fn()
            times[name].append(time.process_time() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def run(quick: bool = False, threads: int | None = 1) -> list[dict]:
    """Measure and return the rows (see the module docstring). ``quick``: fewer inits and repeats;
    ``threads``: torch threads while measuring (None: leave as is)."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _run(quick)
    finally:
        torch.set_num_threads(before)


def _run(quick: bool) -> list[dict]:
    repeats, n_batch, n_pre, n_naive = (3, 8192, 65536, 200) if quick else (5, 32768, 262144, 1000)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(1, 4, generator=g), torch.ones(1, 1)
    buf = torch.empty(BLOCK * P)   # the random numbers one RNG block draws
    kw = dict(x=x, y=y, chunk_size=CHUNK)

    def randn():
        for _ in range(n_batch // BLOCK):
            torch.randn(buf.numel(), generator=g, out=buf)

    def trunc():   # the truncated-normal draw alone (inverse CDF), same count and buffer as randn
        for _ in range(n_batch // BLOCK):
            get_init("he_truncated_normal").fill_(buf, 32, 32, g)

    def trunc_mt():   # the same draw with the generator's own uniforms (gclib's CUDA / strided path)
        e = math.erf(math.sqrt(2.0))
        for _ in range(n_batch // BLOCK):
            buf.uniform_(-e, e, generator=g).erfinv_()

    fns = {"randn": randn, "trunc": trunc, "trunc_mt": trunc_mt, "naive": lambda: _naive(n_naive, x, y, g),
           "pre": lambda: sample_init_losses(SIZES, init="he_normal", n_inits=n_pre, method="preactivation",
                                             **kw)}
    for name in init_names():
        std = {"std": 0.25} if name == "normal" else {}
        fns[name] = lambda name=name, std=std: sample_init_losses(SIZES, init=name, n_inits=n_batch, **kw,
                                                                  **std)
    t = _timed(fns, repeats)
    rate = n_batch * P / t["randn"]
    naive = n_naive / t["naive"]
    pre = n_pre / t["pre"]
    rows = [row("torch.randn rate (RNG bound = rate / P inits/s)", rate / 1e6, "M normals/s"),
            row(f"naive nn.Module loop, {'-'.join(map(str, SIZES))}, m=1", naive / 1e3, "k inits/s")]
    for name in init_names():
        per_s = n_batch / t[name]
        rows.append(row(f"batched weights {name} ({per_s / 1e3:.0f}k inits/s)", per_s * P / rate,
                         "x RNG bound", 0.7, at_most=False))
    rows += [row("truncated-normal draw alone (PCG64 uniforms + erfinv_) / randn", t["randn"] / t["trunc"],
                  "x RNG bound"),
             row("  same with mt19937 uniform_ + erfinv_ (CUDA/strided path)", t["randn"] / t["trunc_mt"],
                  "x RNG bound"),
             row(f"preactivation he_normal ({pre / 1e3:.0f}k inits/s)", pre * P / rate, "x RNG bound"),
             row("speedup preactivation vs naive loop", pre / naive, "x", 300.0, at_most=False)]
    return rows


def main() -> None:
    print(f"torch {torch.__version__}, measured with 1 torch thread (of {torch.get_num_threads()})")
    print(format_table(run()))


if __name__ == "__main__":
    main()
