"""One training loop with composable regularizers, a tidy history DataFrame, cached sweeps and summaries.

Every experiment group G2–G9 of Dherin et al. 2022 is ``train`` (or ``run_config`` / ``sweep``) with one
knob turned: explicit penalties (``L2``, ``SpectralNorm``, ``Flatness``, ``GCPenalty``) add a term to the
minibatch loss; data transforms (``LabelNoise``, ``InputNoise``) perturb each minibatch afresh every step.
Randomness has one stream per purpose, derived from ``seed``: minibatches (``"batches"``), each
regularizer (``"reg"``, its name), Hutchinson GC estimates, Gauss–Newton trace probes (``"gn-trace"``) and
bound power iterations at log time.
"""
from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from gclib import __version__, complexity, data, models
from gclib._device import derive_generator, resolve_device
from gclib._validate import (
    check_choice,
    check_optional_positive_int,
    check_positive_int,
    check_real,
    check_sizes,
)

OPTIMIZERS = ("sgd", "momentum", "adam")
LOSSES = ("cross_entropy", "mse")


def _weights(model: nn.Module) -> list[torch.Tensor]:
    """Weight tensors of the weight-bearing layers (``complexity.layer_weights``), biases excluded."""
    return [layer.weight for layer in complexity.layer_weights(model)]


class Regularizer:
    """Protocol. Penalties define ``penalty`` (raw value; ``loss_term = strength · penalty``); data
    transforms define ``transform(xb, yb, generator) -> (xb, yb)``. ``setup`` resets per-run state."""

    name, strength, is_penalty, _generator = "regularizer", 0.0, False, None

    def __init__(self, strength: float = 0.0):
        self.strength = check_real("strength", strength, low=0.0)

    def setup(self, model: nn.Module, dataset, generator: torch.Generator) -> None:
        """Reset per-run state; ``generator`` is this regularizer's own stream."""
        self._generator = generator

    def penalty(self, model, xb, yb, loss_fn, *, data_loss=None) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} is not a penalty")

    def loss_term(self, model, xb, yb, loss_fn, *, data_loss=None) -> torch.Tensor:
        """``strength · penalty(...)``, a differentiable scalar added to the minibatch loss."""
        return self.strength * self.penalty(model, xb, yb, loss_fn, data_loss=data_loss)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class L2(Regularizer):
    """Explicit parameter-norm penalty ``strength · Σ_l ‖W_l‖_F²`` over layer weights [paper: G2].

    Biases (and normalisation parameters) are excluded. This is a loss term, not the optimizer's
    ``weight_decay`` (the two differ for Adam and momentum).
    """

    name, is_penalty = "l2", True

    def penalty(self, model, xb, yb, loss_fn, *, data_loss=None):
        return sum(w.pow(2).sum() for w in _weights(model))


class SpectralNorm(Regularizer):
    """Spectral penalty ``strength · Σ_l σ_max(W_l)²`` by power iteration [paper: G3; Miyato et al. 2018].

    ``n_iter`` power iterations per call with persistent vectors u_l, v_l (kept across steps, reset by
    ``setup``); the gradient flows through σ = uᵀ W v with u, v detached, which is the exact gradient
    ``2σ u vᵀ`` of σ_max² once the iteration has converged. Conv kernels are reshaped to
    ``(out, in·kh·kw)`` matrices (Miyato's convention [ours], not the conv operator norm).
    """

    name, is_penalty = "spectral", True

    def __init__(self, strength: float, n_iter: int = 1):
        super().__init__(strength)
        self.n_iter = check_positive_int("n_iter", n_iter)
        self._uv = None

    def setup(self, model, dataset, generator):
        super().setup(model, dataset, generator)
        self._uv = None

    def sigmas(self, model: nn.Module) -> list[torch.Tensor]:
        """Run ``n_iter`` power iterations and return the differentiable estimates σ_l = u_lᵀ W_l v_l."""
        mats = [w.reshape(w.shape[0], -1) for w in _weights(model)]
        if self._uv is None or len(self._uv) != len(mats):
            gen = self._generator or torch.Generator().manual_seed(0)
            self._uv = [[F.normalize(torch.randn(m.shape[0], generator=gen, device=gen.device)
                                     .to(m.device, m.dtype), dim=0), None] for m in mats]
        with torch.no_grad():
            for uv, m in zip(self._uv, mats):
                for _ in range(self.n_iter):
                    uv[1] = F.normalize(m.t() @ uv[0], dim=0)
                    uv[0] = F.normalize(m @ uv[1], dim=0)
        return [u @ m @ v for (u, v), m in zip(self._uv, mats)]

    def penalty(self, model, xb, yb, loss_fn, *, data_loss=None):
        return sum(s.pow(2) for s in self.sigmas(model))


class Flatness(Regularizer):
    """Flatness penalty ``strength · ‖∇_θ L_B(θ)‖²`` by double backprop [paper: G4].

    L_B is the minibatch data loss (no other penalties); θ = all trainable parameters. Costs about two
    extra backward passes. ``data_loss`` (the already computed L_B with its graph) avoids a second forward.
    """

    name, is_penalty = "flatness", True

    def penalty(self, model, xb, yb, loss_fn, *, data_loss=None):
        loss = loss_fn(model(xb), yb) if data_loss is None else data_loss
        params = [p for p in model.parameters() if p.requires_grad]
        grads = torch.autograd.grad(loss, params, create_graph=True)
        return sum(g.pow(2).sum() for g in grads)


class GCPenalty(Regularizer):
    """Explicit geometric-complexity penalty ``strength · GC(f_θ, batch)`` via ``complexity.gc_penalty``
    (Hutchinson probes from this regularizer's stream, or exact) [paper: explicit GC regularization]."""

    name, is_penalty = "gc", True

    def __init__(self, strength: float, method: str = "hutchinson", n_probes: int = 1):
        super().__init__(strength)
        self.method = check_choice("method", method, ("exact", "hutchinson"))
        self.n_probes = check_positive_int("n_probes", n_probes)

    def penalty(self, model, xb, yb, loss_fn, *, data_loss=None):
        kw = {"generator": self._generator} if self.method == "hutchinson" else {}
        return complexity.gc_penalty(model, xb, method=self.method, n_probes=self.n_probes, **kw)


class LabelNoise(Regularizer):
    """SGD label noise [paper: G5]: each label of the minibatch is, with probability ``p``, replaced by a
    uniformly drawn *different* class (``data.add_label_noise``), afresh every step."""

    name = "label_noise"

    def __init__(self, p: float, n_classes: int | None = None):
        self.p = check_real("p", p, low=0.0, high=1.0)
        self.n_classes = check_optional_positive_int("n_classes", n_classes)
        if n_classes == 1:
            raise ValueError("n_classes must be >= 2 for label noise (or None: taken from the dataset)")

    def setup(self, model, dataset, generator):
        super().setup(model, dataset, generator)
        if self.n_classes is None:
            if dataset.n_classes < 2:
                raise ValueError(f"LabelNoise needs a classification dataset, {dataset.name!r} has "
                                 f"n_classes={dataset.n_classes}")
            self.n_classes = dataset.n_classes

    def transform(self, xb, yb, generator):
        return xb, data.add_label_noise(yb, self.p, self.n_classes, generator=generator)[0]


class InputNoise(Regularizer):
    """Gaussian input noise ``x + σ ε``, ε ~ N(0, I) afresh every step; with MSE it adds
    ``σ² ‖∇_x f‖_F²`` to the expected loss (Bishop 1995) — an implicit GC penalty [ours]."""

    name = "input_noise"

    def __init__(self, sigma: float):
        self.sigma = check_real("sigma", sigma, low=0.0)

    def transform(self, xb, yb, generator):
        eps = torch.randn(xb.shape, generator=generator, device=generator.device).to(xb.device, xb.dtype)
        return xb + self.sigma * eps, yb


def make_regularizers(l2=0.0, spectral=0.0, flatness=0.0, gc=0.0, label_noise=0.0, input_noise=0.0, *,
                      spectral_iters: int = 1, gc_method: str = "hutchinson", gc_probes: int = 1) -> list:
    """The regularizers with a non-zero strength (zeros skipped), in this fixed order."""
    makers = {"l2": L2, "spectral": lambda s: SpectralNorm(s, spectral_iters), "flatness": Flatness,
              "gc": lambda s: GCPenalty(s, gc_method, gc_probes), "label_noise": LabelNoise,
              "input_noise": InputNoise}
    values = dict(zip(makers, (l2, spectral, flatness, gc, label_noise, input_noise)))
    for n, v in values.items():
        check_real(n, v, low=0.0, high=1.0 if n == "label_noise" else None)
    return [makers[n](v) for n, v in values.items() if v != 0]


def _loss_fn(loss: str, n_classes: int):
    """Data loss ``(out, y) -> scalar``. MSE = mean over examples of ‖f(x) − t‖² summed over outputs
    [ours], t = one-hot(y) for classification, t = y for regression (n_classes == 0)."""
    if loss == "cross_entropy":
        return F.cross_entropy
    if n_classes > 0:
        return lambda out, y: (out - F.one_hot(y, out.shape[-1]).to(out.dtype)).pow(2).sum(-1).mean()
    return lambda out, y: ((out - y.reshape(out.shape).to(out.dtype)).pow(2)
                           .reshape(len(out), -1).sum(-1).mean())


def gn_trace(model: nn.Module, x: torch.Tensor, *, n_probes: int = 8,
             generator: torch.Generator | None = None) -> tuple[float, float]:
    """Gauss–Newton (MSE) trace ``(1/n) Σ_i ‖∇_θ f(x_i)‖_F²`` of the outputs f (logits) over all trainable
    parameters θ on the inputs ``x`` (n examples), by Rademacher probes [ours]; returns (estimate, stderr).

    With independent Rademacher probes v_i ∈ {±1}^K per example, E‖∇_θ Σ_i v_iᵀ f(x_i)‖² = Σ_i ‖J_i‖_F²
    (J_i = ∂f(x_i)/∂θ; the cross terms vanish as E v_i v_jᵀ = δ_ij I), so each probe costs one backward
    pass through one forward over the whole batch, with no per-example loop. The estimate is the mean over
    ``n_probes`` probes divided by n; stderr is the standard error of that mean (NaN for one probe). At an
    interpolating MSE minimum this is Tr of the loss Hessian (up to the loss's factor 2), the quantity
    flatness regularization targets [paper: G4]. The model is used in whatever mode it is in.
    """
    check_positive_int("n_probes", n_probes)
    params = [p for p in model.parameters() if p.requires_grad]
    if len(x) == 0 or not params:
        return math.nan, math.nan
    gen = generator or torch.Generator().manual_seed(0)
    with torch.enable_grad():
        out = model(x)
        vals = []
        for j in range(n_probes):
            v = torch.randint(0, 2, out.shape, generator=gen, device=gen.device).to(out.device, out.dtype)
            grads = torch.autograd.grad((out * (2 * v - 1)).sum(), params, retain_graph=j < n_probes - 1,
                                        allow_unused=True)
            vals.append(float(sum(g.pow(2).sum() for g in grads if g is not None)) / len(x))
    arr = np.asarray(vals)
    stderr = float(arr.std(ddof=1) / math.sqrt(len(arr))) if len(arr) > 1 else math.nan
    return float(arr.mean()), stderr


@torch.no_grad()
def _evaluate(model, x, y, loss_fn, n_classes, chunk=2048):
    """(mean loss, accuracy) on (x, y) in chunks; accuracy NaN for regression, both NaN when empty."""
    if len(x) == 0:
        return math.nan, math.nan
    tot_loss, correct = 0.0, 0
    for i in range(0, len(x), chunk):
        out = model(x[i:i + chunk])
        tot_loss += float(loss_fn(out, y[i:i + chunk])) * len(out)
        if n_classes > 0:
            correct += int((out.argmax(-1) == y[i:i + chunk]).sum())
    return tot_loss / len(x), (correct / len(x) if n_classes > 0 else math.nan)


def _validate_train(model, ds, optimizer, lr, momentum, batch_size, steps, loss, regularizers, seed,
                    eval_every, eval_subset, gc_method, track_bounds, progress, track_gn=False, gn_probes=8):
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not all(hasattr(ds, a) for a in ("x_train", "y_train", "x_test", "y_test", "n_classes")):
        raise TypeError(f"data must be a gclib Dataset, got {type(ds).__name__}")
    check_choice("optimizer", optimizer, OPTIMIZERS)
    check_real("lr", lr, low=0.0, low_open=True)
    check_real("momentum", momentum, low=0.0, high=1.0, high_open=True)
    n = len(ds.x_train)
    if check_optional_positive_int("batch_size", batch_size) is not None and batch_size > n:
        raise ValueError(f"batch_size must be in [1, n_train={n}] or None (full batch), got {batch_size}")
    check_positive_int("steps", steps)
    check_choice("loss", loss, LOSSES)
    if loss == "cross_entropy" and ds.n_classes < 2:
        raise ValueError(f"loss='cross_entropy' needs a classification dataset; {ds.name!r} is regression")
    if not isinstance(regularizers, (list, tuple)) or not all(isinstance(r, Regularizer)
                                                               for r in regularizers):
        raise TypeError(f"regularizers must be a list of Regularizer objects, got {regularizers!r}")
    for name, v in (("seed", seed), ("eval_every", eval_every), ("eval_subset", eval_subset)):
        check_positive_int(name, v, allow_zero=name == "seed")
    if gc_method is not None:
        check_choice("gc_method", gc_method, ("exact", "hutchinson"))
    check_positive_int("gn_probes", gn_probes)
    for name, v in (("track_bounds", track_bounds), ("progress", progress), ("track_gn", track_gn)):
        if not isinstance(v, bool):
            raise TypeError(f"{name} must be a bool, got {v!r}")


def train(model: nn.Module, data, *, optimizer: str = "sgd", lr: float = 0.05, momentum: float = 0.9,
          batch_size: int | None = 64, steps: int = 1000, loss: str = "cross_entropy", regularizers=(),
          seed: int = 0, device="cpu", eval_every: int = 100, eval_subset: int = 512,
          gc_method: str | None = "exact", track_bounds: bool = True, track_gn: bool = False,
          gn_probes: int = 8, progress: bool = False) -> pd.DataFrame:
    """Train ``model`` in place on ``data`` (a ``gclib.data.Dataset``) and return its logged history.

    Each step: draw a minibatch (epoch-wise permutations from stream ``"batches"``, every example once per
    epoch; ``batch_size=None`` = full batch), apply the data transforms, take one optimizer step on
    ``L_B + Σ strength·penalty``. ``optimizer``: "sgd" (plain), "momentum" (SGD, ``momentum``), "adam".
    At step 0, every ``eval_every`` steps and at the last step one row is logged, in eval mode, on the
    fixed evaluation subset (the first ``eval_subset`` training points and their dataset labels, without
    the per-step transforms):

    ``step, epoch`` (examples seen / n_train), ``train_loss, train_acc`` (eval subset, no penalties),
    ``test_loss, test_acc`` (whole test set), ``gc`` (+ ``gc_stderr`` for Hutchinson; ``gc_method=None``
    skips it), ``spectral_bound, param_bound`` (``track_bounds``), ``gn_trace, gn_trace_stderr``
    (``track_gn``: the Gauss–Newton trace (1/n) Σ_i ‖∇_θ f(x_i)‖_F² of the logits over all parameters on
    the eval subset [ours], estimated by ``gn_probes`` Rademacher probes of E‖∇_θ Σ_i v_iᵀ f(x_i)‖² =
    Σ_i ‖J_i‖_F², one backward pass each, from stream ``"gn-trace"``; see ``gn_trace``), ``batch_loss``
    and ``penalty_<name>`` (raw penalties without strength; means over the steps since the previous row,
    NaN at step 0),
    ``lr, batch_size``. Accuracy is NaN for regression (``n_classes == 0``, ``loss="mse"``). The bounds
    assume a Linear/Conv2d chain (see ``complexity.spectral_norm_bound``); ``param_bound`` is NaN for conv
    nets. Set ``track_bounds=False`` for residual or normalised models, where they are not bounds.

    A non-finite training loss stops the run: a last row with NaN metrics is logged and
    ``df.attrs["diverged"] = True``. ``KeyboardInterrupt`` returns the rows logged so far with
    ``df.attrs["interrupted"] = True``. ``df.attrs["config"]`` holds the arguments. On CPU two calls with
    the same model initialisation, data and seed give identical histories.
    """
    _validate_train(model, data, optimizer, lr, momentum, batch_size, steps, loss, regularizers, seed,
                    eval_every, eval_subset, gc_method, track_bounds, progress, track_gn, gn_probes)
    dev = resolve_device(device)
    ds = data.to(dev)
    model.to(dev)
    n, k = len(ds.x_train), ds.n_classes
    bs = n if batch_size is None else batch_size
    loss_fn = _loss_fn(loss, k)
    regs, seen = list(regularizers), {}
    for r in regs:
        seen[r.name] = seen.get(r.name, -1) + 1
        r.setup(model, ds, derive_generator(seed, "reg", r.name, seen[r.name], device=dev))
    penalties = [r for r in regs if r.is_penalty]
    transforms = [r for r in regs if not r.is_penalty]
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr)
    else:
        opt = torch.optim.SGD(params, lr=lr, momentum=momentum if optimizer == "momentum" else 0.0)
    x_eval, y_eval = ds.x_train[:eval_subset], ds.y_train[:eval_subset]
    conv = any(isinstance(m, nn.Conv2d) for m in model.modules())
    input_shape = tuple(ds.x_train.shape[1:]) if conv else None  # conv operator norms need it
    batch_gen = derive_generator(seed, "batches")
    config = dict(model=type(model).__name__, n_params=sum(p.numel() for p in params), dataset=ds.name,
                  n_train=n, optimizer=optimizer, lr=lr, momentum=momentum, batch_size=batch_size,
                  steps=steps, loss=loss, regularizers=[repr(r) for r in regs], seed=seed, device=str(dev),
                  eval_every=eval_every, eval_subset=len(x_eval), gc_method=gc_method,
                  track_bounds=track_bounds, track_gn=track_gn, gn_probes=gn_probes)
    rows, sums, n_acc = [], {}, 0
    was_training, diverged, interrupted = model.training, False, False

    def log(step, ok=True):
        nonlocal sums, n_acc
        row = {"step": step, "epoch": step * bs / n}
        model.eval()
        try:
            if ok:
                row["train_loss"], row["train_acc"] = _evaluate(model, x_eval, y_eval, loss_fn, k)
                row["test_loss"], row["test_acc"] = _evaluate(model, ds.x_test, ds.y_test, loss_fn, k)
            if gc_method is not None and ok:
                hutch = gc_method == "hutchinson"
                res = complexity.geometric_complexity(
                    model, x_eval, method=gc_method,
                    generator=derive_generator(seed, "gc-eval", step, device=dev) if hutch else None)
                row["gc"] = float(res.value)
                if hutch:
                    row["gc_stderr"] = math.nan if res.stderr is None else float(res.stderr)
            if track_bounds and ok:
                gen = derive_generator(seed, "bounds", step, device=dev)
                row["spectral_bound"] = float(complexity.spectral_norm_bound(model, input_shape=input_shape,
                                                                             generator=gen))
                row["param_bound"] = math.nan if conv else float(complexity.parameter_norm_bound(model))
            if track_gn and ok:
                row["gn_trace"], row["gn_trace_stderr"] = gn_trace(
                    model, x_eval, n_probes=gn_probes, generator=derive_generator(seed, "gn-trace", step,
                                                                                  device=dev))
        finally:
            model.train()
        row["batch_loss"] = sums.pop("batch_loss", math.nan) / n_acc if n_acc else math.nan
        for r in penalties:
            row[f"penalty_{r.name}"] = sums.pop(r.name, math.nan) / n_acc if n_acc else math.nan
        row["lr"], row["batch_size"] = opt.param_groups[0]["lr"], bs
        rows.append(row)
        sums, n_acc = {}, 0

    perm = torch.empty(0, dtype=torch.long)
    bar = tqdm(total=steps, leave=False, disable=not progress, desc="train")
    try:
        model.train()
        log(0)
        for step in range(1, steps + 1):
            if batch_size is None:
                xb, yb = ds.x_train, ds.y_train
            else:
                if len(perm) < bs:
                    perm = torch.cat([perm, torch.randperm(n, generator=batch_gen)])
                idx, perm = perm[:bs].to(dev), perm[bs:]
                xb, yb = ds.x_train[idx], ds.y_train[idx]
            for r in transforms:
                xb, yb = r.transform(xb, yb, r._generator)
            data_loss = loss_fn(model(xb), yb)
            total = data_loss
            for r in penalties:
                raw = r.penalty(model, xb, yb, loss_fn, data_loss=data_loss)
                total = total + r.strength * raw
                sums[r.name] = sums.get(r.name, 0.0) + float(raw.detach())
            sums["batch_loss"] = sums.get("batch_loss", 0.0) + float(data_loss.detach())
            n_acc += 1
            if not math.isfinite(float(total.detach())):
                diverged = True
                log(step, ok=False)
                break
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            bar.update(1)
            if step % eval_every == 0 or step == steps:
                log(step)
                bar.set_postfix(loss=f"{rows[-1]['train_loss']:.3g}")
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        model.train(was_training)
    df = pd.DataFrame(rows)
    df.attrs.update(config=config, interrupted=interrupted, diverged=diverged)
    return df


DEFAULT_CONFIG: dict = {
    # data (gclib.data.load_dataset); the data subset is drawn with data_seed (None: the run's seed)
    "dataset": "digits", "n_train": None, "n_test": None, "pca": None, "standardize": True,
    "data_label_noise": 0.0,  # fixed dataset-level label noise (double descent, G8)
    "data_seed": 0,
    "data_options": {},  # only for dataset "gaussian": d, n_classes (0 = regression), noise
    # model (gclib.models): "mlp" uses hidden (list of widths) and activation, "cnn"/"resnet" use width
    # (use track_bounds=False for "resnet": BatchNorm and skips void the bounds); init: sampling registry
    "model": "mlp", "hidden": [128, 128], "activation": "relu", "width": 16, "init": "pytorch_default",
    # regularizer strengths (0 = off), see make_regularizers
    "l2": 0.0, "spectral": 0.0, "flatness": 0.0, "gc": 0.0, "label_noise": 0.0, "input_noise": 0.0,
    "spectral_iters": 1, "gc_penalty_method": "hutchinson", "gc_penalty_probes": 1,
    # training loop (train)
    "optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "batch_size": 64, "steps": 1000, "loss": "cross_entropy",
    "eval_every": 100, "eval_subset": 512, "gc_method": "exact", "device": "cpu", "track_bounds": True,
    "track_gn": False, "gn_probes": 8,  # log the Gauss–Newton trace (gn_trace) with this many probes
}
_TRAIN_KEYS = ("optimizer", "lr", "momentum", "batch_size", "steps", "loss", "eval_every", "eval_subset",
               "gc_method", "device", "track_bounds", "track_gn", "gn_probes")


def _full_config(config: dict) -> dict:
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict, got {type(config).__name__}")
    unknown = sorted(set(config) - set(DEFAULT_CONFIG))
    if unknown:
        raise ValueError(f"unknown config key(s) {unknown}; valid: {', '.join(DEFAULT_CONFIG)}")
    return {**DEFAULT_CONFIG, **config}


def run_config(config: dict, *, seed: int) -> pd.DataFrame:
    """Build dataset, model and regularizers from ``config`` (keys of ``DEFAULT_CONFIG``; missing keys take
    the defaults, unknown keys raise) and ``train``; a pure function of ``(config, seed)``.

    ``seed`` drives the model initialisation, the minibatch order and the regularizer noise; the dataset
    subset uses ``data_seed`` (default 0: the same data in every seed; None: ``seed``).
    """
    check_positive_int("seed", seed, allow_zero=True)
    c = _full_config(config)
    name, hidden = c["model"], check_sizes("hidden", c["hidden"], min_len=0)
    if not isinstance(c["data_options"], dict):
        raise TypeError(f"data_options must be a dict, got {c['data_options']!r}")
    ds = data.load_dataset(c["dataset"], n_train=c["n_train"], n_test=c["n_test"],
                           seed=seed if c["data_seed"] is None else c["data_seed"], flatten=name == "mlp",
                           standardize=c["standardize"], pca=c["pca"], label_noise=c["data_label_noise"],
                           **c["data_options"])
    n_out = ds.n_classes if ds.n_classes > 0 else int(np.prod(ds.y_train.shape[1:], dtype=int))
    if name == "mlp":
        model = models.MLP([ds.input_dim, *hidden, n_out], activation=c["activation"], init=c["init"],
                           seed=seed)
    else:
        kw = {"image_size": ds.x_train.shape[-1]} if name == "cnn" else {}
        model = models.build_model(name, in_channels=ds.x_train.shape[1], n_classes=n_out, width=c["width"],
                                   init=c["init"], seed=seed, **kw)
    regs = make_regularizers(c["l2"], c["spectral"], c["flatness"], c["gc"], c["label_noise"],
                             c["input_noise"], spectral_iters=c["spectral_iters"],
                             gc_method=c["gc_penalty_method"], gc_probes=c["gc_penalty_probes"])
    df = train(model, ds, regularizers=regs, seed=seed, **{key: c[key] for key in _TRAIN_KEYS})
    df.attrs["config"] = {"run_config": c, "seed": seed, "train": df.attrs["config"]}
    return df


@functools.lru_cache(maxsize=1)
def _source_hash() -> str:
    """sha256 over the bytes of gclib's ``*.py`` files (sorted by name): code changes invalidate caches."""
    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def cache_key(config: dict, seed: int) -> str:
    """sha256 of the canonical JSON of (full config, seed, gclib version, source hash)."""
    payload = {"config": _full_config(config), "seed": seed, "version": __version__, "source": _source_hash()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _cache_dir(cache_dir) -> Path:
    if cache_dir is None:
        cache_dir = os.environ.get("GCLIB_CACHE_DIR") or Path.home() / ".cache" / "gclib" / "sweeps"
    return Path(cache_dir)


def sweep(grid: dict, *, base: dict, seeds, cache_dir=None, progress: bool = True) -> pd.DataFrame:
    """``run_config({**base, **point}, seed=s)`` for every grid point (product over ``grid``'s keys, in
    order) and seed, concatenated with the grid keys and ``seed`` as columns (a grid key that is already a
    history column, e.g. ``lr``, keeps the history's value; list values become tuples).

    Each cell is cached in ``cache_dir`` (default env ``GCLIB_CACHE_DIR`` or ``~/.cache/gclib/sweeps``) as
    ``<cache_key>.pkl``, written atomically, so a rerun loads it and an interrupted sweep recomputes only
    the missing cells. A cell that raises propagates the error and caches nothing.
    """
    if not isinstance(grid, dict) or not all(isinstance(v, (list, tuple)) and v for v in grid.values()):
        raise TypeError("grid must be a dict mapping config keys to non-empty lists of values")
    _full_config({**base, **{key: None for key in grid}})  # unknown keys raise before any compute
    if isinstance(seeds, int) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise TypeError(f"seeds must be a non-empty list of integers, got {seeds!r}")
    directory = _cache_dir(cache_dir)
    directory.mkdir(parents=True, exist_ok=True)
    cells = [(dict(zip(grid, values)), s) for values in itertools.product(*grid.values()) for s in seeds]
    paths = [directory / f"{cache_key({**base, **point}, s)}.pkl" for point, s in cells]  # JSON-able?
    frames = []
    for (point, s), path in tqdm(list(zip(cells, paths)), disable=not progress, desc="sweep", leave=False):
        if path.exists():
            df = pd.read_pickle(path)
        else:
            df = run_config({**base, **point}, seed=s)
            if df.attrs.get("interrupted"):
                raise KeyboardInterrupt("sweep interrupted; finished cells are cached")
            fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
            os.close(fd)
            try:
                df.to_pickle(tmp)
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)
        df = df.copy()
        for key, v in {**point, "seed": s}.items():
            if key not in df.columns or key == "seed":
                df[key] = pd.Series([tuple(v) if isinstance(v, list) else v] * len(df), index=df.index)
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    out.attrs = {"grid": {key: list(v) for key, v in grid.items()}, "base": dict(base), "seeds": list(seeds)}
    return out


def _by(by) -> list[str]:
    return [by] if isinstance(by, str) else list(by)


def final_rows(df: pd.DataFrame, by) -> pd.DataFrame:
    """The last logged row (largest ``step``) of every run, runs identified by the columns ``by``."""
    by = _by(by)
    return (df.sort_values("step", kind="stable").groupby(by, sort=True, dropna=False).tail(1)
            .sort_values(by, kind="stable").reset_index(drop=True))


def value_at_train_loss(df: pd.DataFrame, target: float, by, value: str = "gc") -> pd.DataFrame:
    """Per run, ``value`` where ``train_loss`` first reaches ``target`` (G6: GC at equal train loss).

    With rows i−1, i the first pair with L_{i−1} > target ≥ L_i, returns
    v_{i−1} + t (v_i − v_{i−1}), t = (L_{i−1} − target)/(L_{i−1} − L_i) (linear in train loss between
    logged steps; step interpolated the same way), v_0 if L_0 ≤ target, NaN if never reached.
    Columns: ``by``..., ``value``, ``step``.
    """
    check_real("target", target)
    by, out = _by(by), []
    for keys, g in df.sort_values("step", kind="stable").groupby(by, sort=True, dropna=False):
        loss, v, st = (g[c].to_numpy(dtype=float) for c in ("train_loss", value, "step"))
        hit = np.flatnonzero(loss <= target)
        res_v = res_s = math.nan
        if len(hit):
            i = hit[0]
            t = 1.0 if i == 0 else (loss[i - 1] - target) / (loss[i - 1] - loss[i])
            j = max(i - 1, 0)
            res_v, res_s = v[j] + t * (v[i] - v[j]), st[j] + t * (st[i] - st[j])
        out.append({**dict(zip(by, keys)), value: res_v, "step": res_s})
    return pd.DataFrame(out)
