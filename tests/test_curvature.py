"""Tests for gclib.curvature and gclib.linalg: top eigenpairs against dense eigensolvers, the sharpness of
a quadratic loss in closed form and of a small MLP against the dense Hessian (float64), warm starts, chunk
invariance, the Gauss–Newton trace and penalty against exact per-example Jacobians, and bad input."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from gclib import curvature
from gclib.curvature import gn_penalty, gn_trace, hessian_vector_product, sharpness
from gclib.experiments import models
from gclib.linalg import top_eigenpair


def _sym(n, seed=0, shift=0.0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n, generator=g, dtype=torch.float64)
    return (a + a.T) / 2 + shift * torch.eye(n, dtype=torch.float64)


@pytest.mark.parametrize("method", ["lanczos", "power"])
def test_top_eigenpair_matches_dense_eigh(method):
    m = _sym(30, shift=0.0)
    evals, evecs = torch.linalg.eigh(m)
    # make the top eigenvalue dominant in magnitude too (power iteration finds the largest |λ|)
    m = m + (abs(float(evals[0])) + 1.0) * evecs[:, -1:] @ evecs[:, -1:].T
    top = float(torch.linalg.eigvalsh(m)[-1])
    v0 = torch.randn(30, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    pair = top_eigenpair(lambda v: m @ v, v0, n_iter=500, tol=1e-10, method=method)
    assert pair.converged and pair.value == pytest.approx(top, rel=1e-8)
    assert float(torch.linalg.vector_norm(m @ pair.vector - pair.value * pair.vector)) < 1e-6 * abs(top)


def test_lanczos_finds_the_largest_algebraic_eigenvalue_of_an_indefinite_operator():
    m = torch.diag(torch.tensor([-10.0, -3.0, 0.5, 1.0, 2.0], dtype=torch.float64))
    pair = top_eigenpair(lambda v: m @ v, torch.ones(5, dtype=torch.float64), n_iter=5, tol=1e-12)
    assert pair.value == pytest.approx(2.0, abs=1e-10)  # not -10, the largest magnitude
    power = top_eigenpair(lambda v: m @ v, torch.ones(5, dtype=torch.float64), n_iter=200, method="power")
    assert power.value == pytest.approx(-10.0, rel=1e-3)


def test_warm_start_converges_in_one_product():
    m = _sym(40, seed=2, shift=20.0)
    v0 = torch.randn(40, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    cold = top_eigenpair(lambda v: m @ v, v0, n_iter=100, tol=1e-9)
    warm = top_eigenpair(lambda v: m @ v, cold.vector, n_iter=100, tol=1e-6)
    assert warm.n_iter == 1 and warm.value == pytest.approx(cold.value, rel=1e-9)


def test_top_eigenpair_rejects_bad_input():
    m = torch.eye(3, dtype=torch.float64)
    with pytest.raises(ValueError, match="method"):
        top_eigenpair(lambda v: m @ v, torch.ones(3), method="arnoldi")
    with pytest.raises(ValueError, match="non-zero"):
        top_eigenpair(lambda v: m @ v, torch.zeros(3))
    with pytest.raises(TypeError, match="v0"):
        top_eigenpair(lambda v: m @ v, [1.0, 2.0])
    with pytest.raises(ValueError, match="n_iter"):
        top_eigenpair(lambda v: m @ v, torch.ones(3), n_iter=0)
    with pytest.raises(ValueError, match="tol"):
        top_eigenpair(lambda v: m @ v, torch.ones(3), tol=-1.0)


# ---------------------------------------------------------------- sharpness
def _linear_mse_problem(n=40, d=5, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64) * torch.linspace(0.5, 2.0, d, dtype=torch.float64)
    y = torch.randn(n, k, generator=g, dtype=torch.float64)
    model = nn.Linear(d, k).double()
    return model, x, y


def test_sharpness_of_linear_mse_is_twice_the_top_eigenvalue_of_the_input_second_moment():
    """loss = mean_i ‖W x_i + b − y_i‖²: H = 2 E[x̃ x̃ᵀ] ⊗ I_K with x̃ = (x, 1), so λ_max is known."""
    model, x, y = _linear_mse_problem()
    xt = torch.cat([x, torch.ones(len(x), 1, dtype=torch.float64)], 1)
    expected = 2 * float(torch.linalg.eigvalsh(xt.T @ xt / len(x))[-1])
    res = sharpness(model, x, y, loss="mse", n_iter=50, tol=1e-10)
    assert res.converged and res.value == pytest.approx(expected, rel=1e-9)
    power = sharpness(model, x, y, loss="mse", n_iter=2000, tol=1e-9, method="power")
    assert power.value == pytest.approx(expected, rel=1e-6)


def _mlp64(seed=0):
    return models.MLP([4, 6, 5, 3], activation="tanh", seed=seed).double()


def _dense_hessian(model, x, y):
    params = dict(model.named_parameters())
    names = list(params)
    shapes = [params[k].shape for k in names]
    flat0 = torch.cat([params[k].detach().reshape(-1) for k in names])

    def loss_of(flat):
        parts, i = {}, 0
        for k, s in zip(names, shapes):
            parts[k] = flat[i:i + math.prod(s)].reshape(s)
            i += math.prod(s)
        return F.cross_entropy(torch.func.functional_call(model, parts, (x,)), y)

    return torch.autograd.functional.hessian(loss_of, flat0)


def test_sharpness_of_a_small_mlp_matches_the_dense_hessian_float64():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(30, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (30,), generator=g)
    model = _mlp64()
    h = _dense_hessian(model, x, y)
    expected = float(torch.linalg.eigvalsh(h)[-1])
    res = sharpness(model, x, y, n_iter=100, tol=1e-10)
    assert res.value == pytest.approx(expected, rel=1e-8)
    hv = hessian_vector_product(model, x, y)(res.vector)
    assert torch.allclose(hv, h @ res.vector, atol=1e-10)
    # chunking gives the same Hessian-vector products and eigenvalue
    chunked = hessian_vector_product(model, x, y, chunk_size=7)(res.vector)
    assert torch.allclose(chunked, hv, atol=1e-12)
    chunked_res = sharpness(model, x, y, n_iter=100, tol=1e-10, chunk_size=7)
    assert chunked_res.value == pytest.approx(expected, rel=1e-8)


def test_sharpness_of_a_float32_model_matches_its_float64_copy():
    """The Krylov vectors live in the parameters' dtype: a float32 MLP's λ_max agrees with the same network
    in float64 far inside the tolerance, with the same number of products, and the vector is float32."""
    import copy

    g = torch.Generator().manual_seed(4)
    x = torch.randn(200, 20, generator=g)
    y = torch.randint(0, 5, (200,), generator=g)
    model = models.MLP([20, 64, 64, 5], seed=2)
    r32 = sharpness(model, x, y, n_iter=30, tol=1e-3)
    r64 = sharpness(copy.deepcopy(model).double(), x.double(), y, n_iter=30, tol=1e-3)
    assert r32.vector.dtype == torch.float32 and r64.vector.dtype == torch.float64
    assert r32.value == pytest.approx(r64.value, rel=1e-4) and r32.n_iter == r64.n_iter
    warm = sharpness(model, x, y, n_iter=30, tol=1e-3, v0=r64.vector)  # a float64 start is rounded
    assert warm.vector.dtype == torch.float32 and warm.value == pytest.approx(r64.value, rel=1e-4)


def test_sharpness_uses_eval_mode_and_restores_it():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 4, generator=g)
    y = torch.randint(0, 3, (16,), generator=g)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))
    model.train()
    a = sharpness(model, x, y, n_iter=30, tol=1e-8)
    b = sharpness(model, x, y, n_iter=30, tol=1e-8)
    assert model.training and all(m.training for m in model.modules())
    assert a.value == pytest.approx(b.value, rel=1e-5)  # no dropout masks, no batch statistics


def test_sharpness_warm_start_needs_fewer_products():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(64, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (64,), generator=g)
    model = _mlp64(1)
    cold = sharpness(model, x, y, n_iter=100, tol=1e-6)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1e-4 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    warm = sharpness(model, x, y, n_iter=100, tol=1e-6, v0=cold.vector)
    fresh = sharpness(model, x, y, n_iter=100, tol=1e-6)
    assert warm.value == pytest.approx(fresh.value, rel=1e-5)
    assert warm.n_iter < fresh.n_iter


def test_sharpness_rejects_bad_input():
    model = _mlp64()
    x, y = torch.randn(5, 4, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1])
    with pytest.raises(TypeError, match="model"):
        sharpness("net", x, y)
    with pytest.raises(ValueError, match="same number of rows"):
        sharpness(model, x, y[:3])
    with pytest.raises(ValueError, match="loss"):
        sharpness(model, x, y, loss="hinge")
    with pytest.raises(TypeError, match="loss"):
        sharpness(model, x, y, loss=3)
    with pytest.raises(ValueError, match="v0"):
        sharpness(model, x, y, v0=torch.ones(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="n_iter"):
        sharpness(model, x, y, n_iter=0)
    with pytest.raises(ValueError, match="method"):
        sharpness(model, x, y, method="svd")
    with pytest.raises(ValueError, match="chunk_size"):
        sharpness(model, x, y, chunk_size=0)
    with pytest.raises(ValueError, match="NaN"):
        sharpness(model, x * math.nan, y)
    with pytest.raises(ValueError, match="integer class labels"):
        sharpness(model, x, y.double(), loss="cross_entropy")


# ---------------------------------------------------------------- Gauss–Newton
def _exact_gn(model, x):
    params = [p for p in model.parameters() if p.requires_grad]
    total = 0.0
    for i in range(len(x)):
        out = model(x[i:i + 1])[0]
        for k in range(out.shape[0]):
            grads = torch.autograd.grad(out[k], params, retain_graph=True)
            total += sum(float(gr.pow(2).sum()) for gr in grads)
    return total / len(x)


def test_gn_trace_and_penalty_are_unbiased_for_the_exact_value():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 4, generator=g, dtype=torch.float64)
    model = _mlp64()
    exact = _exact_gn(model, x)
    est, err = gn_trace(model, x, n_probes=4000, generator=torch.Generator().manual_seed(1))
    assert abs(est - exact) < 4 * err and err < 0.03 * exact
    pen = torch.stack([gn_penalty(model, x, generator=torch.Generator().manual_seed(s)).detach()
                       for s in range(2000)])
    assert abs(float(pen.mean()) - exact) < 4 * float(pen.std()) / math.sqrt(len(pen))


def test_gn_penalty_gradient_is_the_gradient_of_the_probe_value():
    """With fixed probes the penalty is an explicit function of θ: its autograd gradient must match
    finite differences of the same probe value."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(5, 4, generator=g, dtype=torch.float64)
    model = _mlp64(3)
    pen = gn_penalty(model, x, n_probes=3, generator=torch.Generator().manual_seed(7))
    grads = torch.autograd.grad(pen, list(model.parameters()), allow_unused=True)  # last bias: constant
    p0 = next(model.parameters())
    eps = 1e-6
    for idx in [(0, 0), (2, 3), (5, 1)]:
        with torch.no_grad():
            old = float(p0[idx])
            p0[idx] = old + eps
            up = float(gn_penalty(model, x, n_probes=3, generator=torch.Generator().manual_seed(7)))
            p0[idx] = old - eps
            down = float(gn_penalty(model, x, n_probes=3, generator=torch.Generator().manual_seed(7)))
            p0[idx] = old
        assert float(grads[0][idx]) == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-9)


def test_gn_rejects_bad_input():
    model = _mlp64()
    with pytest.raises(ValueError, match="n_probes"):
        gn_trace(model, torch.randn(3, 4, dtype=torch.float64), n_probes=0)
    with pytest.raises(TypeError, match="generator"):
        gn_penalty(model, torch.randn(3, 4, dtype=torch.float64), generator=1)
    with pytest.raises(ValueError, match="x must"):
        gn_penalty(model, torch.randn(4, dtype=torch.float64))
    assert curvature.__all__


@pytest.mark.parametrize("method", ["lanczos", "power"])
def test_a_non_finite_operator_gives_nan_not_an_error(method):
    # the Hessian of a diverged run: its products are NaN; the sharpness logged is NaN and training goes on
    from gclib.linalg import top_eigenpair

    pair = top_eigenpair(lambda v: v * float("nan"), torch.ones(5), method=method)
    assert math.isnan(pair.value) and not pair.converged
