"""G9: one-dimensional interpolation — GC as a Dirichlet energy, from a smooth and from a rough start.

For scalar data (x_i, y_i) the Dirichlet energy ∫ f'(x)² dx / (x_max − x_min) is minimised over the
interpolants by the piecewise-linear one [ours: standard]; GC on a uniform grid of [x_min, x_max] is its
discrete form. :func:`interpolation_runs` trains wide one-hidden-layer ReLU networks by full-batch gradient
descent on the squared loss and records, at given steps, GC on the grid and on the data points, the arc
length and the learned function, beside the interpolant's energy [paper: G9; recipe ours].
"""
from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import torch

from gclib.complexity import geometric_complexity
from gclib.experiments import data, models, train
from gclib.validate import check_positive_int, check_real

__all__ = ["INITS", "interpolation_runs"]

#: "standard": the scheme as drawn (smoother than the data); "rough" [protocol v2]: the same network with its
#: output layer (weights and bias) scaled by c so that its initial GC on the grid is ``rough_ratio`` × the
#: interpolant's Dirichlet energy (the function is scaled by c, its GC by c²)
INITS = ("standard", "rough")


def _problem(seed: int, n_points: int, noise: float, n_grid: int, device):
    x, y = data.make_1d_regression(n_points, seed=seed, noise=noise)
    grid = torch.linspace(float(x.min()), float(x.max()), n_grid)[:, None]
    interp = torch.from_numpy(np.interp(grid[:, 0].numpy(), x[:, 0].numpy(), y[:, 0].numpy()))
    interp = interp.float()[:, None]
    ds = data.Dataset(x, y, grid, interp, "sin1d", 0, "make_1d_regression; test = interpolant on a grid")
    energy = float(((interp.diff(dim=0) / grid.diff(dim=0)) ** 2).mean())
    arrays = (x[:, 0].numpy(), y[:, 0].numpy(), grid[:, 0].numpy(), interp[:, 0].numpy())
    return ds.to(device), energy, arrays, float(torch.hypot(grid.diff(dim=0), interp.diff(dim=0)).sum())


def _trajectory(net, ds, *, seed, lr, snapshot_steps, device):
    """Train ``net`` by full-batch GD (MSE) through ``snapshot_steps``; yield (step, record, f on grid)."""
    done, grid = 0, ds.x_test.cpu()
    for step in snapshot_steps:
        if step > done:
            train.train(net, ds, optimizer="sgd", lr=lr, batch_size=None, steps=step - done, loss="mse",
                        seed=seed, device=device, eval_every=step - done, eval_subset=len(ds.x_train),
                        gc_method=None, track_bounds=False)
            done = step
        with torch.no_grad():
            f_grid = net(ds.x_test)[:, 0].cpu()
            train_loss = float((net(ds.x_train) - ds.y_train).pow(2).mean())
        record = {"step": step, "train_loss": train_loss,
                  "gc_grid": geometric_complexity(net, ds.x_test).value,
                  "gc_data": geometric_complexity(net, ds.x_train).value,
                  "arc_length": float(torch.hypot(grid.diff(dim=0)[:, 0], f_grid.diff()).sum())}
        yield step, record, f_grid.numpy()


def interpolation_runs(seeds, *, n_points: int = 10, noise: float = 0.3, n_grid: int = 400, width: int = 256,
                       init: str = "he_normal", lr: float = 0.002, snapshot_steps=(0, 10, 100, 1000),
                       inits=("standard",), rough_ratio: float = 4.0, device="cpu"):
    """Train, per seed (a new data draw and initialization) and per start in ``inits``, a network
    ``MLP([1, width, 1])`` (``init`` weights, biases drawn from the same scheme so the kinks spread over the
    inputs) on ``n_points`` points y = sin(πx) + noise·ε, recording every ``snapshot_steps`` step.

    Returns ``(hist, functions, problems)``: ``hist`` one row per (seed, init, step) with ``train_loss``
    (mean squared error), ``gc_grid`` (GC on ``n_grid`` uniform points spanning the data), ``gc_data`` (GC
    on the data points), ``arc_length`` (of f on [x_min, x_max]), ``interp_energy`` and
    ``interp_arc_length`` (of the piecewise-linear interpolant) and ``scale`` (the output-layer factor c:
    1 for "standard"); ``functions[(seed, init, step)]`` = f on the grid; ``problems[seed]`` =
    (x, y, grid, interpolant) as numpy arrays. The rough start is the standard one scaled (``INITS``).
    """
    if isinstance(seeds, int) or not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise TypeError(f"seeds must be a non-empty list of integers >= 0, got {seeds!r}")
    for name, v in (("n_points", n_points), ("n_grid", n_grid), ("width", width)):
        check_positive_int(name, v)
    check_real("noise", noise, low=0.0)
    check_real("lr", lr, low=0.0, low_open=True)
    check_real("rough_ratio", rough_ratio, low=0.0, low_open=True)
    steps = list(snapshot_steps)
    if not steps or any(not isinstance(s, int) or s < 0 for s in steps) or steps != sorted(set(steps)):
        raise ValueError(f"snapshot_steps must be increasing integers >= 0, got {snapshot_steps!r}")
    if isinstance(inits, str) or not inits or any(i not in INITS for i in inits):
        raise ValueError(f"inits must be a non-empty list of {INITS}, got {inits!r}")
    records, functions, problems = [], {}, {}
    for s in seeds:
        ds, energy, arrays, interp_arc = _problem(s, n_points, noise, n_grid, device)
        problems[s] = arrays
        base = models.MLP([1, width, 1], init=init, bias_init="sampled", seed=s).to(ds.x_train.device)
        for kind in inits:
            net, scale = copy.deepcopy(base), 1.0  # both starts from the same drawn weights
            if kind == "rough":
                scale = math.sqrt(rough_ratio * energy / geometric_complexity(net, ds.x_test).value)
                with torch.no_grad():
                    net.linears[-1].weight.mul_(scale)
                    net.linears[-1].bias.mul_(scale)
            for step, rec, f in _trajectory(net, ds, seed=s, lr=lr, snapshot_steps=steps, device=device):
                records.append({"seed": s, "init": kind, **rec, "interp_energy": energy,
                                "interp_arc_length": interp_arc, "scale": scale})
                functions[s, kind, step] = f
    return pd.DataFrame(records), functions, problems
