"""The double-descent link (Dherin et al. G8 and Teague GR-2): the shared training setup, the data and
init-loss conditions of a training config, the interpolation threshold and where the dominance score D
changes along the width grid, with its bootstrap distance to the threshold. All of it is ours.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from gclib.experiments import data
from gclib.experiments.runs import DEFAULT_CONFIG
from gclib.stats import percentile_ci
from gclib.validate import check_positive_int, check_real

__all__ = ["DOUBLE_DESCENT_CONFIG", "dominance_transition", "interpolation_threshold", "transition_distance",
           "config_dataset", "config_condition"]

#: The fixed part of the G8 double-descent training setup (``gclib.experiments.runs.run_config`` keys),
#: shared by the gc_double_descent and gr_double_descent notebooks so the two train identical networks
#: [ours]: one hidden ReLU layer (``hidden`` is swept), ``nn.Linear``'s default init, full-batch Adam on
#: the squared loss of one-hot targets. Data, widths, learning rate and steps come from each notebook's
#: parameters.
DOUBLE_DESCENT_CONFIG: dict = {"model": "mlp", "activation": "relu", "init": "pytorch_default",
                               "optimizer": "adam", "batch_size": None, "loss": "mse", "track_bounds": False}


def dominance_transition(x, d) -> dict:
    """The transition of D along an ordered grid ``x`` (e.g. widths) [ours, fixed before measuring]:
    the first step i → i+1 where D changes sign (central ↔ zero dominance); if D never changes sign, the
    step with the largest abs(D_{i+1} − D_i). Returns ``{"index": i + 1, "x": x[i + 1], "kind": "sign change"
    | "largest step"}`` (index of the first grid point after the transition); with fewer than 2 grid points
    or a non-finite D there is no step: ``{"index": None, "x": nan, "kind": "none"}``."""
    x, d = np.asarray(x), np.asarray(d, dtype=float)
    if x.ndim != 1 or x.shape != d.shape:
        raise ValueError(f"x and d must be 1-D of equal length, got shapes {x.shape} and {d.shape}")
    if x.size < 2 or not np.all(np.isfinite(d)):
        return {"index": None, "x": math.nan, "kind": "none"}
    sign = np.flatnonzero(np.sign(d[:-1]) != np.sign(d[1:]))
    if sign.size:
        i, kind = int(sign[0]), "sign change"
    else:
        i, kind = int(np.argmax(np.abs(np.diff(d)))), "largest step"
    return {"index": i + 1, "x": x[i + 1].item(), "kind": kind}


def interpolation_threshold(x, train_acc, *, level: float = 0.99) -> dict:
    """The interpolation threshold on an ordered grid ``x`` (e.g. widths) [ours]: the first point whose final
    training accuracy is >= ``level``. Returns ``{"index", "x"}`` (index None, x NaN if never reached)."""
    check_real("level", level, low=0.0, high=1.0)
    x, acc = np.asarray(x), np.asarray(train_acc, dtype=float)
    if x.ndim != 1 or x.shape != acc.shape or x.size == 0:
        raise ValueError("x and train_acc must be 1-D of equal, non-zero length")
    hit = np.flatnonzero(acc >= level)
    return {"index": int(hit[0]), "x": x[hit[0]].item()} if hit.size else {"index": None, "x": math.nan}


def transition_distance(x, d, boot, target_index, *,
                        level: float = 0.95) -> tuple[float, tuple[float, float]]:
    """Distance in grid steps between the transition of D (:func:`dominance_transition` of ``d``) and the grid
    index ``target_index`` (e.g. the interpolation threshold), with a percentile CI from the bootstrap
    replicates ``boot`` (len(x), B) of D. ``target_index`` None gives (inf, (inf, inf)): no threshold; no
    transition (fewer than 2 grid points) gives NaN: no statistic."""
    if target_index is None:
        return math.inf, (math.inf, math.inf)
    boot = np.asarray(boot, dtype=float)
    at = dominance_transition(x, d)["index"]
    if at is None:
        return math.nan, (math.nan, math.nan)
    steps = [dominance_transition(x, boot[:, b])["index"] for b in range(boot.shape[1])]
    reps = np.array([abs(i - target_index) for i in steps if i is not None], dtype=float)
    return float(abs(at - target_index)), percentile_ci(reps, level)


def config_dataset(config: dict):
    """The training data ``train.run_config(config, ...)`` uses (same loader, subset, PCA, label noise and
    ``data_seed``; ``data_seed`` None is not supported here, as the data would then vary with the seed)."""
    c = {**DEFAULT_CONFIG, **config}
    if c["data_seed"] is None:
        raise ValueError("config_dataset needs a fixed data_seed (None draws the data from each run's seed)")
    return data.load_dataset(c["dataset"], n_train=c["n_train"], n_test=c["n_test"], seed=c["data_seed"],
                             flatten=True, standardize=c["standardize"], pca=c["pca"],
                             label_noise=c["data_label_noise"], **c.get("data_options", {}))


def config_condition(config: dict, width: int, x: torch.Tensor, y: torch.Tensor, *, n_classes: int,
                     **labels) -> dict:
    """A :func:`dominance_sweep` condition for the one-hidden-layer MLP ``run_config`` builds from ``config``
    with hidden width ``width``: layer sizes [d_in, width, K], the config's init and biases as
    ``gclib.experiments.models.MLP`` draws them (sampled for "pytorch_default", zero otherwise).
    ``x`` (m, d_in); ``y`` (m,) class labels in [0, n_classes), one-hot encoded here (the squared loss of
    one-hot targets, L₀ = 1/K); ``labels`` become table columns."""
    c = {**DEFAULT_CONFIG, **config}
    if c["model"] != "mlp":
        raise ValueError(f"config_condition needs model='mlp', got {c['model']!r}")
    check_positive_int("width", width)
    k = check_positive_int("n_classes", n_classes)
    return {"layer_sizes": [x.shape[1], width, k], "init": c["init"], "activation": c["activation"],
            "bias": "sampled" if c["init"] == "pytorch_default" else "zero", "x": x,
            "y": data.one_hot(y, k).to(x.dtype), "width": width, **labels}
