"""Tests for the protocol-v2 helpers: calibration records, the 1-D interpolation runs of G9 (the rough
start's scaling in closed form) and the v2 figure panels."""
from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

from gclib.companion.kernel.draw import regimes as regime_plots
from gclib.complexity import geometric_complexity
from gclib.experiments import calibration, models
from gclib.experiments.dirichlet_1d import interpolation_runs

matplotlib.use("agg")


@pytest.mark.parametrize("figure", calibration.FIGURES)
def test_every_v2_figure_has_a_calibration_record_on_a_seed_no_verdict_uses(figure):
    import yaml

    from gclib.companion.locations import notebook_directory

    table = calibration.load(figure)
    assert len(table) > 0 and (table["seed"] == 100).all()
    notes = calibration.notes(figure)
    assert "calibration seed 100" in notes and "tools/calibrate_v2.py" in notes
    profiles = yaml.safe_load((notebook_directory() / "profiles.yaml").read_text())[figure]["profiles"]
    for prof in profiles.values():
        assert 100 not in prof.get("seeds", []), f"{figure}: a verdict profile uses the calibration seed"
    text = calibration.describe(figure, ["seed", "status", "nope"])
    assert "seed" in text and "nope" not in text


def test_calibration_rejects_unknown_figures_and_tolerates_a_missing_record_on_request(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="unknown figure"):
        calibration.load("gc_l2", missing_ok=True)
    monkeypatch.setattr(calibration.resources, "files", lambda _name: tmp_path)  # an empty record folder
    assert calibration.load("gc_flatness", missing_ok=True) is None
    with pytest.raises(FileNotFoundError, match="calibrate_v2"):
        calibration.load("gc_flatness")
    assert calibration.describe("gc_flatness").startswith("No calibration record yet")


def test_rough_start_has_the_requested_initial_gc_and_standard_matches_a_plain_network():
    hist, functions, problems = interpolation_runs([3], n_points=6, width=32, snapshot_steps=[0, 5],
                                                   inits=["standard", "rough"], rough_ratio=3.0)
    start = hist[hist["step"] == 0].set_index("init")
    energy = start.loc["rough", "interp_energy"]
    assert start.loc["rough", "gc_grid"] == pytest.approx(3.0 * energy, rel=1e-5)
    c = start.loc["rough", "scale"]
    assert start.loc["rough", "gc_grid"] == pytest.approx(c ** 2 * start.loc["standard", "gc_grid"], rel=1e-5)
    np.testing.assert_allclose(functions[3, "rough", 0], c * functions[3, "standard", 0], rtol=1e-4,
                               atol=1e-5)
    net = models.MLP([1, 32, 1], init="he_normal", bias_init="sampled", seed=3)
    grid = torch.from_numpy(problems[3][2]).float()[:, None]
    assert start.loc["standard", "gc_grid"] == pytest.approx(geometric_complexity(net, grid).value, rel=1e-6)
    assert set(hist["step"]) == {0, 5} and (hist["train_loss"] >= 0).all()


@pytest.mark.parametrize("kwargs, err", [
    ({"seeds": 0}, TypeError), ({"seeds": [-1]}, TypeError), ({"inits": ["smooth"]}, ValueError),
    ({"snapshot_steps": [5, 0]}, ValueError), ({"rough_ratio": 0.0}, ValueError), ({"width": 0}, ValueError),
    ({"lr": -1.0}, ValueError),
])
def test_interpolation_runs_reject_bad_input(kwargs, err):
    args = {"seeds": [0], "snapshot_steps": [0], **kwargs}
    with pytest.raises(err):
        interpolation_runs(args.pop("seeds"), **args)


def _table():
    rows = []
    for lr, gcs, status in ((0.1, [10, 11], "reached"), (0.5, [9, 8], "reached"),
                            (2.0, [math.nan] * 2, "diverged")):
        for seed, gc in enumerate(gcs):
            rows.append({"lr": lr, "seed": seed, "gc": gc, "status": status, "edge_ratio": lr * 3.0,
                         "batch_size": 16, "step": 10})
    return pd.DataFrame(rows)


def test_v2_panels_draw_and_the_status_note_counts_the_left_out_runs():
    import matplotlib.pyplot as plt

    table = _table()
    assert regime_plots.status_note(table, "lr") == "not in the statistic: diverged lr=2 (2 runs)"
    assert regime_plots.status_note(table[table["lr"] < 1], "lr") == "every run reached the target"
    fig, axes = plt.subplots(1, 3)
    regime_plots.plot_levels(axes[0], table, "lr", span=(0.5, math.inf))
    regime_plots.plot_regime_map(axes[1], table)
    history = table.assign(sharpness=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    regime_plots.plot_sharpness_traces(axes[2], history)
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["0.1", "0.5", "2"]
    assert len(axes[0].collections) >= 2 and axes[1].collections and axes[2].lines
    labels = [t.get_text() for t in axes[1].get_legend().get_texts()]
    assert any("diverged" in label for label in labels)
    plt.close(fig)
