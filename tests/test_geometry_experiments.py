"""gclib.experiments.init_loss (and the gr_* plotting helpers): exact re-binning, the Gaussian toy of the
design notes, rank correlations and contrasts over bootstrap replicates, transitions, double-descent glue."""
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from gclib import dominance, sampling  # noqa: E402
from gclib.companion.kernel import draw as plotting  # noqa: E402
from gclib.companion.kernel.draw import set_style  # noqa: E402
from gclib.experiments import double_descent as dd  # noqa: E402
from gclib.experiments import init_loss as ge  # noqa: E402

EDGES = np.linspace(0.0, 4.0, 101)


def _fake_sweep(x, d, boot, **labels):
    table = pd.DataFrame({"x": x, "D": d, **labels})
    return ge.DominanceSweep(table, [], None, [], np.asarray(boot, dtype=float))


def test_init_loss_problem_norms_targets_and_determinism():
    x, y = ge.init_loss_problem(10, 5, seed=3)
    assert x.shape == (5, 10) and y.shape == (5,)
    torch.testing.assert_close(x.norm(dim=1), torch.full((5,), math.sqrt(10.0)))
    x2, y2 = ge.init_loss_problem(10, 5, seed=3)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    x3, y3 = ge.init_loss_problem(10, 5, seed=3, target=2.5)
    assert torch.equal(x3, x) and torch.all(y3 == 2.5)


@pytest.mark.parametrize("kw, err", [({"d_in": 0}, ValueError), ({"n_samples": 0}, ValueError),
                                     ({"target": 0.0}, ValueError), ({"target": "a"}, TypeError)])
def test_init_loss_problem_rejects_bad_input(kw, err):
    args = {"d_in": 4, "n_samples": 1, **kw}
    with pytest.raises(err):
        ge.init_loss_problem(args.pop("d_in"), args.pop("n_samples"), seed=0, **args)


def test_sweep_rebinning_is_exact_and_matches_a_direct_histogram():
    x, y = ge.init_loss_problem(6, 1, seed=0, target=1.0)
    cond = {"layer_sizes": [6, 4, 4, 1], "init": "he_normal", "x": x, "y": y, "width": 4}
    logs = np.geomspace(1e-3, 10.0, 21)
    sw = ge.dominance_sweep([cond], n_inits=3000, edges=EDGES, log_edges=logs, bin_sensitivity=(50,),
                            n_boot=20)
    direct = sampling.init_loss_histogram([6, 4, 4, 1], edges=EDGES, normalize_by=1.0, init="he_normal",
                                          n_inits=3000, x=x, y=y, method="preactivation", seed=0)
    h = sw.hists[0]
    assert np.array_equal(h.counts, direct.counts) and h.overflow == direct.overflow
    assert h.dead == direct.dead and h.dead_bin == direct.dead_bin
    hl = sw.log_hists[0]
    assert hl.counts.sum() + hl.underflow + hl.overflow == 3000
    assert sw.table.loc[0, "D"] == dominance.mode_dominance(counts=direct).D
    d50 = dominance.mode_dominance(counts=h.counts.reshape(50, 2).sum(1), edges=EDGES[::2],
                                  overflow=h.overflow + (h.dead if h.dead_bin == 100 else 0), dead=h.dead,
                                  dead_u=h.dead_loss if h.dead else 1.0).D
    assert sw.table.loc[0, "D_B50"] == pytest.approx(d50)
    assert sw.boot.shape == (1, 20) and sw.table.loc[0, "D_lo"] <= sw.table.loc[0, "D_hi"]
    assert sw.table.loc[0, "width"] == 4 and sw.table.loc[0, "init"] == "he_normal"


def test_gaussian_toy_dominance_follows_target_over_output_scale():
    # design notes' toy: a linear net's output is N(0, s²) with s² = 2 (He, ‖x‖² = d);
    # |y|/s = 0.5 → zero mode, |y|/s = 3 → central mode (u = (f − y)²/y² concentrates near 1)
    x, _ = ge.init_loss_problem(4, 1, seed=1, target=1.0)
    s = math.sqrt(2.0)
    conds = [{"layer_sizes": [4, 1], "init": "he_normal", "activation": "linear", "x": x,
              "y": torch.tensor([r * s]), "ratio": r} for r in (0.5, 3.0)]
    sw = ge.dominance_sweep(conds, n_inits=20000, edges=EDGES, n_boot=20)
    assert list(sw.table.dominant) == ["zero", "central"]
    assert sw.table.D.iloc[0] > 0 > sw.table.D.iloc[1]
    assert sw.table.dead_fraction.sum() == 0


def test_multi_sample_uses_weights_and_has_a_rising_central_mode():
    x, y = ge.init_loss_problem(6, 8, seed=0)
    sw = ge.dominance_sweep([{"layer_sizes": [6, 16, 1], "init": "he_normal", "x": x, "y": y}],
                            n_inits=20000, edges=EDGES, n_boot=10)
    md = sw.modes[0]
    assert md.central_mode_count >= 1 and md.dominant == "central"
    assert (ge.max_standardized_drop(md) <= 3.0) == md.contracting


@pytest.mark.parametrize("kw, err", [
    ({"conditions": []}, TypeError), ({"conditions": [{"init": "he_normal"}]}, ValueError),
    ({"edges": np.linspace(1.0, 4.0, 11)}, ValueError), ({"edges": [0.0, 1.0, 3.0, 4.0]}, ValueError),
    ({"log_edges": [0.0, 1.0]}, ValueError), ({"bin_sensitivity": (2,)}, ValueError),
    ({"n_inits": 0}, ValueError), ({"n_boot": 0}, ValueError), ({"level": 1.0}, ValueError)])
def test_dominance_sweep_rejects_bad_input(kw, err):
    x, y = ge.init_loss_problem(3, 1, seed=0, target=1.0)
    args = {"conditions": [{"layer_sizes": [3, 2, 1], "init": "he_normal", "x": x, "y": y}], "n_inits": 100,
            "edges": EDGES, **kw}
    with pytest.raises(err):
        ge.dominance_sweep(args.pop("conditions"), **args)


def test_architecture_sweep_draws_each_target_from_its_own_stream():
    # E-3 / E-4 (spec, second revision): targets are Page's blocks, so they must not share random numbers;
    # the sizes of one target do (common random numbers within a block)
    kw = dict(d_in=4, init="he_normal", depth=2, n_inits=2000, n_bins=20, seed=5, n_boot=5)
    sweep = ge.architecture_sweep("width", [2, 8, 32], targets=[1.0, 1.0], **kw)
    t = sweep.table
    assert t["init_seed"].tolist() == [5, 5, 5, 1005, 1005, 1005]
    assert t["init_seed"].tolist() == [ge.target_seed(5, i // 3) for i in range(6)]
    same_y = t.groupby("width")["D"].nunique()
    assert (same_y == 2).all(), "two targets with the same y drew the same initializations"
    first = ge.dominance_sweep([{"layer_sizes": [4, w, w, 1], "init": "he_normal", "x": ge.init_loss_problem(
        4, 1, seed=5, target=1.0)[0], "y": ge.init_loss_problem(4, 1, seed=5, target=1.0)[1], "loss": "mse"}
        for w in (2, 8, 32)], n_inits=2000, edges=np.linspace(0.0, 4.0, 21), seed=5, n_boot=5)
    assert t["D"].iloc[:3].tolist() == first.table["D"].tolist()  # target 0 keeps the run's own seed
    from gclib.stats import trend_strength

    st = trend_strength(t.assign(target=[0.5, 0.5, 0.5, 1.0, 1.0, 1.0]), "width", value="D", block="target",
                        direction="increasing", stream="init_seed")
    assert st["page"]["reason"] is None and st["page"]["block_unit"] == "targets"


def test_rank_correlation_over_groups_and_replicates():
    x = [1, 2, 3, 1, 2, 3]
    boot = np.array([[0.0, 0.1], [1.0, 1.1], [2.0, 2.1], [5.0, 5.0], [4.0, 6.0], [6.0, 7.0]])
    sw = _fake_sweep(x, boot[:, 0], boot, g=[0, 0, 0, 1, 1, 1], D_B25=[3.0, 2.0, 1.0, 1.0, 2.0, 3.0])
    rho, ci = ge.rank_correlation_ci(sw, "x", groups="g")
    # replicate 0: rho = 1 (group 0) and 0.5 (group 1, ranks 2 1 3); replicate 1: 1 and 1
    assert rho == pytest.approx(0.75) and ci == (pytest.approx(0.75625), pytest.approx(0.99375))
    assert ge.rank_correlation_ci(sw, "x", g=0) == (1.0, (1.0, 1.0))
    rho25, none = ge.rank_correlation_ci(sw, "x", groups="g", column="D_B25")
    assert none is None and rho25 == pytest.approx(0.0)
    with pytest.raises(ValueError, match=">= 3"):
        ge.rank_correlation_ci(_fake_sweep([1, 2], [0.0, 1.0], np.zeros((2, 2))), "x")
    with pytest.raises(KeyError):
        ge.rank_correlation_ci(sw, "x", nope=1)


def test_contrast_ci_is_a_paired_difference_of_means():
    boot = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [3.0, 3.0, 3.0], [1.0, 1.0, 1.0]])
    sw = _fake_sweep([0, 0, 1, 1], [2.0, 0.0, 3.0, 1.0], boot, init=["a", "b", "a", "b"])
    d, (lo, hi) = ge.contrast_ci(sw, {"init": "a"}, {"init": "b"})
    # point: (2 + 3)/2 − (0 + 1)/2 = 2; replicates: [2, 2.5, 3] − 0.5 = [1.5, 2, 2.5]
    assert d == pytest.approx(2.0) and lo == pytest.approx(1.525) and hi == pytest.approx(2.475)
    with pytest.raises(ValueError, match="no rows"):
        ge.contrast_ci(sw, {"init": "a"}, {"init": "c"})


def test_transition_threshold_and_distance():
    assert dd.dominance_transition([1, 2, 4, 8], [-2.0, -1.0, 0.5, 1.0]) == {"index": 2, "x": 4,
                                                                              "kind": "sign change"}
    assert dd.dominance_transition([1, 2, 4, 8], [-5.0, -4.9, -2.0, -1.9])["index"] == 2
    assert dd.dominance_transition([1, 2, 4, 8], [-5.0, -4.9, -2.0, -1.9])["kind"] == "largest step"
    # one width (a valid grid) or a diverged D: no step, no transition, never an error
    none = dd.dominance_transition([1], [0.0])
    assert none["index"] is None and none["kind"] == "none" and math.isnan(none["x"])
    assert dd.dominance_transition([1, 2], [0.0, math.nan])["index"] is None
    with pytest.raises(ValueError):
        dd.dominance_transition([1, 2], [0.0])
    assert dd.interpolation_threshold([2, 4, 8], [0.5, 0.995, 1.0]) == {"index": 1, "x": 4}
    none = dd.interpolation_threshold([2, 4, 8], [0.5, 0.6, 0.7])
    assert none["index"] is None and math.isnan(none["x"])
    d = np.array([-5.0, -4.9, -2.0, -1.9])
    boot = np.stack([d, d + np.array([0, 3.0, 0, 0])], axis=1)   # replicate 2: the largest step is 0 → 1
    dist, ci = dd.transition_distance([1, 2, 4, 8], d, boot, 3)
    assert dist == 1.0 and ci[0] == pytest.approx(1.025) and ci[1] == pytest.approx(1.975)
    assert dd.transition_distance([1, 2, 4, 8], d, boot, None) == (math.inf, (math.inf, math.inf))
    dist, ci = dd.transition_distance([8], d[:1], boot[:1], 0)  # no transition: no statistic (n/a)
    assert math.isnan(dist) and all(math.isnan(v) for v in ci)


def test_config_dataset_and_condition_match_run_config():
    cfg = {**dd.DOUBLE_DESCENT_CONFIG, "dataset": "digits", "n_train": 50, "n_test": 20, "pca": 8,
           "data_label_noise": 0.2}
    ds = dd.config_dataset(cfg)
    assert ds.x_train.shape == (50, 8) and ds.n_classes == 10
    cond = dd.config_condition(cfg, 16, ds.x_train[:1], ds.y_train[:1], n_classes=10, probe=0)
    assert cond["layer_sizes"] == [8, 16, 10] and cond["bias"] == "sampled" and cond["probe"] == 0
    assert cond["y"].shape == (1, 10) and float(cond["y"].sum()) == 1.0
    assert dd.config_condition({**cfg, "init": "he_normal"}, 4, ds.x_train[:1], ds.y_train[:1],
                               n_classes=10)["bias"] == "zero"
    sw = ge.dominance_sweep([cond], n_inits=500, edges=EDGES, n_boot=5)
    assert sw.table.loc[0, "n"] == 500
    with pytest.raises(ValueError, match="data_seed"):
        dd.config_dataset({**cfg, "data_seed": None})
    with pytest.raises(ValueError, match="mlp"):
        dd.config_condition({**cfg, "model": "cnn"}, 4, ds.x_train[:1], ds.y_train[:1], n_classes=10)


def test_plot_helpers_draw_grids_and_dominance():
    x, _ = ge.init_loss_problem(4, 1, seed=0, target=1.0)
    conds = [{"layer_sizes": [4, 2, 2, 1], "init": "he_normal", "x": x, "y": torch.tensor([y]), "target": y,
              "width": 2} for y in (1.0, 4.0)]
    sw = ge.dominance_sweep(conds, n_inits=2000, edges=EDGES, log_edges=np.geomspace(1e-3, 10, 11), n_boot=5)
    assert sw.hists[0].dead > 0   # width 2, depth 2: dead networks occur
    set_style()
    fig = plotting.plot_histogram_grid([sw.hists, sw.log_hists], modes=[sw.modes, [None, None]],
                                       logx=[False, True], row_labels=["lin", "log"], col_labels=["a", "b"])
    assert len(fig.axes) == 4 and fig.axes[2].get_xscale() == "log"
    plt.close(fig)
    with pytest.raises(ValueError, match="same shape"):
        plotting.plot_histogram_grid(sw.hists, modes=sw.modes[:1])
    with pytest.raises(ValueError, match="logx"):
        plotting.plot_histogram_grid(sw.hists, logx=[True, False])
    fig, ax = plt.subplots()
    plotting.plot_dominance(ax, sw.table.assign(init=["p", "q"]), "init")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["p", "q"]
    with pytest.raises(ValueError, match="column"):
        plotting.plot_dominance(ax, sw.table, "nope")
    plt.close(fig)


def test_mean_by_averages_conditions_and_replicates():
    boot = np.array([[1.0, 3.0], [3.0, 5.0], [0.0, 0.0], [2.0, 2.0]])
    table = pd.DataFrame({"width": [2, 2, 4, 4], "probe": [0, 1, 0, 1], "D": [2.0, 4.0, 0.0, 2.0],
                          "uc": [1.0, 2.0, 1.0, 1.0], "dead_fraction": [0.5, 0.0, 0.0, 0.0]})
    sw = ge.DominanceSweep(table, [], None, [], boot)
    mean, reps = sw.mean_by("width")
    assert list(mean.width) == [2, 4] and list(mean.D) == [3.0, 1.0] and list(mean.uc) == [1.5, 1.0]
    assert mean.dead_fraction.iloc[0] == 0.25 and np.array_equal(reps, [[2.0, 4.0], [1.0, 1.0]])
    assert mean.D_lo.iloc[0] == pytest.approx(2.05) and mean.D_hi.iloc[0] == pytest.approx(3.95)
