"""Tests for gclib.complexity: analytic truths, an independent Jacobian reference, invariances, Monte Carlo
within standard errors, bounds, and bad inputs."""
from __future__ import annotations

import math
import statistics

import pytest
import torch
from torch import nn

from gclib.complexity import (
    GCResult,
    gc_penalty,
    geometric_complexity,
    layer_weights,
    leading_linear_cut,
    parameter_norm_bound,
    reverse_work,
    spectral_norm_bound,
)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _reference_gc(model: nn.Module, x: torch.Tensor) -> float:
    """Independent reference: per-example torch.autograd.functional.jacobian (loop allowed in tests)."""
    total = 0.0
    for xi in x:
        jac = torch.autograd.functional.jacobian(lambda z: model(z.unsqueeze(0))[0], xi)
        total += float(jac.double().square().sum())
    return total / x.shape[0]


def _tanh_net(d=6, h=9, k=4, seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, h), nn.Tanh(), nn.Linear(h, k)).to(dtype)


def _conv_net(seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(),
        nn.Conv2d(4, 3, 3, stride=2), nn.Tanh(),
        nn.Flatten(), nn.Linear(27, 5),
    ).to(dtype)


class _Constant(nn.Module):
    """Ignores x: f(x) = b (a parameter), so GC = 0."""

    def __init__(self, k=3):
        super().__init__()
        self.b = nn.Parameter(torch.arange(k, dtype=torch.float32))

    def forward(self, x):
        return self.b.expand(x.shape[0], -1)


class _NoOutputs(nn.Module):
    def forward(self, x):
        return x.flatten(1)[:, :0]


class _Raises(nn.Module):
    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        raise RuntimeError("boom")


# ---------------------------------------------------------------- analytic truths and references


@pytest.mark.parametrize("k,d", [(1, 1), (1, 5), (3, 7), (10, 100), (20, 4)])
def test_linear_gc_is_frobenius_norm_squared(k, d):
    torch.manual_seed(k * 100 + d)
    lin = nn.Linear(d, k)
    x = torch.randn(13, d)
    res = geometric_complexity(lin, x)
    expected = float(lin.weight.detach().double().square().sum())
    assert res.value == pytest.approx(expected, rel=1e-5)
    assert (res.n, res.k, res.method, res.stderr) == (13, k, "exact", None)


def test_constant_model_has_zero_gc():
    x = torch.randn(6, 4)
    assert geometric_complexity(_Constant(), x).value == 0.0
    assert geometric_complexity(_Constant(), x, method="hutchinson", n_probes=3).value == 0.0
    lin = nn.Linear(4, 2)
    nn.init.zeros_(lin.weight)
    assert geometric_complexity(lin, x).value == 0.0
    assert float(gc_penalty(_Constant(), x).detach()) == 0.0


def test_tanh_net_matches_autograd_jacobian_reference():
    model = _tanh_net()
    x = torch.randn(11, 6, dtype=torch.float64, generator=_gen(1))
    assert geometric_complexity(model, x).value == pytest.approx(_reference_gc(model, x), rel=1e-10)


def test_image_inputs_conv_net_matches_reference():
    model = _conv_net()
    x = torch.randn(5, 2, 7, 7, dtype=torch.float64, generator=_gen(2))
    res = geometric_complexity(model, x)
    assert res.k == 5
    assert res.value == pytest.approx(_reference_gc(model, x), rel=1e-10)


def test_chunk_size_invariance_exact_and_hutchinson():
    model = _tanh_net(dtype=torch.float32)
    x = torch.randn(23, 6, generator=_gen(3))
    full = geometric_complexity(model, x).value
    for cs in (1, 7, 23, 100):
        assert geometric_complexity(model, x, chunk_size=cs).value == pytest.approx(full, rel=1e-6)
    h = [geometric_complexity(model, x, method="hutchinson", n_probes=4, chunk_size=cs, generator=_gen(9))
         for cs in (None, 1, 7)]
    assert h[1].value == pytest.approx(h[0].value, rel=1e-6)
    assert h[2].value == pytest.approx(h[0].value, rel=1e-6)
    assert h[2].stderr == pytest.approx(h[0].stderr, rel=1e-5)


def test_mode_restored_and_eval_mode_used():
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))
    model.train()
    model[1].eval()  # a mixed state must come back exactly
    before = [m.training for m in model.modules()]
    x = torch.randn(16, 5, generator=_gen(5))
    res = geometric_complexity(model, x, chunk_size=3)
    assert [m.training for m in model.modules()] == before
    model.eval()
    assert res.value == pytest.approx(_reference_gc(model, x), rel=1e-5)  # dropout off, BN running stats

    bad = _Raises().train()
    with pytest.raises(RuntimeError, match="boom"):
        geometric_complexity(bad, x)
    assert bad.training and bad.drop.training


def test_gc_penalty_does_not_change_mode_and_works_under_no_grad():
    model = _tanh_net().train()
    x = torch.randn(4, 6, dtype=torch.float64, generator=_gen(6))
    gc_penalty(model, x)
    assert all(m.training for m in model.modules())
    with torch.no_grad():
        assert geometric_complexity(model, x).value == pytest.approx(_reference_gc(model, x), rel=1e-10)


class _Skip(nn.Module):
    """x reaches the output through the first Linear AND directly (a skip): the cut must not be used."""

    def __init__(self, d=12, h=5, k=3, twice=False, scale_input=False):
        super().__init__()
        self.lin1, self.lin2 = nn.Linear(d, h), nn.Linear(h, k)
        self.twice, self.scale_input = twice, scale_input

    def forward(self, x):
        x = x.flatten(1)
        z = self.lin1(2 * x if self.scale_input else x)
        out = self.lin2(torch.tanh(z))
        if self.twice:
            return out + 0.5 * self.lin2(self.lin1(x) ** 2)
        if self.scale_input:
            return out
        return out + 0.5 * x[:, :3]


def test_leading_linear_cut_is_used_and_exact():
    torch.manual_seed(20)
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 5), nn.Tanh(), nn.Linear(5, 4)).double()
    x = torch.randn(7, 2, 3, 3, dtype=torch.float64, generator=_gen(21))
    xin = x.detach().requires_grad_(True)
    assert leading_linear_cut(model, xin, graph=False)[2] is not None  # the cut engages for Flatten + Linear
    assert geometric_complexity(model, x, chunk_size=3).value == pytest.approx(_reference_gc(model, x),
                                                                               rel=1e-10)
    model.requires_grad_(False)  # frozen parameters: the cut still has a leaf to differentiate
    assert geometric_complexity(model, x).value == pytest.approx(_reference_gc(model, x), rel=1e-10)


def test_leading_linear_cut_only_where_it_saves_work():
    """Cut costs h^2 d + R N h^2, uncut R N h d: with d = 40, h = 20, K = 3 the cut pays from N = 14 on."""
    torch.manual_seed(24)
    model = nn.Sequential(nn.Linear(40, 20), nn.Tanh(), nn.Linear(20, 3)).double()
    for n, cut in ((2, False), (13, False), (14, True), (60, True)):
        x = torch.randn(n, 40, dtype=torch.float64, generator=_gen(25))
        work = reverse_work(model, "exact", 1, n)
        assert work == 3 * n
        gram = leading_linear_cut(model, x.detach().requires_grad_(True), graph=False, work=work)[2]
        assert (gram is not None) == cut
        assert geometric_complexity(model, x).value == pytest.approx(_reference_gc(model, x), rel=1e-10)
        assert float(gc_penalty(model, x).detach()) == pytest.approx(_reference_gc(model, x), rel=1e-10)
    assert reverse_work(model, "hutchinson", 4, 5) == 20


@pytest.mark.parametrize("kw", [{}, dict(twice=True), dict(scale_input=True)],
                         ids=["skip", "called_twice", "preprocessed"])
def test_leading_linear_cut_falls_back_when_x_has_other_paths(kw):
    torch.manual_seed(22)
    model = _Skip(**kw).double()
    x = torch.randn(6, 12, dtype=torch.float64, generator=_gen(23))
    assert leading_linear_cut(model, x.detach().requires_grad_(True), graph=False)[2] is None
    assert geometric_complexity(model, x).value == pytest.approx(_reference_gc(model, x), rel=1e-10)
    assert float(gc_penalty(model, x).detach()) == pytest.approx(_reference_gc(model, x), rel=1e-10)


# ---------------------------------------------------------------- Hutchinson


@pytest.mark.parametrize("probe", ["gaussian", "rademacher"])
def test_hutchinson_within_three_standard_errors(probe):
    model = _tanh_net(k=5, dtype=torch.float32)
    x = torch.randn(32, 6, generator=_gen(7))
    exact = geometric_complexity(model, x).value
    est = geometric_complexity(model, x, method="hutchinson", n_probes=64, probe=probe, generator=_gen(8))
    assert est.stderr > 0
    assert abs(est.value - exact) <= 3 * est.stderr
    assert est.stderr < 0.1 * exact  # informative, not just wide


def test_hutchinson_stderr_falls_as_inverse_sqrt_probes():
    model = _tanh_net(k=5, dtype=torch.float32)
    x = torch.randn(32, 6, generator=_gen(10))
    se16 = geometric_complexity(model, x, method="hutchinson", n_probes=16, generator=_gen(11)).stderr
    se256 = geometric_complexity(model, x, method="hutchinson", n_probes=256, generator=_gen(12)).stderr
    assert se16 / se256 == pytest.approx(4.0, rel=0.3)


def test_large_finite_inputs_whose_sum_overflows_are_accepted():
    x = torch.full((2, 4), 3e38)  # finite entries, float32 sum overflows to inf
    assert geometric_complexity(nn.Linear(4, 1, bias=False), x).value > 0


def test_hutchinson_single_draw_stderr_is_nan():
    res = geometric_complexity(nn.Linear(3, 2), torch.randn(1, 3), method="hutchinson")
    assert math.isnan(res.stderr)


# ---------------------------------------------------------------- per class, result object


def test_per_class_sums_to_total_and_matches_rows():
    model = _tanh_net(k=4)
    x = torch.randn(9, 6, dtype=torch.float64, generator=_gen(13))
    res = geometric_complexity(model, x, per_class=True, chunk_size=4)
    assert len(res.per_class) == 4
    assert sum(res.per_class) == pytest.approx(res.value, rel=1e-12)
    lin = nn.Linear(5, 3)
    rows = geometric_complexity(lin, torch.randn(4, 5), per_class=True).per_class
    assert rows == pytest.approx(lin.weight.detach().double().square().sum(1).tolist(), rel=1e-5)
    assert geometric_complexity(model, x).per_class is None


def test_result_formatting():
    r = GCResult(1.23456, 0.0104, 512, 10, "hutchinson", None)
    assert str(r) == "GC = 1.235 ± 0.0104 (hutchinson, N=512, K=10)"
    assert f"{r:.2f}" == "1.23" and float(r) == 1.23456
    assert str(GCResult(2.0, None, 3, 1, "exact", None)) == "GC = 2 (exact, N=3, K=1)"


# ---------------------------------------------------------------- penalty


@pytest.mark.parametrize("method", ["exact", "hutchinson"])
def test_gc_penalty_value_matches_geometric_complexity(method):
    model = _tanh_net().eval()
    x = torch.randn(10, 6, dtype=torch.float64, generator=_gen(14))
    pen = gc_penalty(model, x, method=method, n_probes=3, generator=_gen(15))
    ref = geometric_complexity(model, x, method=method, n_probes=3, generator=_gen(15)).value
    assert pen.dim() == 0 and pen.requires_grad
    assert float(pen.detach()) == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("d,h", [(3, 4), (5, 3)], ids=["uncut", "cut_leading_linear"])
def test_gc_penalty_gradient_matches_finite_differences(d, h):
    model = _tanh_net(d=d, h=h, k=2, seed=16)
    x = torch.randn(5, d, dtype=torch.float64, generator=_gen(17))
    params = list(model.parameters())
    grads = torch.autograd.grad(gc_penalty(model, x), params, allow_unused=True, materialize_grads=True)
    eps = 1e-6
    for p, g in zip(params, grads):
        flat, gflat = p.data.view(-1), g.reshape(-1)
        for j in range(flat.numel()):
            orig = float(flat[j])
            flat[j] = orig + eps
            up = float(gc_penalty(model, x).detach())
            flat[j] = orig - eps
            down = float(gc_penalty(model, x).detach())
            flat[j] = orig
            assert float(gflat[j]) == pytest.approx((up - down) / (2 * eps), rel=1e-6, abs=1e-8)


# ---------------------------------------------------------------- GC at initialization vs depth


def _init_gc(depth, std_fn, seed, width=128, d=100, k=10, n=64):
    """Bias-free ReLU MLP d -> width (x depth) -> k with N(0, std_fn(fan_in, fan_out)^2) weights."""
    g = _gen(seed)
    sizes = [d] + [width] * depth + [k]
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        lin = nn.Linear(fan_in, fan_out, bias=False)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(fan_out, fan_in, generator=g) * std_fn(fan_in, fan_out))
        layers += [lin, nn.ReLU()]
    x = torch.randn(n, d, generator=_gen(10_000 + seed))
    return geometric_complexity(nn.Sequential(*layers[:-1]), x).value


@pytest.mark.parametrize("std_fn", [lambda i, o: math.sqrt(2 / (i + o)), lambda i, o: math.sqrt(1 / i)],
                         ids=["glorot_normal", "lecun_normal"])
def test_gc_at_init_halves_per_layer_for_glorot_and_lecun(std_fn):
    gcs = [_init_gc(depth, std_fn, seed=depth) for depth in range(1, 10)]
    ratio = statistics.median(b / a for a, b in zip(gcs[:-1], gcs[1:]))
    assert ratio == pytest.approx(0.5, abs=0.15)


def test_gc_at_init_stays_of_order_one_for_he():
    # mean of 3 draws per depth (a single draw's ratio spreads 0.45-1.5 over seeds; 3-draw means 0.72-2.6)
    he = lambda i, o: math.sqrt(2 / i)  # noqa: E731
    deep = sum(_init_gc(16, he, seed=s) for s in range(3))
    shallow = sum(_init_gc(1, he, seed=100 + s) for s in range(3))
    assert deep / shallow >= 0.5


# ---------------------------------------------------------------- bounds


def _mlp(act, seed, sizes=(8, 16, 16, 4)):
    torch.manual_seed(seed)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), act()]
    return nn.Sequential(*layers[:-1])


@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bounds_dominate_exact_gc_on_mlps(act, seed):
    model = _mlp(act, seed)
    x = 3 * torch.randn(64, 8, generator=_gen(seed))
    gc = geometric_complexity(model, x).value
    assert 0 < gc <= spectral_norm_bound(model)
    assert gc <= parameter_norm_bound(model)
    with_shape = spectral_norm_bound(model, input_shape=(8,))
    assert with_shape == pytest.approx(spectral_norm_bound(model), rel=1e-12)


def test_bounds_exact_forms_on_linear_chain():
    torch.manual_seed(18)
    model = nn.Sequential(nn.Linear(6, 5), nn.Linear(5, 3))
    w1, w2 = (m.weight.detach().double() for m in layer_weights(model))
    ops = torch.linalg.matrix_norm(w1, ord=2) ** 2 * torch.linalg.matrix_norm(w2, ord=2) ** 2
    assert spectral_norm_bound(model) == pytest.approx(3 * float(ops), rel=1e-12)
    assert parameter_norm_bound(model) == pytest.approx(float(w1.square().sum() * w2.square().sum()),
                                                        rel=1e-12)


def test_spectral_bound_dominates_gc_on_conv_net():
    for seed in (0, 1):
        model = _conv_net(seed=seed)
        x = torch.randn(16, 2, 7, 7, dtype=torch.float64, generator=_gen(seed))
        assert 0 < geometric_complexity(model, x).value <= spectral_norm_bound(model, input_shape=(2, 7, 7))


@pytest.mark.parametrize("kw,shape", [
    (dict(in_channels=2, out_channels=3, kernel_size=3, padding=1), (2, 6, 6)),
    (dict(in_channels=2, out_channels=4, kernel_size=3, stride=2, padding=1), (2, 7, 7)),
    (dict(in_channels=4, out_channels=2, kernel_size=2, groups=2, dilation=2), (4, 6, 5)),
    (dict(in_channels=1, out_channels=3, kernel_size=(3, 1), padding="same"), (1, 5, 5)),
    (dict(in_channels=3, out_channels=16, kernel_size=3, padding=1), (3, 16, 16)),
])
def test_conv_operator_norm_matches_dense_reference(kw, shape):
    torch.manual_seed(1)
    conv = nn.Conv2d(**kw).double().requires_grad_(False)
    fn = lambda z: nn.functional.conv2d(z, conv.weight, None, conv.stride, conv.padding,  # noqa: E731
                                        conv.dilation, conv.groups)
    d = math.prod(shape)  # dense unrolled matrix: the conv applied to every standard basis vector
    mat = fn(torch.eye(d, dtype=torch.float64).reshape(d, *shape)).reshape(d, -1).T
    ref = float(torch.linalg.eigvalsh(mat.T @ mat)[-1])  # sigma_max^2
    k = mat.shape[0]
    est = spectral_norm_bound(nn.Sequential(conv), input_shape=shape) / min(k, d)  # default n_iter=50
    assert est == pytest.approx(ref, rel=1e-3)


def test_layer_weights_in_order_and_parameter_bound_rejects_conv():
    model = _conv_net()
    assert [type(m) for m in layer_weights(model)] == [nn.Conv2d, nn.Conv2d, nn.Linear]
    with pytest.raises(ValueError, match="Linear-only"):
        parameter_norm_bound(model)


# ---------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("fn", [geometric_complexity, gc_penalty])
@pytest.mark.parametrize("model,x,kw,err,match", [
    (_NoOutputs(), torch.randn(4, 3), {}, ValueError, "K = 0"),
    (nn.Linear(3, 2), torch.ones(4, 3, dtype=torch.int64), {}, TypeError, "floating"),
    (nn.Linear(3, 2), torch.tensor([[0.0, float("nan"), 1.0]]), {}, ValueError, "NaN"),
    (nn.Linear(3, 2), torch.tensor([[0.0, float("-inf"), 1.0]]), {}, ValueError, "infinite"),
    (nn.Linear(3, 2), torch.tensor([[float("inf"), float("-inf"), 1.0]]), {}, ValueError, "infinite"),
    (nn.Linear(3, 2), torch.randn(3), {}, ValueError, "at least 2"),
    (nn.Linear(3, 2), torch.randn(4, 3), dict(method="svd"), ValueError, "valid: exact, hutchinson"),
    (nn.Linear(3, 2), torch.randn(4, 3), dict(probe="uniform"), ValueError, "valid: gaussian, rademacher"),
    (nn.Linear(3, 2), torch.randn(4, 3), dict(n_probes=0), ValueError, "n_probes"),
    (nn.Linear(3, 2), torch.randn(4, 3), dict(n_probes=2.0), TypeError, "n_probes"),
    (nn.Linear(3, 2), torch.randn(4, 3), dict(generator=0), TypeError, "generator"),
    (nn.Flatten(0), torch.randn(4, 3), {}, ValueError, r"shape \(N, K\)"),
    (lambda z: z, torch.randn(4, 3), {}, TypeError, "nn.Module"),
])
def test_bad_inputs_raise(fn, model, x, kw, err, match):
    with pytest.raises(err, match=match):
        fn(model, x, **kw)


@pytest.mark.parametrize("kw,err,match", [
    (dict(chunk_size=-1), ValueError, "chunk_size"),
    (dict(chunk_size=0), ValueError, "chunk_size"),
    (dict(per_class=True, method="hutchinson"), ValueError, "per_class"),
    (dict(per_class=1), TypeError, "per_class"),
])
def test_bad_geometric_complexity_options(kw, err, match):
    with pytest.raises(err, match=match):
        geometric_complexity(nn.Linear(3, 2), torch.randn(4, 3), **kw)


def test_bad_bound_arguments():
    with pytest.raises(ValueError, match="input_shape"):
        spectral_norm_bound(_conv_net())
    with pytest.raises(ValueError, match="input_shape"):
        spectral_norm_bound(_conv_net(), input_shape=(2, 0, 7))
    with pytest.raises(ValueError, match="input_shape"):
        spectral_norm_bound(_conv_net(), input_shape=7)
    with pytest.raises(ValueError, match="n_iter"):
        spectral_norm_bound(nn.Linear(3, 2), n_iter=0)
    with pytest.raises(ValueError, match="no nn.Linear"):
        spectral_norm_bound(nn.ReLU())
    with pytest.raises(ValueError, match="no nn.Linear"):
        parameter_norm_bound(nn.Tanh())
    with pytest.raises(ValueError, match="padding_mode"):
        spectral_norm_bound(nn.Conv2d(1, 1, 3, padding=1, padding_mode="circular"), input_shape=(1, 4, 4))
    with pytest.raises(TypeError, match="nn.Module"):
        layer_weights("not a model")
