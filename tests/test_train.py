"""Tests for gclib.experiments.train: determinism, penalty gradients vs finite differences, noise statistics,
logging, sweep caching and resumption, summaries and argument validation."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

import gclib.experiments.runs as R
from gclib import complexity
from gclib.experiments import data, models
from gclib.experiments.readings import final_rows, value_at_train_loss
from gclib.experiments.regularizers import (
    L2,
    Flatness,
    GCPenalty,
    InputNoise,
    LabelNoise,
    Regularizer,
    SpectralNorm,
    make_regularizers,
)
from gclib.experiments.runs import DEFAULT_CONFIG, config_key, run_config
from gclib.experiments.runs import run_grid as sweep
from gclib.experiments.train import train

TINY = {"dataset": "digits", "n_train": 64, "n_test": 32, "hidden": [8], "steps": 4, "eval_every": 2,
        "batch_size": 16, "eval_subset": 32}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digits():
    return data.load_dataset("digits", n_train=256, n_test=128, seed=0)


def _mlp(sizes, seed=0, activation="relu", dtype=torch.float32):
    return models.MLP(sizes, activation=activation, seed=seed).to(dtype)


def _regression(n=48, d=3, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2 * n, d, generator=g, dtype=dtype)
    y = torch.sin(x.sum(1))
    return data.Dataset(x_train=x[:n], y_train=y[:n], x_test=x[n:], y_test=y[n:], name="toy_regression",
                        n_classes=0, info="test")


# ---------------------------------------------------------------- determinism and logging

def test_twin_runs_give_identical_histories(digits):
    def run(seed):
        regs = make_regularizers(spectral=1e-3, label_noise=0.2, input_noise=0.1)
        return train(_mlp([64, 16, 10]), digits, steps=12, batch_size=16, eval_every=5, seed=seed,
                     regularizers=regs, gc_method="hutchinson")

    a, b = run(0), run(0)
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs == b.attrs
    assert a["step"].tolist() == [0, 5, 10, 12]
    assert not a["train_loss"].equals(run(1)["train_loss"])  # the seed matters (batches, noise)


def test_history_columns_and_logged_gc_equals_complexity(digits):
    model = _mlp([64, 16, 10])
    df = train(model, digits, steps=7, batch_size=32, eval_every=3, eval_subset=100,
               regularizers=[L2(1e-3), SpectralNorm(1e-3)])
    expected = {"step", "epoch", "train_loss", "train_acc", "test_loss", "test_acc", "gc", "spectral_bound",
                "param_bound", "batch_loss", "penalty_l2", "penalty_spectral", "lr", "batch_size"}
    assert expected <= set(df.columns)
    assert df["step"].tolist() == [0, 3, 6, 7]
    np.testing.assert_allclose(df["epoch"], df["step"] * 32 / 256)
    assert math.isnan(df["batch_loss"].iloc[0]) and df["batch_loss"].iloc[1:].notna().all()
    gc = complexity.geometric_complexity(model, digits.x_train[:100], method="exact")
    assert df["gc"].iloc[-1] == pytest.approx(float(gc.value), rel=1e-6)
    assert df["param_bound"].iloc[-1] == pytest.approx(complexity.parameter_norm_bound(model), rel=1e-6)
    assert df.attrs["config"]["eval_subset"] == 100 and df.attrs["interrupted"] is False


def test_gn_trace_matches_exact_per_example_jacobians():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(10, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (10,), generator=g)
    ds = data.Dataset(x_train=x[:5], y_train=y[:5], x_test=x[5:], y_test=y[5:], name="toy_cls", n_classes=3,
                      info="test")
    model = _mlp([4, 6, 3], dtype=torch.float64)
    df = train(model, ds, steps=2, batch_size=None, eval_every=1, eval_subset=5, gc_method=None,
               track_bounds=False, track_gn=True, gn_probes=2000)
    assert {"gn_trace", "gn_trace_stderr"} <= set(df.columns)
    assert df[["gn_trace", "gn_trace_stderr"]].notna().all().all() and (df["gn_trace"] > 0).all()
    model.eval()
    params = [p for p in model.parameters() if p.requires_grad]
    exact = 0.0
    for i in range(5):  # exact: every row of every per-example Jacobian
        out = model(x[i:i + 1])[0]
        for k in range(3):
            grads = torch.autograd.grad(out[k], params, retain_graph=k < 2)
            exact += float(sum(gr.pow(2).sum() for gr in grads))
    exact /= 5
    assert df["gn_trace"].iloc[-1] == pytest.approx(exact, rel=0.05)
    assert df["gn_trace_stderr"].iloc[-1] < 0.05 * exact


def test_gn_trace_only_when_tracked_and_shifts_no_other_stream(digits):
    kw = dict(steps=4, batch_size=16, eval_every=2, gc_method="hutchinson",
              regularizers=make_regularizers(label_noise=0.2))
    off = train(_mlp([64, 8, 10]), digits, **kw)
    on = train(_mlp([64, 8, 10]), digits, track_gn=True, gn_probes=3, **kw)
    assert "gn_trace" not in off.columns and "gn_trace_stderr" not in off.columns
    assert on["gn_trace"].notna().all() and np.isfinite(on["gn_trace"]).all()
    pd.testing.assert_frame_equal(on.drop(columns=["gn_trace", "gn_trace_stderr"]), off)
    assert on.attrs["config"]["track_gn"] is True and on.attrs["config"]["gn_probes"] == 3
    cfg = run_config({**TINY, "track_gn": True, "gn_probes": 2}, seed=0)
    assert cfg["gn_trace"].notna().all() and "gn_trace" not in run_config(TINY, seed=0).columns


def test_every_regularizer_runs_inside_train(digits):
    regs = make_regularizers(l2=1e-3, spectral=1e-3, flatness=1e-2, gc=1e-3, label_noise=0.1, input_noise=0.1)
    df = train(_mlp([64, 8, 10]), digits, steps=3, batch_size=16, eval_every=3, regularizers=regs)
    pens = df[[f"penalty_{n}" for n in ("l2", "spectral", "flatness", "gc")]].iloc[-1]
    assert (pens > 0).all() and np.isfinite(pens).all()
    assert len(df.attrs["config"]["regularizers"]) == 6


def test_training_lowers_train_loss_on_digits(digits):
    df = train(_mlp([64, 32, 10]), digits, lr=0.1, steps=120, batch_size=32, eval_every=60,
               track_bounds=False)
    assert df["train_loss"].iloc[-1] < 0.5 * df["train_loss"].iloc[0]
    assert df["train_acc"].iloc[-1] > 0.8


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_mse_regression_full_batch_lowers_loss(optimizer):
    ds = _regression()
    df = train(_mlp([3, 16, 1], activation="tanh"), ds, optimizer=optimizer, loss="mse", lr=0.02,
               batch_size=None, steps=60, eval_every=30, track_bounds=False)
    assert df["train_loss"].iloc[-1] < 0.7 * df["train_loss"].iloc[0]
    assert df["train_acc"].isna().all() and (df["batch_size"] == 48).all()
    np.testing.assert_allclose(df["epoch"], df["step"])


def test_keyboard_interrupt_returns_partial_history(digits):
    class Interrupt(Regularizer):
        name, calls = "interrupt", 0

        def transform(self, xb, yb, generator):
            self.calls += 1
            if self.calls == 7:
                raise KeyboardInterrupt
            return xb, yb

    df = train(_mlp([64, 8, 10]), digits, steps=20, eval_every=3, regularizers=[Interrupt()],
               track_bounds=False)
    assert df.attrs["interrupted"] is True and df["step"].tolist() == [0, 3, 6]


def test_divergence_stops_with_flag():
    df = train(_mlp([3, 16, 1]), _regression(), loss="mse", lr=1e6, batch_size=None, steps=50,
               eval_every=10, track_bounds=False)
    assert df.attrs["diverged"] is True and df["step"].iloc[-1] < 50
    assert math.isnan(df["train_loss"].iloc[-1])


# ---------------------------------------------------------------- penalties

def _flat(model):
    return [p for p in model.parameters()]


def _fd_grad(fn, model, eps=1e-6):
    """Central finite differences of the scalar fn() w.r.t. every parameter entry."""
    grads = []
    with torch.no_grad():
        for p in _flat(model):
            g = torch.zeros_like(p)
            for i in range(p.numel()):
                old = p.view(-1)[i].item()
                p.view(-1)[i] = old + eps
                up = float(fn())
                p.view(-1)[i] = old - eps
                down = float(fn())
                p.view(-1)[i] = old
                g.view(-1)[i] = (up - down) / (2 * eps)
            grads.append(g)
    return grads


def _exact_spectral(model):
    return sum(torch.linalg.matrix_norm(w.weight, ord=2) ** 2 for w in complexity.layer_weights(model))


@pytest.mark.parametrize("reg", [L2(0.7), SpectralNorm(0.5, n_iter=300), Flatness(0.3),
                                 GCPenalty(0.4, method="exact")], ids=lambda r: r.name)
def test_penalty_gradient_matches_finite_differences(reg):
    torch.manual_seed(0)
    model = _mlp([3, 4, 2], activation="tanh", dtype=torch.float64)
    x = torch.randn(6, 3, dtype=torch.float64)
    y = torch.tensor([0, 1, 1, 0, 1, 0])
    loss_fn = torch.nn.functional.cross_entropy
    reg.setup(model, data.Dataset(x, y, x, y, name="toy", n_classes=2, info=""),
              torch.Generator().manual_seed(0))
    auto = torch.autograd.grad(reg.loss_term(model, x, y, loss_fn), _flat(model), allow_unused=True)
    if isinstance(reg, SpectralNorm):
        def fn():
            return 0.5 * _exact_spectral(model)
    else:
        def fn():
            with torch.enable_grad():
                return reg.loss_term(model, x, y, loss_fn).detach()
    for a, f in zip(auto, _fd_grad(fn, model)):
        a = torch.zeros_like(f) if a is None else a
        torch.testing.assert_close(a, f, rtol=1e-5, atol=1e-7)


def test_l2_value_is_sum_of_squared_weights_without_biases():
    model = _mlp([3, 4, 2], dtype=torch.float64)
    with torch.no_grad():
        for i, lin in enumerate(model.linears):
            lin.weight.fill_(i + 1.0)  # layer 1: 12 entries of 1, layer 2: 8 entries of 2
            lin.bias.fill_(100.0)
    value = L2(0.5).loss_term(model, None, None, None)
    assert float(value.detach()) == pytest.approx(0.5 * (12 * 1.0 + 8 * 4.0), rel=1e-12)


def test_spectral_estimate_matches_matrix_norm():
    model = _mlp([20, 30, 10], seed=3, dtype=torch.float64)
    exact = [float(torch.linalg.matrix_norm(lin.weight.detach(), ord=2)) for lin in model.linears]
    reg = SpectralNorm(1.0, n_iter=200)
    sig = [float(s.detach()) for s in reg.sigmas(model)]
    np.testing.assert_allclose(sig, exact, rtol=1e-3)
    one = SpectralNorm(2.0, n_iter=1)  # persistent vectors: repeated single iterations converge
    one.setup(model, None, torch.Generator().manual_seed(1))
    for _ in range(200):
        value = one.loss_term(model, None, None, None)
    assert float(value.detach()) == pytest.approx(2.0 * sum(s ** 2 for s in exact), rel=1e-3)


def test_label_noise_rate_and_flipped_labels_differ():
    n, p, k = 20000, 0.3, 10
    y = torch.arange(n) % k
    g = torch.Generator().manual_seed(0)
    noisy = LabelNoise(p, n_classes=k).transform(None, y, g)[1]
    changed = (noisy != y).double().mean().item()
    assert abs(changed - p) < 4 * math.sqrt(p * (1 - p) / n)
    assert noisy.min() >= 0 and noisy.max() < k and torch.equal(y, torch.arange(n) % k)
    again = LabelNoise(p, n_classes=k).transform(None, y, g)[1]
    assert not torch.equal(noisy, again)  # fresh noise on every call


def test_input_noise_std():
    n, sigma = 20000, 0.3
    x = torch.full((n, 4), 2.0)
    out, _ = InputNoise(sigma).transform(x, None, torch.Generator().manual_seed(0))
    eps = out - 2.0
    assert abs(eps.mean().item()) < 4 * sigma / math.sqrt(4 * n)
    assert abs(eps.std().item() - sigma) < 4 * sigma / math.sqrt(2 * 4 * n)


def test_make_regularizers_skips_zeros():
    regs = make_regularizers(l2=1e-3, gc=0.1, label_noise=0.0, input_noise=0.2)
    assert [type(r) for r in regs] == [L2, GCPenalty, InputNoise]
    assert make_regularizers() == []


# ---------------------------------------------------------------- run_config and sweep

def test_run_config_is_pure_and_uses_defaults():
    a, b = run_config(TINY, seed=3), run_config(dict(TINY), seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs["config"]["run_config"]["lr"] == DEFAULT_CONFIG["lr"]
    assert config_key(TINY, 0) == config_key({**TINY, "lr": DEFAULT_CONFIG["lr"]}, 0)
    assert len({config_key(TINY, 0), config_key(TINY, 1), config_key({**TINY, "lr": 0.1}, 0)}) == 3


@pytest.fixture
def counted(monkeypatch):
    calls = []
    real = R.run_config

    def fake(config, *, seed):
        calls.append((dict(config), seed))
        if fake.fail_at is not None and len(calls) == fake.fail_at:
            raise RuntimeError("cell failed")
        return real(config, seed=seed)

    fake.fail_at = None
    monkeypatch.setattr(R, "run_config", fake)
    return fake, calls


def test_sweep_caches_cells(tmp_path, counted):
    fake, calls = counted
    grid = {"l2": [0.0, 1e-3], "hidden": [[8], [4, 4]]}
    first = sweep(grid, base=TINY, seeds=[0, 1], cache_dir=tmp_path, progress=False)
    assert len(calls) == 8 and len(list(tmp_path.glob("*.pkl"))) == 8
    assert not list(tmp_path.glob("*.tmp"))
    second = sweep(grid, base=TINY, seeds=[0, 1], cache_dir=tmp_path, progress=False)
    assert len(calls) == 8  # every cell came from the cache
    pd.testing.assert_frame_equal(first, second)
    assert set(first.groupby(["l2", "hidden", "seed"]).groups) == {
        (a, h, s) for a in (0.0, 1e-3) for h in ((8,), (4, 4)) for s in (0, 1)}
    last = final_rows(first, ["l2", "hidden", "seed"])
    assert len(last) == 8 and (last["step"] == 4).all()


def test_interrupted_sweep_recomputes_only_missing_cells(tmp_path, counted, monkeypatch):
    fake, calls = counted
    grid = {"lr": [0.01, 0.05, 0.1]}
    fake.fail_at = 2
    with pytest.raises(RuntimeError, match="cell failed"):
        sweep(grid, base=TINY, seeds=[0], cache_dir=tmp_path, progress=False)
    assert len(list(tmp_path.glob("*.pkl"))) == 1
    fake.fail_at = None
    monkeypatch.setenv("GCLIB_CACHE_DIR", str(tmp_path))
    df = sweep(grid, base=TINY, seeds=[0], progress=False)
    assert [c[0]["lr"] for c in calls] == [0.01, 0.05, 0.05, 0.1]
    assert sorted(df["lr"].unique()) == [0.01, 0.05, 0.1]


def test_sweep_stops_on_interrupted_cell_and_caches_nothing_for_it(tmp_path, monkeypatch):
    def interrupted(config, *, seed):
        df = pd.DataFrame({"step": [0], "train_loss": [1.0]})
        df.attrs["interrupted"] = True
        return df

    monkeypatch.setattr(R, "run_config", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sweep({"lr": [0.1]}, base=TINY, seeds=[0], cache_dir=tmp_path, progress=False)
    assert not list(tmp_path.iterdir())
    with pytest.raises(TypeError):  # a config that cannot be hashed fails before any cell runs
        sweep({"lr": [0.1, object()]}, base=TINY, seeds=[0], cache_dir=tmp_path, progress=False)


def test_value_at_train_loss_interpolates():
    df = pd.DataFrame({
        "run": ["a"] * 3 + ["b"] * 3 + ["c"] * 2,
        "step": [0, 10, 20, 0, 10, 20, 0, 10],
        "train_loss": [1.0, 0.5, 0.1, 1.0, 0.8, 0.6, 0.2, 0.1],
        "gc": [2.0, 4.0, 8.0, 1.0, 1.0, 1.0, 3.0, 5.0],
    })
    out = value_at_train_loss(df.iloc[::-1], 0.3, "run").set_index("run")
    assert out.loc["a", "gc"] == pytest.approx(6.0) and out.loc["a", "step"] == pytest.approx(15.0)
    assert math.isnan(out.loc["b", "gc"]) and math.isnan(out.loc["b", "step"])
    assert out.loc["c", "gc"] == 3.0
    last = final_rows(df, "run").set_index("run")
    assert last["step"].tolist() == [20, 20, 10] and last.loc["a", "gc"] == 8.0


# ---------------------------------------------------------------- bad inputs

@pytest.mark.parametrize("kwargs, err", [
    ({"optimizer": "rmsprop"}, ValueError), ({"loss": "hinge"}, ValueError),
    ({"lr": 0.0}, ValueError), ({"lr": -0.1}, ValueError), ({"lr": "0.1"}, TypeError),
    ({"lr": math.inf}, ValueError), ({"momentum": 1.0}, ValueError),
    ({"steps": 0}, ValueError), ({"steps": 2.5}, TypeError),
    ({"batch_size": 0}, ValueError), ({"batch_size": 257}, ValueError), ({"batch_size": 8.0}, TypeError),
    ({"eval_every": 0}, ValueError), ({"eval_subset": 0}, ValueError), ({"seed": -1}, ValueError),
    ({"regularizers": [1.0]}, TypeError), ({"regularizers": L2(1.0)}, TypeError),
    ({"gc_method": "jacobian"}, ValueError), ({"track_bounds": "yes"}, TypeError),
    ({"progress": 1}, TypeError), ({"device": "tpu"}, ValueError),
    ({"track_gn": True, "gn_probes": 0}, ValueError), ({"gn_probes": -2}, ValueError),
    ({"gn_probes": 2.0}, TypeError), ({"track_gn": 1}, TypeError),
])
def test_train_rejects_bad_arguments(digits, kwargs, err):
    with pytest.raises(err):
        train(_mlp([64, 4, 10]), digits, steps=kwargs.pop("steps", 2), **kwargs)


def test_train_rejects_bad_model_data_and_loss_combinations(digits):
    with pytest.raises(TypeError, match="model"):
        train("mlp", digits)
    with pytest.raises(TypeError, match="data"):
        train(_mlp([64, 4, 10]), (digits.x_train, digits.y_train))
    with pytest.raises(ValueError, match="cross_entropy"):
        train(_mlp([3, 4, 1]), _regression(), loss="cross_entropy", batch_size=8)
    with pytest.raises(ValueError, match="LabelNoise"):
        train(_mlp([3, 4, 1]), _regression(), loss="mse", batch_size=8, regularizers=[LabelNoise(0.1)])


@pytest.mark.parametrize("make", [
    lambda: L2(-1.0), lambda: SpectralNorm(-1.0), lambda: SpectralNorm(1.0, n_iter=0),
    lambda: Flatness(-0.1), lambda: GCPenalty(-1.0), lambda: GCPenalty(1.0, method="svd"),
    lambda: GCPenalty(1.0, n_probes=0), lambda: LabelNoise(1.5), lambda: LabelNoise(-0.1),
    lambda: InputNoise(-1.0), lambda: InputNoise(math.nan), lambda: make_regularizers(l2=-1.0),
    lambda: make_regularizers(label_noise=2.0), lambda: LabelNoise(0.1, n_classes=0),
    lambda: LabelNoise(0.1, n_classes=1),
])
def test_regularizers_reject_bad_arguments(make):
    with pytest.raises(ValueError):
        make()


def test_config_sweep_and_summary_reject_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="valid:"):
        run_config({"learning_rate": 0.1}, seed=0)
    with pytest.raises(ValueError, match="unknown config"):
        sweep({"widths": [1]}, base=TINY, seeds=[0], cache_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown config"):
        sweep({"lr": [0.1]}, base={"bogus": 1}, seeds=[0], cache_dir=tmp_path)
    with pytest.raises(TypeError):
        sweep({"lr": []}, base=TINY, seeds=[0], cache_dir=tmp_path)
    with pytest.raises(TypeError):
        sweep({"lr": [0.1]}, base=TINY, seeds=0, cache_dir=tmp_path)
    with pytest.raises(TypeError):
        run_config([("lr", 0.1)], seed=0)
    with pytest.raises(ValueError):
        run_config(TINY, seed=-1)
    with pytest.raises(ValueError):
        value_at_train_loss(pd.DataFrame(), math.nan, "run")
    assert not list(tmp_path.iterdir())
