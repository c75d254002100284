"""Tests for protocol v2's training features in gclib.experiments: stopping at a full-train loss (exact for
full batches, within a few per cent for minibatches), run status labels, min_steps, log-spaced rows, sharpness
logging, the Gauss–Newton regularizer, and the readings (crossings, value_at, read_at_common,
stability_regimes) on hand-made histories."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from gclib import curvature
from gclib.experiments import data, models
from gclib.experiments.readings import (
    crossings,
    read_at_common,
    stability_regimes,
    value_at,
    value_at_train_loss,
)
from gclib.experiments.regularizers import GaussNewton, make_regularizers
from gclib.experiments.runs import run_config
from gclib.experiments.train import train

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def small():
    return data.load_dataset("digits", n_train=96, n_test=64, seed=0)


def _mlp(seed=0, sizes=(64, 32, 10)):
    return models.MLP(list(sizes), seed=seed)


KW = dict(gc_method=None, track_bounds=False)


# ---------------------------------------------------------------- stopping at a loss
def test_full_batch_run_stops_at_the_first_step_below_the_target(small):
    dense = train(_mlp(), small, lr=0.5, batch_size=None, steps=400, eval_every=1, eval_subset=96, **KW)
    first = int(dense.loc[dense["train_loss"] <= 0.05, "step"].iloc[0])
    stopped = train(_mlp(), small, lr=0.5, batch_size=None, steps=400, eval_every=1000, eval_subset=96,
                    target_loss=0.05, **KW)
    last = stopped.iloc[-1]
    assert stopped.attrs["status"] == "reached" and (stopped["status"] == "reached").all()
    assert int(last["step"]) == first and last["full_train_loss"] <= 0.05
    assert last["full_train_loss"] == pytest.approx(dense.loc[dense["step"] == first, "train_loss"].item(),
                                                    rel=1e-5)
    # the rows before the crossing are exactly those of the run without a target (same stream, same steps)
    assert stopped["step"].tolist() == [0, first]


def test_minibatch_crossing_is_read_within_five_percent_and_never_early(small):
    dense = train(_mlp(1), small, lr=0.2, batch_size=16, steps=3000, eval_every=1, eval_subset=96, **KW)
    first = int(dense.loc[dense["train_loss"] <= 0.01, "step"].iloc[0])
    run = train(_mlp(1), small, lr=0.2, batch_size=16, steps=3000, eval_every=10**6, eval_subset=96,
                evals_per_decade=5, target_loss=0.01, **KW)
    last = run.iloc[-1]
    assert run.attrs["status"] == "reached" and int(last["step"]) >= first
    assert 0.95 * 0.01 <= last["full_train_loss"] <= 0.01
    assert (run["full_train_loss"].iloc[:-1] > 0.01).all()
    # the history before the stop is the no-target run's (checks draw no randomness)
    common = dense.set_index("step").loc[run["step"], "train_loss"].to_numpy()
    np.testing.assert_allclose(run["train_loss"].to_numpy(), common, rtol=1e-6)


def test_status_labels_not_reached_diverged_and_collapsed(small):
    short = train(_mlp(), small, lr=0.05, batch_size=None, steps=5, eval_every=5, target_loss=1e-6, **KW)
    assert short.attrs["status"] == "not_reached" and short["step"].iloc[-1] == 5
    boom = train(_mlp(), small, lr=500.0, batch_size=None, steps=200, eval_every=1000, target_loss=1e-3, **KW)
    assert boom.attrs["status"] == "diverged" and boom.attrs["diverged"] is True
    assert boom["step"].iloc[-1] < 200
    dead = _mlp()
    with torch.no_grad():  # every hidden unit dead: the output is the last bias, the same for every input
        dead.linears[0].bias.fill_(-1e3)
    flat = train(dead, small, lr=0.1, batch_size=None, steps=50, eval_every=1000, target_loss=1e-3, **KW)
    assert flat.attrs["status"] == "collapsed" and flat["step"].iloc[-1] < 50
    mini = train(dead, small, lr=0.1, batch_size=32, steps=50, eval_every=1000, target_loss=1e-3, **KW)
    assert mini.attrs["status"] == "collapsed"


def test_without_a_target_the_status_is_completed(small):
    df = train(_mlp(), small, steps=3, eval_every=3, **KW)
    assert df.attrs["status"] == "completed" and "full_train_loss" not in df.columns


def test_min_steps_goes_on_after_the_crossing(small):
    run = train(_mlp(), small, lr=0.5, batch_size=None, steps=400, eval_every=50, eval_subset=96,
                target_loss=0.05, min_steps=300, **KW)
    ref = train(_mlp(), small, lr=0.5, batch_size=None, steps=400, eval_every=1000, eval_subset=96,
                target_loss=0.05, **KW)
    cross = crossings(run, 0.05, "status", values=("train_loss",))
    assert run.attrs["status"] == "reached" and run["step"].iloc[-1] == 300
    assert cross["step"].item() == ref["step"].iloc[-1] < 300
    assert run.loc[run["step"] == 300, "train_loss"].item() < 0.05


def test_log_spaced_rows(small):
    df = train(_mlp(), small, steps=40, eval_every=1000, evals_per_decade=4, **KW)
    assert df["step"].tolist() == [0, 1, 2, 4, 6, 10, 18, 32, 40]


# ---------------------------------------------------------------- sharpness and Gauss–Newton in train
def test_logged_sharpness_is_the_hessian_top_eigenvalue_of_the_full_train_loss(small):
    model = _mlp()
    df = train(model, small, lr=0.1, batch_size=None, steps=4, eval_every=2, eval_subset=32,
               track_sharpness=True, sharpness_iters=60, sharpness_tol=1e-6, **KW)
    assert {"sharpness", "sharpness_iters"} <= set(df.columns) and df["sharpness"].notna().all()
    direct = curvature.sharpness(model, small.x_train, small.y_train, n_iter=200, tol=1e-8)
    assert df["sharpness"].iloc[-1] == pytest.approx(direct.value, rel=1e-4)
    # warm starts: later rows need fewer products than the cold first one
    assert df["sharpness_iters"].iloc[1:].max() <= df["sharpness_iters"].iloc[0]
    sparse = train(_mlp(), small, lr=0.1, batch_size=None, steps=4, eval_every=1, track_sharpness=True,
                   sharpness_every=2, **KW)
    assert sparse["sharpness"].isna().tolist() == [False, True, False, True, False]


def test_gauss_newton_regularizer_inside_train_and_config(small):
    regs = make_regularizers(gauss_newton=1e-4, gn_probes=2)
    assert isinstance(regs[0], GaussNewton) and regs[0].n_probes == 2
    df = train(_mlp(), small, steps=3, batch_size=16, eval_every=3, regularizers=regs, **KW)
    assert (df["penalty_gauss_newton"].iloc[1:] > 0).all()
    cfg = run_config({"dataset": "digits", "n_train": 64, "n_test": 32, "hidden": [8], "steps": 2,
                      "eval_every": 2, "batch_size": 16, "gauss_newton": 1e-3, "gn_penalty_probes": 2},
                     seed=0)
    assert cfg["penalty_gauss_newton"].iloc[-1] > 0
    with pytest.raises(ValueError):
        GaussNewton(-1.0)
    with pytest.raises(ValueError):
        GaussNewton(1.0, n_probes=0)


@pytest.mark.parametrize("kwargs, err", [
    ({"target_loss": 0.0}, ValueError), ({"target_loss": "low"}, TypeError), ({"min_steps": -1}, ValueError),
    ({"evals_per_decade": 0}, ValueError), ({"sharpness_iters": 0}, ValueError),
    ({"sharpness_every": 0}, ValueError), ({"sharpness_tol": -1.0}, ValueError),
    ({"track_sharpness": 1}, TypeError), ({"min_steps": 1.5}, TypeError),
])
def test_train_rejects_bad_v2_arguments(small, kwargs, err):
    with pytest.raises(err):
        train(_mlp(), small, steps=2, **kwargs)


# ---------------------------------------------------------------- readings
def _runs():
    rows = []
    for seed in (0, 1):
        for lr, losses, gcs, lams in ((0.1, [1.0, 0.5, 0.2, 0.009], [1, 2, 3, 4], [1.0, 2.0, 3.0, 2.5]),
                                      (0.5, [1.0, 0.3, 0.05, 0.02], [1, 2, 3, 5], [1.0, 6.0, 4.0, 4.0])):
            status = "reached" if losses[-1] <= 0.01 else "not_reached"
            for i, (ls, g, lam) in enumerate(zip(losses, gcs, lams)):
                rows.append({"lr": lr, "seed": seed, "step": 10 ** i, "epoch": 2 * 10 ** i,
                             "full_train_loss": ls, "gc": g + seed, "sharpness": lam, "status": status})
    return pd.DataFrame(rows)


def test_crossings_reads_the_first_row_below_the_target_and_keeps_the_rest():
    out = crossings(_runs(), 0.01, ["lr", "seed"], peaks=["sharpness"]).set_index(["lr", "seed"])
    assert out.loc[(0.1, 0), "gc"] == 4 and out.loc[(0.1, 1), "gc"] == 5
    assert out.loc[(0.1, 0), "step"] == 1000 and out.loc[(0.1, 0), "ratio"] == pytest.approx(0.9)
    assert out.loc[(0.1, 0), "peak_sharpness"] == 3.0 and out.loc[(0.1, 0), "status"] == "reached"
    assert math.isnan(out.loc[(0.5, 0), "gc"]) and out.loc[(0.5, 0), "status"] == "not_reached"
    assert out.loc[(0.5, 0), "peak_sharpness"] == 6.0  # over the whole run when it never crossed
    with pytest.raises(ValueError, match="column"):
        crossings(_runs(), 0.01, ["lr", "seed"], values=("nope",))


def test_value_at_interpolates_in_log_steps_and_refuses_to_extrapolate():
    runs = _runs()
    out = value_at(runs, "step", 100, ["lr", "seed"]).set_index(["lr", "seed"])
    assert out.loc[(0.1, 0), "gc"] == 3  # exactly at a logged row
    mid = value_at(runs, "step", math.sqrt(10 * 100), ["lr", "seed"]).set_index(["lr", "seed"])
    assert mid.loc[(0.1, 0), "gc"] == pytest.approx(2.5)  # halfway in log step
    assert value_at(runs, "step", 5000, ["lr", "seed"])["gc"].isna().all()


def test_value_at_train_loss_without_interpolation():
    df = pd.DataFrame({"run": ["a"] * 3, "step": [0, 10, 20], "train_loss": [1.0, 0.5, 0.1],
                       "gc": [2.0, 4.0, 8.0]})
    out = value_at_train_loss(df, 0.3, "run", interpolate=False)
    assert out["gc"].item() == 8.0 and out["step"].item() == 20 and out["train_loss"].item() == 0.1
    assert value_at_train_loss(df, 0.3, "run")["train_loss"].item() == 0.3


def test_read_at_common_uses_the_smallest_seed_mean_crossing_and_drops_unreached_runs():
    runs = _runs().rename(columns={"lr": "batch"}).assign(lr=0.1, status="reached")  # two "batch sizes"
    table = crossings(runs, 0.3, ["lr", "batch", "seed"])
    table.loc[(table["batch"] == 0.5) & (table["seed"] == 1), "status"] = "diverged"
    out = read_at_common(runs, table, "step", group="lr", hp="batch").set_index(["batch", "seed"])
    # batch 0.1 crosses loss 0.3 at step 1000, batch 0.5 at step 10: both are read at step 10
    assert (out["step"] == 10).all()
    assert out.loc[(0.1, 0), "gc"] == 2 and out.loc[(0.5, 0), "gc"] == 2
    assert math.isnan(out.loc[(0.5, 1), "gc"])  # that run is labelled diverged: left out
    epochs = read_at_common(runs, table, "epoch", group="lr", hp="batch")
    assert (epochs["epoch"] == 20).all()


def test_stability_regimes_splits_at_two_over_lambda_ref():
    table = pd.DataFrame({"lr": [0.1, 0.1, 0.2, 0.5, 1.0], "peak_sharpness": [4.0, 6.0, 5.0, 8.0, 9.0]})
    reg = stability_regimes(table)
    assert reg["lambda_ref"] == 5.0 and reg["edge"] == pytest.approx(0.4)
    assert reg["stable"] == [0.1, 0.2] and reg["past"] == [0.5, 1.0]
    with pytest.raises(ValueError, match="column"):
        stability_regimes(table.drop(columns="peak_sharpness"))
