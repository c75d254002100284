"""Tests for gclib.sampling: init formulas, batched sampling, histograms, mode dominance."""
import math

import numpy as np
import pytest
import torch
from scipy import stats

from gclib.device import derive_generator
from gclib.dominance import dominance_bootstrap, mode_dominance
from gclib.sampling import (
    LossHistogram,
    get_init,
    init_loss_histogram,
    init_names,
    init_std,
    pcg64_uniform_,
    sample_init_losses,
    sample_weights,
)

FI, FO = 50, 20
# name -> (std of one weight for fan_in=50, fan_out=20, kind-specific bound or None); std=0.3 for "normal"
EXPECTED = {
    "he_normal": (math.sqrt(2 / FI), None),
    "he_uniform": (math.sqrt(2 / FI), math.sqrt(6 / FI)),
    "he_truncated_normal": (math.sqrt(2 / FI), 2 * math.sqrt(2 / FI) / 0.87962566103423978),
    "glorot_normal": (math.sqrt(2 / (FI + FO)), None),
    "glorot_uniform": (math.sqrt(2 / (FI + FO)), math.sqrt(6 / (FI + FO))),
    "lecun_normal": (math.sqrt(1 / FI), None),
    "lecun_uniform": (math.sqrt(1 / FI), math.sqrt(3 / FI)),
    "pytorch_default": (1 / math.sqrt(3 * FI), 1 / math.sqrt(FI)),
    "normal": (0.3, None),
}


def _std_kw(name):
    return {"std": 0.3} if name == "normal" else {}


def _data(m, d_in=4, d_out=1, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(m, d_in, generator=g), torch.randn(m, d_out, generator=g)


# ------------------------------------------------------------------------------------------ registry
def test_registry_names_and_unknown_name_lists_valid_ones():
    assert init_names() == list(EXPECTED)
    with pytest.raises(ValueError, match="he_normal.*pytorch_default"):
        get_init("kaiming")


@pytest.mark.parametrize("name", list(EXPECTED))
def test_init_std_matches_formula(name):
    assert init_std(name, FI, FO, **_std_kw(name)) == pytest.approx(EXPECTED[name][0], rel=1e-12)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_sampled_weight_moments_and_bounds(name):
    n = 100_000
    w = sample_weights(name, (100, FO, FI), FI, FO, generator=torch.Generator().manual_seed(3),
                       **_std_kw(name)).double().flatten()
    sd, bound = EXPECTED[name]
    kind = get_init(name).kind
    # SE of the sample std is σ·√((κ−1)/(4n)) with kurtosis κ ≤ 3 here; mean SE σ/√n: 4 SE each
    assert abs(float(w.std()) - sd) < 4 * sd * math.sqrt(2 / (4 * n))
    assert abs(float(w.mean())) < 4 * sd / math.sqrt(n)
    if kind == "uniform":
        assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.999 * bound
    elif kind == "truncated":   # truncated at ±2 underlying std (float32 rounding allowed)
        assert float(w.abs().max()) <= bound * (1 + 1e-6) and float(w.abs().max()) > 0.995 * bound
    else:                       # untruncated: P(|w| > 2σ) = 0.0455, 4 binomial SE
        frac = float((w.abs() > 2 * sd).double().mean())
        assert abs(frac - 0.0455) < 4 * math.sqrt(0.0455 * 0.9545 / n)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_truncated_normal_both_uniform_sources_follow_the_truncated_law(dtype):
    """The PCG64 path (contiguous CPU tensors) and the generator path (strided views; CUDA) each pass a KS
    test against scipy's truncnorm, and the PCG64 path is a function of the torch generator alone."""
    a, n = 0.5, 200_000
    law = stats.truncnorm(-2, 2, scale=a).cdf
    fast = torch.empty(n, dtype=dtype)
    get_init("he_truncated_normal").fill_(fast, 1, 1, torch.Generator().manual_seed(5))
    strided = torch.empty(n // 400, 400, dtype=dtype).t()
    get_init("he_truncated_normal").fill_(strided, 1, 1, torch.Generator().manual_seed(5))
    scale = math.sqrt(2.0) / 0.87962566103423978   # he_truncated_normal's a at fan_in = 1
    for w in (fast, strided.flatten()):
        assert stats.kstest(w.double().numpy() / scale * a, law).pvalue > 1e-3
    assert stats.ks_2samp(fast.numpy(), strided.flatten().numpy()).pvalue > 1e-3
    g = torch.Generator().manual_seed(5)
    again, after = torch.empty(n, dtype=dtype), torch.empty(n, dtype=dtype)
    get_init("he_truncated_normal").fill_(again, 1, 1, g)
    get_init("he_truncated_normal").fill_(after, 1, 1, g)
    assert torch.equal(again, fast) and not torch.equal(after, fast)


@pytest.mark.parametrize("n", [1, 2, 7, 4096])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pcg64_uniforms_are_numpys_own(n, dtype):
    u = np.empty(n, dtype)
    pcg64_uniform_(u, 123, 3.0)
    ref = np.random.Generator(np.random.PCG64(123)).random(n, dtype=dtype) * dtype(3.0)
    assert u.dtype == dtype and np.array_equal(u, ref)


def test_sample_weights_bad_inputs():
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="std is only used"):
        sample_weights("he_normal", (3,), 2, 2, generator=g, std=1.0)
    with pytest.raises(ValueError, match="needs std"):
        sample_weights("normal", (3,), 2, 2, generator=g)
    with pytest.raises(ValueError, match="std must be"):
        init_std("normal", 2, 2, std=-1.0)
    with pytest.raises(TypeError, match="generator"):
        sample_weights("he_normal", (3,), 2, 2, generator=0)
    with pytest.raises(ValueError, match="fan_in"):
        init_std("he_normal", 0, 2)
    with pytest.raises(TypeError, match=r"shape\[1\]"):
        sample_weights("he_normal", (3, 1.5), 2, 2, generator=g)


# ---------------------------------------------------------------------------------------- batched losses
@pytest.mark.parametrize("method,bias,init", [("weights", "zero", "he_truncated_normal"),
                                              ("weights", "sampled", "pytorch_default"),
                                              ("preactivation", "sampled", "he_normal")])
def test_chunk_size_invariance_is_bitwise(method, bias, init):
    x, y = _data(3)
    kw = dict(init=init, n_inits=2500, x=x, y=y, bias=bias, method=method, seed=7)
    ref = sample_init_losses([4, 16, 8, 1], chunk_size=2500, **kw)
    for cs in (1, 1024, 4096):
        assert torch.equal(sample_init_losses([4, 16, 8, 1], chunk_size=cs, **kw), ref)
    assert not torch.equal(sample_init_losses([4, 16, 8, 1], chunk_size=1024, **{**kw, "seed": 8}), ref)


def _naive_losses(name, sizes, n, x, y, bias, seed):
    """Reference: one nn.Module MLP per init, initialised by torch.nn.init (independent implementation)."""
    init = torch.nn.init
    g = torch.Generator().manual_seed(seed)
    out = []
    with torch.random.fork_rng():
        torch.manual_seed(seed)   # nn.Linear's own default init uses the global RNG (test only)
        for _ in range(n):
            layers = [torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
            for lin in layers:
                w = lin.weight
                su = math.sqrt(2 / w.shape[1]) / 0.87962566103423978
                {"he_normal": lambda: init.kaiming_normal_(w, nonlinearity="relu", generator=g),
                 "he_uniform": lambda: init.kaiming_uniform_(w, nonlinearity="relu", generator=g),
                 "he_truncated_normal": lambda: init.trunc_normal_(w, 0, su, -2 * su, 2 * su, generator=g),
                 "glorot_normal": lambda: init.xavier_normal_(w, generator=g),
                 "glorot_uniform": lambda: init.xavier_uniform_(w, generator=g),
                 "lecun_normal": lambda: init.kaiming_normal_(w, nonlinearity="linear", generator=g),
                 "lecun_uniform": lambda: init.kaiming_uniform_(w, nonlinearity="linear", generator=g),
                 "normal": lambda: init.normal_(w, std=0.3, generator=g),
                 "pytorch_default": lambda: w}[name]()
                if bias == "zero":
                    init.zeros_(lin.bias)
            net = torch.nn.Sequential(*[m for lin in layers for m in (lin, torch.nn.ReLU())][:-1])
            with torch.no_grad():
                out.append(float(((net(x) - y) ** 2).mean()))
    return np.array(out)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_batched_matches_naive_module_loop(name):
    x, y = _data(2, d_in=3)
    bias = "sampled" if name == "pytorch_default" else "zero"
    ours = sample_init_losses([3, 6, 6, 1], init=name, n_inits=2000, x=x, y=y, bias=bias, seed=11,
                              **_std_kw(name))
    ref = _naive_losses(name, [3, 6, 6, 1], 2000, x, y, bias, seed=11)
    assert stats.ks_2samp(ours.numpy(), ref).pvalue > 0.01


@pytest.mark.parametrize("m,bias,init,act", [(1, "zero", "he_normal", "relu"),
                                             (3, "zero", "he_normal", "relu"),
                                             (3, "sampled", "glorot_normal", "tanh"),
                                             (5, "sampled", "normal", "relu")])
def test_preactivation_shortcut_matches_weight_path(m, bias, init, act):
    x, y = _data(m)
    kw = dict(init=init, n_inits=5000, x=x, y=y, bias=bias, activation=act, **_std_kw(init))
    a = sample_init_losses([4, 32, 32, 1], method="weights", seed=1, **kw)
    b = sample_init_losses([4, 32, 32, 1], method="preactivation", seed=2, **kw)
    assert stats.ks_2samp(a.numpy(), b.numpy()).pvalue > 0.01


def test_linear_net_analytic_loss_mean():
    # linear 4-8-1, lecun_normal, zero bias: f = W2 W1 x, E f² = ‖x‖²/4 · (8·1/8) → E ℓ = y² + ‖x‖²/4
    x, y = _data(1)
    ls = sample_init_losses([4, 8, 1], init="lecun_normal", n_inits=20000, x=x, y=y, activation="linear")
    want = float(y.square() + x.square().sum() / 4)
    assert abs(float(ls.mean()) - want) < 4 * float(ls.std()) / math.sqrt(20000)
    mae = sample_init_losses([4, 8, 1], init="lecun_normal", n_inits=10, x=x, y=y[0], loss="mae")
    assert mae.shape == (10,) and bool((mae >= 0).all())


def test_preactivation_rejects_non_gaussian_scheme():
    x, y = _data(1)
    with pytest.raises(ValueError, match="exact only for Gaussian"):
        sample_init_losses([4, 8, 1], init="he_uniform", n_inits=10, x=x, y=y, method="preactivation")


BAD_SAMPLE = [
    ({"n_inits": 0}, ValueError, "n_inits"), ({"n_inits": -3}, ValueError, "n_inits"),
    ({"n_inits": 2.0}, TypeError, "n_inits"), ({"layer_sizes": [4, 0, 1]}, ValueError, r"layer_sizes\[1\]"),
    ({"layer_sizes": [4]}, ValueError, "at least 2"), ({"layer_sizes": "41"}, TypeError, "layer_sizes"),
    ({"init": "he"}, ValueError, "unknown init"), ({"activation": "elu"}, ValueError, "unknown activation"),
    ({"loss": "ce"}, ValueError, "unknown loss"), ({"bias": "random"}, ValueError, "unknown bias"),
    ({"method": "fast"}, ValueError, "unknown method"), ({"chunk_size": 0}, ValueError, "chunk_size"),
    ({"seed": 1.5}, TypeError, "seed"), ({"std": 0.1}, ValueError, "std is only used"),
    ({"init": "normal"}, ValueError, "needs std"), ({"device": "tpu:x"}, ValueError, "device"),
    ({"x": torch.full((2, 4), math.nan)}, ValueError, "x contains NaN"),
    ({"y": torch.tensor([[1.0], [math.nan]])}, ValueError, "y contains NaN"),
    ({"x": torch.zeros(2, 5)}, ValueError, "x must have shape"),
    ({"x": torch.zeros(4)}, ValueError, "x must have"),
    ({"y": torch.zeros(3, 1)}, ValueError, "y must have shape"),
    ({"y": torch.zeros(2, 2)}, ValueError, "y must"),
    ({"x": np.zeros((2, 4))}, TypeError, "x must be a torch.Tensor"),
    ({"x": torch.zeros(2, 4, dtype=torch.int64)}, TypeError, "floating"),
]


@pytest.mark.parametrize("override,exc,msg", BAD_SAMPLE)
def test_sample_init_losses_bad_inputs(override, exc, msg):
    kw = dict(layer_sizes=[4, 8, 1], init="he_normal", n_inits=10, x=torch.zeros(2, 4), y=torch.zeros(2))
    kw.update(override)
    with pytest.raises(exc, match=msg):
        sample_init_losses(kw.pop("layer_sizes"), **kw)


# ---------------------------------------------------------------------------------------------- histogram
def test_histogram_counts_match_losses_and_sum_to_n():
    x, y = _data(2)
    kw = dict(init="he_uniform", n_inits=3000, x=x, y=y, chunk_size=1024, seed=3)
    edges = np.linspace(0.2, 3.0, 15)   # starts above 0 so underflow is exercised
    h = init_loss_histogram([4, 8, 8, 1], edges=edges, normalize_by=0.5, **kw)
    u = sample_init_losses([4, 8, 8, 1], **kw).double().numpy() / 0.5
    assert int(h.counts.sum()) + h.underflow + h.overflow == h.n == 3000
    assert h.underflow == int((u < 0.2).sum()) > 0 and h.overflow == int((u >= 3.0).sum()) > 0
    assert np.array_equal(h.counts, np.histogram(u[(u >= 0.2) & (u < 3.0)], bins=edges)[0])
    assert h["n"] == 3000 and h["dead"] == h.dead >= 0


def test_dead_networks_counted_exactly():
    # ReLU, zero bias, hidden width 1, one sample: the net is dead iff w₁·x ≤ 0 (probability 1/2)
    x, y = _data(1)
    for method in ("weights", "preactivation"):
        kw = dict(init="he_normal", n_inits=4000, x=x, y=y, method=method)
        h = init_loss_histogram([4, 1, 1], edges=np.linspace(0, 4, 41), normalize_by=float(y.square()), **kw)
        ls = sample_init_losses([4, 1, 1], **kw)
        vals, reps = torch.unique(ls, return_counts=True)
        assert h.dead == int(reps.max()) and float(vals[reps.argmax()]) == pytest.approx(float(y.square()))
        assert abs(h.dead / 4000 - 0.5) < 4 * math.sqrt(0.25 / 4000)
        assert h.dead_loss == pytest.approx(1.0) and h.dead_bin == 10
    h = init_loss_histogram([4, 1, 1], edges=[0.0, 1.0, 2.0], init="pytorch_default", bias="sampled",
                            n_inits=500, x=x, y=y)
    assert h.dead == 0


def test_histogram_bad_inputs():
    x, y = _data(1)
    kw = dict(init="he_normal", n_inits=10, x=x, y=y)
    with pytest.raises(ValueError, match="edges"):
        init_loss_histogram([4, 2, 1], edges=[1.0, 0.5], **kw)
    with pytest.raises(ValueError, match="edges"):
        init_loss_histogram([4, 2, 1], edges=[1.0], **kw)
    with pytest.raises(ValueError, match="normalize_by"):
        init_loss_histogram([4, 2, 1], edges=[0.0, 1.0], normalize_by=0.0, **kw)
    with pytest.raises(ValueError, match="n_inits"):
        init_loss_histogram([4, 2, 1], edges=[0.0, 1.0], **{**kw, "n_inits": 0})


# ------------------------------------------------------------------------------------------ mode dominance
def _ncx2_toy(r, n=200_000, seed=0):
    """(f − y)²/s² with f ~ N(0, s²), |y|/s = r: noncentral χ²₁ with λ = r²."""
    return (np.random.default_rng(seed).standard_normal(n) - r) ** 2


@pytest.mark.parametrize("r", [0, 1, 2, 3])
def test_noncentral_chi2_toy(r):
    u_max = (r + 3) ** 2
    md = mode_dominance(_ncx2_toy(r), n_bins=50, u_max=float(u_max))
    mass = stats.ncx2.cdf(u_max / 50, 1, r * r) if r else stats.chi2.cdf(u_max / 50, 1)
    assert abs(md.first_bin_mass - mass) < 4 * math.sqrt(mass * (1 - mass) / 200_000)
    if r <= 2:
        assert md.dominant == "zero" and md.zero_mode and md.D > 0
    else:
        assert md.dominant == "central" and not md.zero_mode and md.D < 0
        assert round(md.uc / (u_max / 50) + 0.5) in (9, 10)   # 1-based bin of the central mode
        assert md.contracting and md.log_cdf_slope > 1
    assert md.density.sum() * u_max / 50 == pytest.approx(1 - md.overflow_fraction)


def test_counts_path_equals_losses_path_with_dead_atom():
    x, y = _data(1)
    kw = dict(init="he_normal", n_inits=3000, x=x, y=y)
    l0 = float(y.square().mean())
    h = init_loss_histogram([4, 2, 1], edges=np.linspace(0, 4, 101), normalize_by=l0, **kw)
    assert h.dead > 0
    a = mode_dominance(counts=h)
    b = mode_dominance(sample_init_losses([4, 2, 1], **kw), l_ref=l0, dead=h.dead)
    c = mode_dominance(counts=h.counts, edges=h.edges, overflow=h.overflow, dead=h.dead, dead_u=h.dead_loss)
    for other in (b, c):
        assert np.array_equal(a.density, other.density) and a.D == other.D and a.dominant == other.dominant
    assert a.dead_fraction == h.dead / 3000 and a.counts.sum() + h.dead + h.overflow == 3000


def test_dead_atom_never_forms_the_central_mode():
    u = np.concatenate([np.abs(np.random.default_rng(1).normal(0, 0.3, 5000)), np.ones(3000)])
    assert mode_dominance(u).central_mode_count == 1   # the atom at u = 1 looks like a central mode
    md = mode_dominance(u, dead=3000)
    assert md.central_mode_count == 0 and md.dominant == "zero" and md.dead_fraction == 3000 / 8000


def test_contracting_volume_detects_a_dip():
    rng = np.random.default_rng(2)
    smooth = rng.gamma(6.0, 0.3, 100_000)        # density rises from 0 to a mode near 1.5
    assert mode_dominance(smooth).contracting is True
    dip = np.concatenate([rng.uniform(0, 0.5, 30_000), rng.normal(2.0, 0.2, 70_000)])
    md = mode_dominance(np.abs(dip))
    assert md.dominant == "central" and md.contracting is False


def test_bootstrap_ci_brackets_d_and_separates_regimes():
    d0, (lo, hi) = dominance_bootstrap(_ncx2_toy(0, 20_000), n_boot=100, n_bins=50, u_max=9.0)
    assert lo <= d0 <= hi and lo > 0
    d3, (lo3, hi3) = dominance_bootstrap(_ncx2_toy(3, 20_000), n_boot=100, n_bins=50, u_max=36.0)
    assert hi3 < 0 and lo3 <= d3 <= hi3
    again = dominance_bootstrap(_ncx2_toy(3, 20_000), n_boot=100, n_bins=50, u_max=36.0)
    assert again == (d3, (lo3, hi3))
    x, y = _data(1)
    h = init_loss_histogram([4, 8, 1], edges=np.linspace(0, 4, 41), init="he_normal", n_inits=2000, x=x, y=y,
                            normalize_by=float(y.square()))
    d, (lo, hi) = dominance_bootstrap(h, n_boot=50)
    assert isinstance(h, LossHistogram) and lo <= d <= hi


BAD_MODE = [
    (dict(), ValueError, "exactly one"), (dict(losses=[1.0], counts=[1, 2, 3]), ValueError, "exactly one"),
    (dict(losses=np.array([-1.0, 1.0])), ValueError, "non-negative"),
    (dict(losses=np.array([math.nan, 1.0])), ValueError, "NaN"),
    (dict(losses=np.ones((2, 2))), ValueError, "1-D"),
    (dict(losses=np.ones(3), n_bins=0), ValueError, "n_bins"),
    (dict(losses=np.ones(3), n_bins=2), ValueError, "at least 3 bins"),
    (dict(losses=np.ones(3), u_max=0.0), ValueError, "u_max"),
    (dict(losses=np.ones(3), l_ref=0), ValueError, "l_ref"),
    (dict(losses=np.ones(3), smooth=2), ValueError, "odd"),
    (dict(losses=np.ones(3), prominence=2), ValueError, "prominence"),
    (dict(losses=np.full(3, 2.0), dead=1), ValueError, "dead=1 exceeds"),
    (dict(losses=np.ones(3), dead=-1), ValueError, "dead"),
    (dict(counts=[1, 2, 3]), ValueError, "needs edges"),
    (dict(counts=[1, 2, 3], edges=[0, 1, 2]), ValueError, "non-negative integers"),
    (dict(counts=[1, -2, 3], edges=[0, 1, 2, 3]), ValueError, "non-negative integers"),
    (dict(counts=[1, 2, 3], edges=[0, 1, 3, 4]), ValueError, "equally spaced"),
    (dict(counts=[1, 2, 3], edges=[1, 2, 3, 4]), ValueError, "first edge"),
]


@pytest.mark.parametrize("kw,exc,msg", BAD_MODE)
def test_mode_dominance_bad_inputs(kw, exc, msg):
    with pytest.raises(exc, match=msg):
        mode_dominance(**kw)


def test_bootstrap_bad_inputs():
    with pytest.raises(ValueError, match="n_boot"):
        dominance_bootstrap(np.ones(10), n_boot=0)
    with pytest.raises(TypeError, match="unexpected"):
        dominance_bootstrap(np.ones(10), bins=3)
    with pytest.raises(ValueError, match="level"):
        dominance_bootstrap(np.ones(10), level=1.0)
    with pytest.raises(TypeError, match="seed"):
        dominance_bootstrap(np.ones(10), seed="0")


def test_generator_streams_are_per_block():
    # the first block of inits draws from derive_generator(seed, "init-block", 0): first-layer weights
    x, y = torch.eye(2), torch.zeros(2, 2)
    ls = sample_init_losses([2, 2], init="he_uniform", n_inits=3, x=x, y=y, activation="linear", seed=5)
    w = sample_weights("he_uniform", (3, 2, 2), 2, 2, generator=derive_generator(5, "init-block", 0))
    assert torch.allclose(ls, w.square().mean((1, 2)))


def test_progress_bar_and_gelu_do_not_change_results(capsys):
    x, y = _data(2)
    kw = dict(init="lecun_normal", n_inits=1500, x=x, y=y, activation="gelu", chunk_size=1024)
    a = sample_init_losses([4, 8, 1], **kw)
    b = sample_init_losses([4, 8, 1], progress=True, **kw)
    assert torch.equal(a, b) and "init chunks" in capsys.readouterr().err
