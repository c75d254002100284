"""Init-scheme registry, batched sampling of initial losses, streamed loss histograms (their zero/central
mode dominance: ``gclib.dominance``).

For Teague 2022 (geometric regularization): the loss of *many independently initialized* MLPs on fixed
data, and whether its histogram is dominated by a zero mode or a central mode. Everything here is ours
except the init formulas (PyTorch/Keras docs) and the reading of the claims (see the design notes).

Init schemes (std of one weight; fans of a ``fan_in → fan_out`` layer): he_normal N(0, 2/fan_in) and
he_uniform U(±√(6/fan_in)) [PyTorch kaiming_*_, relu gain]; he_truncated_normal [Keras he_normal]:
N(0, σ_u²) truncated to ±2σ_u with σ_u = √(2/fan_in)/0.8796…, so std √(2/fan_in); glorot_normal
N(0, 2/(fan_in+fan_out)) and glorot_uniform U(±√(6/(fan_in+fan_out))) [PyTorch xavier_*_, untruncated];
lecun_normal N(0, 1/fan_in), lecun_uniform U(±√(3/fan_in)); pytorch_default U(±1/√fan_in) [nn.Linear];
normal N(0, std²). Sampled biases are i.i.d. from the layer's weight distribution [ours; for
pytorch_default this is nn.Linear's own bias rule].

Reproducibility [ours]: initializations are grouped in fixed blocks of ``block`` inits (``BLOCK`` = 1024,
halved while a block would draw over 2²⁴ random numbers: fixed by sizes, m, bias and method); block
``b`` draws from ``derive_generator(seed, "init-block", b)``. A chunk is a whole number of blocks, so
results are bitwise identical for every ``chunk_size``. (he_truncated_normal on the CPU takes its uniforms
from NumPy's PCG64 seeded by that generator, for speed: still a function of the block's generator alone.)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import torch

from gclib.device import derive_generator, resolve_device
from gclib.functions import ACTIVATIONS, POINTWISE_LOSSES
from gclib.validate import check_choice, check_positive_int, check_real, check_sizes, check_tensor

__all__ = ["INIT_SCHEMES", "InitScheme", "LossHistogram", "bucket_counts", "check_edges", "pcg64_uniform_",
           "init_names", "get_init", "init_std", "sample_weights", "sample_init_losses",
           "init_loss_histogram"]

_TRUNC_STD = 0.87962566103423978   # std of N(0, 1) truncated to [-2, 2] (the Keras constant)
_TRUNC_ERF = math.erf(2.0 / math.sqrt(2.0))  # P(|Z| < 2) = erf(√2)
BLOCK = 1024                          # inits per RNG block (upper bound; halved for big nets)
_BLOCK_FLOATS = 1 << 24               # random numbers per block at most (64 MB in float32)
_CHUNK_FLOATS = 1 << 26               # random numbers per chunk at most (256 MB in float32)


@dataclass(frozen=True)
class InitScheme:
    """One weight distribution. ``kind``: "normal" N(0, a²), "uniform" U(−a, a) or "truncated"
    N(0, a²) truncated to [−2a, 2a]; ``param(fan_in, fan_out, std)`` gives a. Biases, when sampled,
    are i.i.d. from the same distribution as the layer's weights [ours; equals nn.Linear for
    pytorch_default, whose bias is U(±1/√fan_in)]."""

    name: str
    kind: str
    param: object = field(repr=False)
    doc: str = ""

    def std(self, fan_in: int, fan_out: int, std: float | None = None) -> float:
        """Standard deviation of one weight: a (normal), a/√3 (uniform), 0.8796·a (truncated)."""
        a = self.param(fan_in, fan_out, std)
        return {"normal": a, "uniform": a / math.sqrt(3.0), "truncated": a * _TRUNC_STD}[self.kind]

    def fill_(self, out: torch.Tensor, fan_in: int, fan_out: int, generator: torch.Generator,
              std: float | None = None) -> torch.Tensor:
        """Fill ``out`` in place with one RNG pass; truncated: see ``_fill_truncated_``."""
        a = self.param(fan_in, fan_out, std)
        if self.kind == "normal":
            return out.normal_(0.0, a, generator=generator)
        if self.kind == "uniform":
            return out.uniform_(-a, a, generator=generator)
        return _fill_truncated_(out, a, generator)

    def sample(self, shape, fan_in: int, fan_out: int, generator: torch.Generator,
               std: float | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """A new tensor of ``shape`` on ``generator.device`` with i.i.d. entries."""
        out = torch.empty(tuple(shape), dtype=dtype, device=generator.device)
        return self.fill_(out, fan_in, fan_out, generator, std)


def _fill_truncated_(out: torch.Tensor, a: float, generator: torch.Generator) -> torch.Tensor:
    """N(0, a²) truncated to [−2a, 2a] by inverse CDF: √2·a·erfinv(y), y ~ U(−erf √2, erf √2) (the method of
    ``torch.nn.init.trunc_normal_``: a fixed number of draws, no data-dependent shapes).

    Where the uniforms come from [ours]: for a contiguous float32/float64 CPU tensor, from NumPy's PCG64
    seeded by one 63-bit draw of ``generator`` (so still a function of ``generator`` alone); elsewhere
    (CUDA, other dtypes, strided views) from ``generator`` itself. On the CPU, torch's mt19937 uniforms cost
    about as much as ``torch.randn`` and ``erfinv_`` another 0.55 of it, which held this scheme at 0.64 of
    the randn bound; PCG64 uniforms cost 0.56 of it (benchmarks/bench_sampling.py measures both).
    """
    if out.device.type == "cpu" and out.dtype in (torch.float32, torch.float64) and out.is_contiguous():
        seed = int(torch.randint(0, 2**63 - 1, (), generator=generator))
        pcg64_uniform_(out.detach().numpy().reshape(-1), seed, 2.0 * _TRUNC_ERF)
        out.sub_(_TRUNC_ERF)
    else:
        out.uniform_(-_TRUNC_ERF, _TRUNC_ERF, generator=generator)
    return out.erfinv_().mul_(math.sqrt(2.0) * a)


def pcg64_uniform_(u: np.ndarray, seed: int, scale: float) -> np.ndarray:
    """Fill the 1-D float array ``u`` with ``scale`` × ``np.random.Generator(PCG64(seed)).random(dtype=…)``.

    float32: the same numbers, built from ``random_raw`` (each 64-bit output gives two 32-bit halves, low
    first, kept as their top 24 bits × 2⁻²⁴, NumPy's own recipe): 8 % faster than ``random(out=…)``.
    """
    if u.dtype == np.float32:
        bits = np.random.PCG64(seed).random_raw((u.size + 1) // 2).view(np.uint32)[:u.size]
        np.right_shift(bits, 8, out=bits)
        return np.multiply(bits, np.float32(scale / 2**24), out=u, dtype=np.float32, casting="unsafe")
    np.random.Generator(np.random.PCG64(seed)).random(out=u, dtype=u.dtype)
    return np.multiply(u, scale, out=u)


INIT_SCHEMES: dict[str, InitScheme] = {s.name: s for s in [
    InitScheme("he_normal", "normal", lambda fi, fo, s: math.sqrt(2.0 / fi), "kaiming_normal_, untruncated"),
    InitScheme("he_uniform", "uniform", lambda fi, fo, s: math.sqrt(6.0 / fi), "U(±√(6/fan_in))"),
    InitScheme("he_truncated_normal", "truncated", lambda fi, fo, s: math.sqrt(2.0 / fi) / _TRUNC_STD,
               "Keras he_normal: std √(2/fan_in) after truncation at ±2 underlying std"),
    InitScheme("glorot_normal", "normal", lambda fi, fo, s: math.sqrt(2.0 / (fi + fo)), "xavier_normal_"),
    InitScheme("glorot_uniform", "uniform", lambda fi, fo, s: math.sqrt(6.0 / (fi + fo)), "xavier_uniform_"),
    InitScheme("lecun_normal", "normal", lambda fi, fo, s: math.sqrt(1.0 / fi), "N(0, 1/fan_in)"),
    InitScheme("lecun_uniform", "uniform", lambda fi, fo, s: math.sqrt(3.0 / fi), "U(±√(3/fan_in))"),
    InitScheme("pytorch_default", "uniform", lambda fi, fo, s: 1.0 / math.sqrt(fi),
               "nn.Linear default: weight and bias U(±1/√fan_in)"),
    InitScheme("normal", "normal", lambda fi, fo, s: s, "N(0, std²), std given"),
]}


def init_names() -> list[str]:
    """Names of the registered init schemes."""
    return list(INIT_SCHEMES)


def get_init(name: str) -> InitScheme:
    """The scheme called ``name``; ValueError listing the valid names otherwise."""
    return INIT_SCHEMES[check_choice("init", name, INIT_SCHEMES)]


def _check_std(scheme: InitScheme, std) -> float | None:
    if scheme.name == "normal":
        if std is None:
            raise ValueError("init='normal' needs std=<positive number>")
        return check_real("std", std, low=0.0, low_open=True)
    if std is not None:
        raise ValueError(f"std is only used by init='normal', got std={std!r} with init={scheme.name!r}")
    return None


def init_std(init: str, fan_in: int, fan_out: int, *, std: float | None = None) -> float:
    """Standard deviation of one weight of a ``fan_in → fan_out`` layer under scheme ``init`` (formulas in
    the module docstring; truncated: 0.8796·σ_u = √(2/fan_in) exactly as Keras intends)."""
    scheme = get_init(init)
    check_positive_int("fan_in", fan_in)
    check_positive_int("fan_out", fan_out)
    return scheme.std(fan_in, fan_out, _check_std(scheme, std))


def sample_weights(init: str, shape, fan_in: int, fan_out: int, *, generator: torch.Generator,
                   std: float | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Tensor of ``shape`` (e.g. (B, fan_out, fan_in)) with i.i.d. weights of scheme ``init``.

    Drawn in one in-place RNG pass on ``generator.device`` (truncated: inverse CDF, see
    ``_fill_truncated_``); ``std`` only for init="normal".
    """
    scheme = get_init(init)
    check_positive_int("fan_in", fan_in)
    check_positive_int("fan_out", fan_out)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    shape = tuple(shape)
    for i, s in enumerate(shape):
        check_positive_int(f"shape[{i}]", s, allow_zero=True)
    return scheme.sample(shape, fan_in, fan_out, generator, _check_std(scheme, std), dtype)


# ----------------------------------------------------------------------------------------- batched losses
def _spec(layer_sizes, *, init, n_inits, x, y, activation="relu", loss="mse", bias="zero", chunk_size=4096,
          seed=0, device="cpu", method="weights", std=None) -> SimpleNamespace:
    """Validate everything (before any compute) and fix block and chunk sizes."""
    sizes = check_sizes("layer_sizes", layer_sizes)
    scheme = get_init(init)
    check_positive_int("n_inits", n_inits)
    act = ACTIVATIONS[check_choice("activation", activation, ACTIVATIONS)].inplace
    check_choice("loss", loss, POINTWISE_LOSSES)
    check_choice("bias", bias, ("zero", "sampled"))
    check_choice("method", method, ("weights", "preactivation"))
    check_positive_int("chunk_size", chunk_size)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__} {seed!r}")
    std = _check_std(scheme, std)
    dev = resolve_device(device)
    if method == "preactivation" and scheme.kind != "normal":
        gauss = [k for k, s in INIT_SCHEMES.items() if s.kind == "normal"]
        raise ValueError(f"method='preactivation' is exact only for Gaussian weights; init={init!r} is "
                         f"{scheme.kind} (use one of {gauss} or method='weights')")
    x = check_tensor("x", x, min_dim=2)
    y = check_tensor("y", y)
    if x.dim() != 2 or x.shape[1] != sizes[0]:
        raise ValueError(f"x must have shape (m, layer_sizes[0]={sizes[0]}), got {tuple(x.shape)}")
    if y.dim() == 1 and sizes[-1] == 1:
        y = y[:, None]
    if y.dim() != 2 or tuple(y.shape) != (x.shape[0], sizes[-1]):
        raise ValueError(f"y must have shape (m={x.shape[0]}, layer_sizes[-1]={sizes[-1]})"
                         f"{' or (m,)' if sizes[-1] == 1 else ''}, got {tuple(y.shape)}")
    m = x.shape[0]
    nb = bias == "sampled"
    per_init = sum((min(a + nb, m) if method == "preactivation" else a + nb) * b
                   for a, b in zip(sizes[:-1], sizes[1:]))   # random numbers per init
    block = BLOCK
    while block > 1 and block * per_init > _BLOCK_FLOATS:
        block //= 2
    chunk = -(-chunk_size // block) * block
    chunk = max(block, min(chunk, _CHUNK_FLOATS // (per_init * block) * block))
    return SimpleNamespace(sizes=sizes, scheme=scheme, n=n_inits, x=x.to(dev), y=y.to(dev, x.dtype), act=act,
                           loss=loss, bias=nb, chunk=chunk, block=block, seed=seed, device=dev,
                           pre=method == "preactivation", std=std)


def _chunks(sp: SimpleNamespace, progress: bool = False):
    """Yield (start, losses (c,), dead (c,) bool) chunk by chunk; buffers are reused across chunks."""
    dt, dev, m, L = sp.x.dtype, sp.device, sp.x.shape[0], len(sp.sizes) - 1
    fans = list(zip(sp.sizes[:-1], sp.sizes[1:]))
    c0 = min(sp.chunk, -(-sp.n // sp.block) * sp.block)
    if sp.pre:   # standard normals ξ_l (c, r_l, w_out), r_l = rank bound of [H, 1]
        ranks = [min(fi + sp.bias, m) for fi, _ in fans]
        bufs = [torch.empty(c0, r, fo, dtype=dt, device=dev) for r, (_, fo) in zip(ranks, fans)]
        xa = torch.cat([sp.x, torch.ones(m, 1, dtype=dt, device=dev)], 1) if sp.bias else sp.x
        r0 = xa.norm().reshape(1, 1) if m == 1 else torch.linalg.qr(xa.T, mode="r").R   # (r0, m)
    else:        # weights (c, fan_out, fan_in) in nn.Linear layout, biases (c, 1, fan_out)
        bufs = [torch.empty(c0, fo, fi, dtype=dt, device=dev) for fi, fo in fans]
        bbufs = [torch.empty(c0, 1, fo, dtype=dt, device=dev) for _, fo in fans] if sp.bias else []
    starts = range(0, sp.n, c0)
    if progress:
        from tqdm import tqdm
        starts = tqdm(starts, desc="init chunks", unit="chunk")
    for s in starts:
        c = min(c0, sp.n - s)
        for b0 in range(s, s + c, sp.block):
            g = derive_generator(sp.seed, "init-block", b0 // sp.block, device=dev)
            sl = slice(b0 - s, min(b0 - s + sp.block, c))
            for l_, (fi, fo) in enumerate(fans):
                if sp.pre:
                    bufs[l_][sl].normal_(generator=g)
                else:
                    sp.scheme.fill_(bufs[l_][sl], fi, fo, g, sp.std)
                    if sp.bias:
                        sp.scheme.fill_(bbufs[l_][sl], fi, fo, g, sp.std)
        h = None
        for l_, (fi, fo) in enumerate(fans):
            if sp.pre:   # z = σ Rᵀ ξ with Rᵀ R = [H, 1][H, 1]ᵀ: columns ~ N(0, σ²(H Hᵀ + b 11ᵀ)) exactly
                sig, xi = sp.scheme.param(fi, fo, sp.std), bufs[l_][:c]
                if h is None:
                    z = xi * (sig * r0) if m == 1 else torch.matmul(r0.T * sig, xi)
                elif m == 1:
                    nrm = torch.linalg.vector_norm(h, dim=2, keepdim=True)
                    nrm = torch.sqrt(nrm.square_().add_(1.0)) if sp.bias else nrm
                    z = xi * nrm.mul_(sig)
                else:
                    a = torch.cat([h, torch.ones(c, m, 1, dtype=dt, device=dev)], 2) if sp.bias else h
                    rt = torch.linalg.qr(a.transpose(1, 2), mode="r").R.transpose(1, 2)   # (c, m, r)
                    z = torch.bmm(rt, xi).mul_(sig)
            else:
                hin = sp.x.expand(c, m, fi) if h is None else h
                wt = bufs[l_][:c].transpose(1, 2)
                z = torch.baddbmm(bbufs[l_][:c], hin, wt) if sp.bias else torch.bmm(hin, wt)
            h = sp.act(z) if l_ < L - 1 else z
        dead = (h == 0).flatten(1).all(1)
        diff = h.sub_(sp.y)
        losses = (diff.square_() if sp.loss == "mse" else diff.abs_()).mean((1, 2))
        yield s, losses, dead


def sample_init_losses(layer_sizes, *, init: str, n_inits: int, x: torch.Tensor, y: torch.Tensor,
                       activation: str = "relu", loss: str = "mse", bias: str = "zero",
                       chunk_size: int = 4096, seed: int = 0, device="cpu", method: str = "weights",
                       std: float | None = None, progress: bool = False) -> torch.Tensor:
    """Loss of ``n_inits`` independently initialized MLPs ``layer_sizes = [d_in, w_1, …, d_out]`` at init.

    ℓ_i = mean_{samples, outputs} (f_i(x) − y)² (``"mse"``) or ``|f_i(x) − y|`` (``"mae"``), with
    f_i = W_L act(… act(W_1 x + b_1) …) + b_L (linear output layer) [ours, the setting of Teague 2022].

    Args:
        layer_sizes: [d_in, w_1, …, d_out], positive ints. init: a name from ``init_names()``.
        x: (m, d_in) float. y: (m, d_out), or (m,) when d_out = 1 (cast to x's dtype).
        bias: "zero", or "sampled" (i.i.d. from the layer's weight distribution).
        chunk_size: inits per forward pass; rounded up to whole RNG blocks and capped at 256 MB of
            random numbers. Results are bitwise identical for every chunk_size.
        method: "weights" samples W_l as (B, fan_out, fan_in) tensors (one RNG pass each) and runs
            ``bmm``; "preactivation" (Gaussian schemes only) samples each layer's pre-activations
            exactly given the previous activations H: columns ~ N(0, σ²(H Hᵀ + [bias] 11ᵀ)), via QR of
            [H, 1]ᵀ (m = 1: σ‖h‖·N(0, I)), so ~Σ widths normals per init instead of P [ours].
            Both are exact; the draws (hence individual values) differ between methods.
    Returns:
        (n_inits,) tensor on ``device`` in x's dtype.
    """
    sp = _spec(layer_sizes, init=init, n_inits=n_inits, x=x, y=y, activation=activation, loss=loss, bias=bias,
               chunk_size=chunk_size, seed=seed, device=device, method=method, std=std)
    out = torch.empty(sp.n, dtype=sp.x.dtype, device=sp.device)
    for s, losses, _ in _chunks(sp, progress):
        out[s:s + losses.numel()] = losses
    return out


@dataclass(frozen=True, eq=False)
class LossHistogram:
    """Fixed-edge counts of normalised init losses. counts[k]: edges[k] ≤ u < edges[k+1];
    underflow: u < edges[0]; overflow: u ≥ edges[-1] or non-finite; counts.sum()+underflow+overflow == n.
    dead: inits whose output is exactly 0 on every sample (all in bin ``dead_bin``: −1 underflow,
    len(counts) overflow, None if dead == 0). dead_loss: their (common) normalised loss, that of the
    zero predictor (nan if dead == 0)."""

    counts: np.ndarray
    edges: np.ndarray
    underflow: int
    overflow: int
    n: int
    dead: int
    dead_bin: int | None
    dead_loss: float

    def __getitem__(self, key: str):
        return getattr(self, key)


def bucket_counts(u: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """(len(edges)+1,) int64: [underflow, counts…, overflow]; NaN counts as overflow."""
    idx = torch.bucketize(u.nan_to_num(nan=math.inf), edges, right=True)
    return torch.bincount(idx, minlength=edges.numel() + 1)


def check_edges(name, edges) -> np.ndarray:
    e = np.asarray(edges.detach().cpu() if isinstance(edges, torch.Tensor) else edges, dtype=np.float64)
    if e.ndim != 1 or e.size < 2 or not np.isfinite(e).all() or not (np.diff(e) > 0).all():
        raise ValueError(f"{name} must be a 1-D, finite, strictly increasing array of ≥ 2 values")
    return e


def init_loss_histogram(layer_sizes, *, edges, normalize_by: float | None = None, progress: bool = False,
                        **kwargs) -> LossHistogram:
    """Stream ``sample_init_losses(layer_sizes, **kwargs)`` chunk by chunk into counts on fixed ``edges``.

    u = ℓ / normalize_by (e.g. L₀ = mean y²) in float64, binned with ``torch.bucketize``; only one chunk's
    weights and losses are alive at a time, so memory is flat in ``n_inits``.
    """
    e = check_edges("edges", edges)
    scale = 1.0 if normalize_by is None else check_real("normalize_by", normalize_by, low=0.0, low_open=True)
    sp = _spec(layer_sizes, **kwargs)
    te = torch.as_tensor(e, device=sp.device)
    total = torch.zeros(e.size + 1, dtype=torch.int64, device=sp.device)
    dead_total, dead_u = 0, math.nan
    for _, losses, dead in _chunks(sp, progress):
        u = losses.double() / scale
        total += bucket_counts(u, te)
        k = int(dead.sum())
        if k and not dead_total:   # every dead net has the same loss: that of the zero predictor
            dead_u = float(u[dead][0])
        dead_total += k
    dbin = int(np.searchsorted(e, dead_u, side="right")) - 1 if dead_total else None
    t = total.cpu().numpy()
    return LossHistogram(t[1:-1].copy(), e, int(t[0]), int(t[-1]), sp.n, dead_total, dbin, dead_u)
