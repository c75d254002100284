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

from gclib import __version__, complexity, curvature, data, models
from gclib._device import derive_generator, resolve_device
from gclib._validate import (
    check_choice,
    check_optional_positive_int,
    check_positive_int,
    check_real,
    check_sizes,
)
from gclib.losses import LOSSES, loss_function

OPTIMIZERS = ("sgd", "momentum", "adam")


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


class GaussNewton(Regularizer):
    """Gauss–Newton flatness penalty ``strength · (1/B) Σ_i ‖∇_θ f(x_i)‖_F²`` on the minibatch logits
    [protocol v2 of G4: the flatness term of the transfer bound GC ≤ ‖W₁‖_op² · mean_x ‖∇_θ f‖² / ‖x‖²],
    by ``n_probes`` Rademacher probes from this regularizer's stream (``curvature.gn_penalty``: unbiased,
    differentiable by double backprop; unlike ``Flatness`` it does not vanish as the loss is fitted)."""

    name, is_penalty = "gauss_newton", True

    def __init__(self, strength: float, n_probes: int = 1):
        super().__init__(strength)
        self.n_probes = check_positive_int("n_probes", n_probes)

    def penalty(self, model, xb, yb, loss_fn, *, data_loss=None):
        return curvature.gn_penalty(model, xb, n_probes=self.n_probes, generator=self._generator)


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


def make_regularizers(l2=0.0, spectral=0.0, flatness=0.0, gc=0.0, label_noise=0.0, input_noise=0.0,
                      gauss_newton=0.0, *, spectral_iters: int = 1, gc_method: str = "hutchinson",
                      gc_probes: int = 1, gn_probes: int = 1) -> list:
    """The regularizers with a non-zero strength (zeros skipped), in this fixed order."""
    makers = {"l2": L2, "spectral": lambda s: SpectralNorm(s, spectral_iters), "flatness": Flatness,
              "gc": lambda s: GCPenalty(s, gc_method, gc_probes), "label_noise": LabelNoise,
              "input_noise": InputNoise, "gauss_newton": lambda s: GaussNewton(s, gn_probes)}
    values = dict(zip(makers, (l2, spectral, flatness, gc, label_noise, input_noise, gauss_newton)))
    for n, v in values.items():
        check_real(n, v, low=0.0, high=1.0 if n == "label_noise" else None)
    return [makers[n](v) for n, v in values.items() if v != 0]


STATUSES = ("completed", "reached", "not_reached", "diverged", "collapsed", "interrupted")
#: a full-train loss above this multiple of the initial one stops the run as diverged [ours]
DIVERGE_FACTOR = 100.0
#: with ``target_loss`` and minibatches, the full-train loss is checked so that it falls by about CHECK_DROP
#: (log) between checks near the target, or after CHECK_RATIO · steps taken when it is not falling [ours]
CHECK_DROP, CHECK_RATIO = 0.01, 0.01
_STOCHASTIC_MODULES = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._NormBase)


@torch.no_grad()
def _evaluate(model, x, y, loss_fn, n_classes, chunk=2048):
    """(mean loss, accuracy, output constant over x?) on (x, y) in chunks; accuracy NaN for regression,
    everything NaN (and not constant) when x is empty."""
    if len(x) == 0:
        return math.nan, math.nan, False
    tot_loss, correct, lo, hi = 0.0, 0, None, None
    for i in range(0, len(x), chunk):
        out = model(x[i:i + chunk])
        tot_loss += float(loss_fn(out, y[i:i + chunk])) * len(out)
        if n_classes > 0:
            correct += int((out.argmax(-1) == y[i:i + chunk]).sum())
        mn, mx = out.amin(0), out.amax(0)
        lo, hi = (mn, mx) if lo is None else (torch.minimum(lo, mn), torch.maximum(hi, mx))
    return tot_loss / len(x), (correct / len(x) if n_classes > 0 else math.nan), bool((lo == hi).all())


def _log_steps(steps: int, per_decade: int | None) -> set[int]:
    """Log-spaced steps ⌈10^(k/per_decade)⌉ ≤ steps (k = 0, 1, …); empty without ``per_decade``."""
    out, k = set(), 0
    while per_decade:
        s = math.ceil(10 ** (k / per_decade) - 1e-9)
        if s > steps:
            break
        out.add(s)
        k += 1
    return out


def _validate_train(model, ds, a: dict) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not all(hasattr(ds, attr) for attr in ("x_train", "y_train", "x_test", "y_test", "n_classes")):
        raise TypeError(f"data must be a gclib Dataset, got {type(ds).__name__}")
    check_choice("optimizer", a["optimizer"], OPTIMIZERS)
    check_real("lr", a["lr"], low=0.0, low_open=True)
    check_real("momentum", a["momentum"], low=0.0, high=1.0, high_open=True)
    n = len(ds.x_train)
    if check_optional_positive_int("batch_size", a["batch_size"]) is not None and a["batch_size"] > n:
        raise ValueError(f"batch_size must be in [1, n_train={n}] or None (full batch), "
                         f"got {a['batch_size']}")
    check_positive_int("steps", a["steps"])
    check_choice("loss", a["loss"], LOSSES)
    if a["loss"] == "cross_entropy" and ds.n_classes < 2:
        raise ValueError(f"loss='cross_entropy' needs a classification dataset; {ds.name!r} is regression")
    regs = a["regularizers"]
    if not isinstance(regs, (list, tuple)) or not all(isinstance(r, Regularizer) for r in regs):
        raise TypeError(f"regularizers must be a list of Regularizer objects, got {regs!r}")
    for name in ("seed", "eval_every", "eval_subset", "gn_probes", "sharpness_every", "sharpness_iters",
                 "min_steps"):
        check_positive_int(name, a[name], allow_zero=name in ("seed", "min_steps"))
    check_optional_positive_int("evals_per_decade", a["evals_per_decade"])
    if a["gc_method"] is not None:
        check_choice("gc_method", a["gc_method"], ("exact", "hutchinson"))
    if a["target_loss"] is not None:
        check_real("target_loss", a["target_loss"], low=0.0, low_open=True)
    check_real("sharpness_tol", a["sharpness_tol"], low=0.0)
    for name in ("track_bounds", "progress", "track_gn", "track_sharpness"):
        if not isinstance(a[name], bool):
            raise TypeError(f"{name} must be a bool, got {a[name]!r}")


class _Run:
    """The state of one ``train`` call: set-up, one optimizer step, one logged row, loss checks."""

    def __init__(self, model, data, a: dict):
        self.a, self.seed = a, a["seed"]
        self.dev = resolve_device(a["device"])
        self.ds = ds = data.to(self.dev)
        self.model = model.to(self.dev)
        self.n, self.k = len(ds.x_train), ds.n_classes
        self.bs = self.n if a["batch_size"] is None else a["batch_size"]
        self.loss_fn = loss_function(a["loss"], self.k)
        regs, seen = list(a["regularizers"]), {}
        for r in regs:
            seen[r.name] = seen.get(r.name, -1) + 1
            r.setup(model, ds, derive_generator(self.seed, "reg", r.name, seen[r.name], device=self.dev))
        self.regs = regs
        self.penalties = [r for r in regs if r.is_penalty]
        self.transforms = [r for r in regs if not r.is_penalty]
        params = [p for p in model.parameters() if p.requires_grad]
        if a["optimizer"] == "adam":
            self.opt = torch.optim.Adam(params, lr=a["lr"])
        else:
            self.opt = torch.optim.SGD(params, lr=a["lr"],
                                       momentum=a["momentum"] if a["optimizer"] == "momentum" else 0.0)
        self.x_eval, self.y_eval = ds.x_train[:a["eval_subset"]], ds.y_train[:a["eval_subset"]]
        conv = any(isinstance(m, nn.Conv2d) for m in model.modules())
        self.conv = conv
        self.input_shape = tuple(ds.x_train.shape[1:]) if conv else None  # conv operator norms need it
        self.batch_gen = derive_generator(self.seed, "batches")
        self.perm = torch.empty(0, dtype=torch.long)
        # full-batch GD on a deterministic model: the step's own forward is the full-train loss check
        self.free_checks = (a["batch_size"] is None and not self.transforms
                            and not any(isinstance(m, _STOCHASTIC_MODULES) for m in model.modules()))
        self.log_set = _log_steps(a["steps"], a["evals_per_decade"])
        if 0 < a["min_steps"] <= a["steps"]:  # the fixed-steps reading of a run that goes on past a crossing
            self.log_set.add(a["min_steps"])
        self.rows, self.sums, self.n_acc = [], {}, 0
        self.status, self.initial_loss, self.min_loss, self.next_check = "completed", None, math.inf, 1
        self.last_check = None
        self.eig_vector, self.last_constant = None, False
        self.config = dict(model=type(model).__name__, n_params=sum(p.numel() for p in params),
                           dataset=ds.name, n_train=self.n, regularizers=[repr(r) for r in regs],
                           device=str(self.dev), eval_subset=len(self.x_eval),
                           **{key: a[key] for key in _CONFIG_ARGS})

    # -------------------------------------------------------------- one optimizer step
    def batch(self):
        if self.a["batch_size"] is None:
            return self.ds.x_train, self.ds.y_train
        if len(self.perm) < self.bs:
            self.perm = torch.cat([self.perm, torch.randperm(self.n, generator=self.batch_gen)])
        idx, self.perm = self.perm[:self.bs].to(self.dev), self.perm[self.bs:]
        return self.ds.x_train[idx], self.ds.y_train[idx]

    def step(self, step: int) -> bool:
        """One optimizer step; False when the run stops before taking it (diverged, or the free
        full-batch check found the target reached at ``step - 1``)."""
        xb, yb = self.batch()
        for r in self.transforms:
            xb, yb = r.transform(xb, yb, r._generator)
        out = self.model(xb)
        data_loss = self.loss_fn(out, yb)
        if self.free_checks and self.a["target_loss"] is not None:
            if self.check(step - 1, float(data_loss.detach()), bool((out.amin(0) == out.amax(0)).all())):
                return False
        total = data_loss
        for r in self.penalties:
            raw = r.penalty(self.model, xb, yb, self.loss_fn, data_loss=data_loss)
            total = total + r.strength * raw
            self.sums[r.name] = self.sums.get(r.name, 0.0) + float(raw.detach())
        self.sums["batch_loss"] = self.sums.get("batch_loss", 0.0) + float(data_loss.detach())
        self.n_acc += 1
        if not math.isfinite(float(total.detach())):
            self.status = "diverged"
            self.log(step, ok=False)
            return False
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        self.opt.step()
        return True

    # -------------------------------------------------------------- stopping at a loss
    def check(self, step: int, loss: float, constant: bool) -> bool:
        """Record the full-train loss at ``step``; True (and a last row logged) when the run stops there:
        diverged (non-finite or > DIVERGE_FACTOR × initial), collapsed (constant output), or target reached
        (the crossing row is logged at once; with ``min_steps`` training goes on until that step)."""
        if self.initial_loss is None:
            self.initial_loss = loss
        self.min_loss = min(self.min_loss, loss)
        if not math.isfinite(loss) or loss > DIVERGE_FACTOR * self.initial_loss:
            self.status = "diverged"
        elif self.status == "reached":  # crossed earlier, going on to min_steps
            if step < self.a["min_steps"]:
                return False
        elif loss <= self.a["target_loss"]:
            self.status = "reached"
        elif constant and step > 0:
            self.status = "collapsed"
        else:
            return False
        if not self.rows or self.rows[-1]["step"] != step:
            self.log(step, ok=math.isfinite(loss))
        if self.status == "reached" and step < self.a["min_steps"]:
            self.next_check = self.a["min_steps"]
            return False
        return True

    @property
    def checks_loss(self) -> bool:
        """Minibatch (or stochastic) runs with a target: full-train loss checks between steps."""
        return not self.free_checks and self.a["target_loss"] is not None

    def plan_check(self, step: int, loss: float) -> None:
        """Schedule the next full-train loss check after the one at ``step`` [ours]: with the log-loss
        decay rate r per step from the last two checks, half the predicted distance to the target but at
        least a CHECK_DROP fall of the loss (so the first check below the target lies within about
        CHECK_DROP of it), at most a tenth of the steps taken; without a falling rate, and within 2× of the
        target at most, CHECK_RATIO · step (SGD's full-train loss is noisy)."""
        prev, self.last_check = self.last_check, (step, loss)
        interval = CHECK_RATIO * step
        if prev is not None and 0 < loss < prev[1] and step > prev[0]:
            rate = (math.log(prev[1]) - math.log(loss)) / (step - prev[0])
            interval = max(0.5 * math.log(loss / self.a["target_loss"]), CHECK_DROP) / rate
        if loss < 2 * self.a["target_loss"]:  # near the target a noisy rate must not jump far past it
            interval = min(interval, CHECK_RATIO * step)
        self.next_check = step + int(min(max(interval, 1.0), max(1.0, 0.1 * step)))

    def full_loss(self):
        self.model.eval()
        try:
            loss, _, constant = _evaluate(self.model, self.ds.x_train, self.ds.y_train, self.loss_fn, self.k)
        finally:
            self.model.train()
        return loss, constant

    # -------------------------------------------------------------- one logged row
    def log(self, step: int, ok: bool = True) -> None:
        model, row = self.model, {"step": step, "epoch": step * self.bs / self.n}
        model.eval()
        try:
            if ok:
                row.update(self.measure(step))
        finally:
            model.train()
        n_acc, sums = self.n_acc, self.sums
        row["batch_loss"] = sums.pop("batch_loss", math.nan) / n_acc if n_acc else math.nan
        for r in self.penalties:
            row[f"penalty_{r.name}"] = sums.pop(r.name, math.nan) / n_acc if n_acc else math.nan
        row["lr"], row["batch_size"] = self.opt.param_groups[0]["lr"], self.bs
        self.rows.append(row)
        self.sums, self.n_acc = {}, 0

    def measure(self, step: int) -> dict:
        """The metrics of one row, in eval mode (see ``train``)."""
        a, model, dev, seed, row = self.a, self.model, self.dev, self.seed, {}
        row["train_loss"], row["train_acc"], _ = _evaluate(model, self.x_eval, self.y_eval, self.loss_fn,
                                                           self.k)
        row["test_loss"], row["test_acc"], _ = _evaluate(model, self.ds.x_test, self.ds.y_test, self.loss_fn,
                                                         self.k)
        if a["target_loss"] is not None:
            row["full_train_loss"], _, self.last_constant = _evaluate(model, self.ds.x_train, self.ds.y_train,
                                                                      self.loss_fn, self.k)
        if a["gc_method"] is not None:
            hutch = a["gc_method"] == "hutchinson"
            res = complexity.geometric_complexity(
                model, self.x_eval, method=a["gc_method"],
                generator=derive_generator(seed, "gc-eval", step, device=dev) if hutch else None)
            row["gc"] = float(res.value)
            if hutch:
                row["gc_stderr"] = math.nan if res.stderr is None else float(res.stderr)
        if a["track_bounds"]:
            gen = derive_generator(seed, "bounds", step, device=dev)
            row["spectral_bound"] = float(complexity.spectral_norm_bound(model, input_shape=self.input_shape,
                                                                         generator=gen))
            row["param_bound"] = math.nan if self.conv else float(complexity.parameter_norm_bound(model))
        if a["track_gn"]:
            row["gn_trace"], row["gn_trace_stderr"] = curvature.gn_trace(
                model, self.x_eval, n_probes=a["gn_probes"],
                generator=derive_generator(seed, "gn-trace", step, device=dev))
        if a["track_sharpness"]:
            row["sharpness"] = row["sharpness_iters"] = math.nan
            if len(self.rows) % a["sharpness_every"] == 0:
                res = curvature.sharpness(
                    model, self.ds.x_train, self.ds.y_train, loss=self.loss_fn, n_iter=a["sharpness_iters"],
                    tol=a["sharpness_tol"], v0=self.eig_vector,
                    chunk_size=None if self.n <= 4096 else 4096,
                    generator=derive_generator(seed, "sharpness", device=dev))
                self.eig_vector = res.vector
                row["sharpness"], row["sharpness_iters"] = res.value, res.n_iter
        return row

    def finish(self) -> pd.DataFrame:
        if self.status == "completed" and self.a["target_loss"] is not None:
            self.status = "collapsed" if self.min_loss >= (self.initial_loss or math.inf) else "not_reached"
        df = pd.DataFrame(self.rows)
        df["status"] = self.status
        df.attrs.update(config=self.config, interrupted=self.status == "interrupted",
                        diverged=self.status == "diverged", status=self.status)
        return df


_CONFIG_ARGS = ("optimizer", "lr", "momentum", "batch_size", "steps", "loss", "seed", "eval_every",
                "gc_method", "track_bounds", "track_gn", "gn_probes", "evals_per_decade", "target_loss",
                "min_steps", "track_sharpness", "sharpness_every", "sharpness_iters", "sharpness_tol")


def train(model: nn.Module, data, *, optimizer: str = "sgd", lr: float = 0.05, momentum: float = 0.9,
          batch_size: int | None = 64, steps: int = 1000, loss: str = "cross_entropy", regularizers=(),
          seed: int = 0, device="cpu", eval_every: int = 100, eval_subset: int = 512,
          gc_method: str | None = "exact", track_bounds: bool = True, track_gn: bool = False,
          gn_probes: int = 8, evals_per_decade: int | None = None, target_loss: float | None = None,
          min_steps: int = 0, track_sharpness: bool = False, sharpness_every: int = 1,
          sharpness_iters: int = 20, sharpness_tol: float = 1e-3, progress: bool = False) -> pd.DataFrame:
    """Train ``model`` in place on ``data`` (a ``gclib.data.Dataset``) and return its logged history.

    Each step: draw a minibatch (epoch-wise permutations from stream ``"batches"``, every example once per
    epoch; ``batch_size=None`` = full batch), apply the data transforms, take one optimizer step on
    ``L_B + Σ strength·penalty``. ``optimizer``: "sgd" (plain), "momentum" (SGD, ``momentum``), "adam".

    Logged rows: step 0, every ``eval_every`` steps, the log-spaced steps ⌈10^(k/evals_per_decade)⌉ (with
    ``evals_per_decade``) and the last step, in eval mode, on the fixed evaluation subset (the first
    ``eval_subset`` training points and their dataset labels, without the per-step transforms):

    ``step, epoch`` (examples seen / n_train), ``train_loss, train_acc`` (eval subset, no penalties),
    ``test_loss, test_acc`` (whole test set), ``full_train_loss`` (whole training set; with
    ``target_loss``), ``gc`` (+ ``gc_stderr`` for Hutchinson; ``gc_method=None`` skips it),
    ``spectral_bound, param_bound`` (``track_bounds``), ``gn_trace, gn_trace_stderr`` (``track_gn``: the
    Gauss–Newton trace (1/n) Σ_i ‖∇_θ f(x_i)‖_F² of the logits on the eval subset, ``gn_probes`` Rademacher
    probes from stream ``"gn-trace"``; ``gclib.curvature.gn_trace``), ``sharpness, sharpness_iters``
    (``track_sharpness``: λ_max of the Hessian of the full-train data loss by Lanczos on Hessian-vector
    products, ``gclib.curvature.sharpness``, warm-started from the previous row's eigenvector, at most
    ``sharpness_iters`` products to relative residual ``sharpness_tol``, on every ``sharpness_every``-th
    row, NaN on the others), ``batch_loss`` and ``penalty_<name>`` (raw penalties without strength; means
    over the steps since the previous row, NaN at step 0), ``lr, batch_size`` and ``status`` (below).
    Accuracy is NaN for regression (``n_classes == 0``, ``loss="mse"``). The bounds assume a
    Linear/Conv2d chain (see ``complexity.spectral_norm_bound``); set ``track_bounds=False`` for residual
    or normalised models, where they are not bounds.

    ``target_loss`` [protocol v2]: stop at the first step where the data loss on the whole training set
    is ≤ ``target_loss``, with ``steps`` as the cap, and log that step (the crossing row); with
    ``min_steps`` training goes on to that step after the crossing (so one run also serves a fixed-steps
    comparison). Full-batch runs of a model without dropout/BatchNorm check at every step for free (the
    step's own forward); other runs evaluate the full-train loss at every logged row and in between on a
    schedule that predicts the crossing from the loss's decay rate and tightens to about a CHECK_DROP fall
    per check near the target (``_Run.plan_check``). The run's ``status`` (a column and
    ``df.attrs["status"]``): "reached"; "not_reached" (cap); "diverged" (non-finite loss, or a full-train
    loss above DIVERGE_FACTOR × the initial one); "collapsed" (the output became constant over the training
    set, or at the cap the loss never went below its initial value); "interrupted". Without a target:
    "completed", "diverged" or "interrupted". Runs are labelled, never dropped.

    A non-finite training loss stops the run: a last row with NaN metrics is logged and
    ``df.attrs["diverged"] = True``. ``KeyboardInterrupt`` returns the rows logged so far with
    ``df.attrs["interrupted"] = True``. ``df.attrs["config"]`` holds the arguments. On CPU two calls with
    the same model initialisation, data and seed give identical histories.
    """
    args = dict(optimizer=optimizer, lr=lr, momentum=momentum, batch_size=batch_size, steps=steps, loss=loss,
                regularizers=regularizers, seed=seed, device=device, eval_every=eval_every,
                eval_subset=eval_subset, gc_method=gc_method, track_bounds=track_bounds, track_gn=track_gn,
                gn_probes=gn_probes, evals_per_decade=evals_per_decade, target_loss=target_loss,
                min_steps=min_steps, track_sharpness=track_sharpness, sharpness_every=sharpness_every,
                sharpness_iters=sharpness_iters, sharpness_tol=sharpness_tol, progress=progress)
    _validate_train(model, data, args)
    run = _Run(model, data, args)
    was_training = model.training
    bar = tqdm(total=steps, leave=False, disable=not progress, desc="train")
    try:
        model.train()
        run.log(0)
        if run.checks_loss:
            row = run.rows[-1]
            if run.check(0, row["full_train_loss"], False):
                return run.finish()
            run.plan_check(0, row["full_train_loss"])
        for step in range(1, steps + 1):
            if not run.step(step):
                break
            bar.update(1)
            if step % eval_every == 0 or step == steps or step in run.log_set:
                run.log(step)
                bar.set_postfix(loss=f"{run.rows[-1]['train_loss']:.3g}")
                if run.checks_loss:  # a logged row is a free check
                    run.next_check = step
            if run.checks_loss and step >= run.next_check:
                last = run.rows[-1]
                loss_now, constant = ((last["full_train_loss"], run.last_constant) if last["step"] == step
                                      else run.full_loss())
                if run.check(step, loss_now, constant):
                    break
                run.plan_check(step, loss_now)
        else:
            if target_loss is not None and run.status == "completed" and run.rows[-1]["step"] == steps:
                run.check(steps, run.rows[-1]["full_train_loss"], run.last_constant)
    except KeyboardInterrupt:
        run.status = "interrupted"
    finally:
        bar.close()
        model.train(was_training)
    return run.finish()


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
    "gauss_newton": 0.0, "spectral_iters": 1, "gc_penalty_method": "hutchinson", "gc_penalty_probes": 1,
    "gn_penalty_probes": 1,
    # training loop (train)
    "optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "batch_size": 64, "steps": 1000, "loss": "cross_entropy",
    "eval_every": 100, "eval_subset": 512, "gc_method": "exact", "device": "cpu", "track_bounds": True,
    "track_gn": False, "gn_probes": 8,  # log the Gauss–Newton trace (gn_trace) with this many probes
    # protocol v2: log-spaced rows, stop at a full-train loss (steps = cap), λ_max of the loss Hessian
    "evals_per_decade": None, "target_loss": None, "min_steps": 0, "track_sharpness": False,
    "sharpness_every": 1, "sharpness_iters": 20, "sharpness_tol": 1e-3,
}
_TRAIN_KEYS = ("optimizer", "lr", "momentum", "batch_size", "steps", "loss", "eval_every", "eval_subset",
               "gc_method", "device", "track_bounds", "track_gn", "gn_probes", "evals_per_decade",
               "target_loss", "min_steps", "track_sharpness", "sharpness_every", "sharpness_iters",
               "sharpness_tol")


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
                             c["input_noise"], c["gauss_newton"], spectral_iters=c["spectral_iters"],
                             gc_method=c["gc_penalty_method"], gc_probes=c["gc_penalty_probes"],
                             gn_probes=c["gn_penalty_probes"])
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


def value_at_train_loss(df: pd.DataFrame, target: float, by, value: str = "gc", *, loss: str = "train_loss",
                        interpolate: bool = True) -> pd.DataFrame:
    """Per run, ``value`` where the ``loss`` column first reaches ``target`` (G6: GC at equal train loss).

    ``interpolate=True`` (v1): with rows i−1, i the first pair with L_{i−1} > target ≥ L_i, returns
    v_{i−1} + t (v_i − v_{i−1}), t = (L_{i−1} − target)/(L_{i−1} − L_i) (linear in the loss between
    logged steps; step interpolated the same way), v_0 if L_0 ≤ target, NaN if never reached.
    ``interpolate=False`` (protocol v2): the first logged row with L ≤ target, as it is (log densely near
    the crossing: ``train(target_loss=…)`` stops there).
    Columns: ``by``..., ``value``, ``step`` and ``loss`` (the loss read: ``target`` when interpolated, the
    row's own loss otherwise, NaN when never reached).
    """
    check_real("target", target)
    by, out = _by(by), []
    for keys, g in df.sort_values("step", kind="stable").groupby(by, sort=True, dropna=False):
        losses, v, st = (g[c].to_numpy(dtype=float) for c in (loss, value, "step"))
        hit = np.flatnonzero(losses <= target)
        res_v = res_s = res_l = math.nan
        if len(hit):
            i = hit[0]
            t = 1.0 if i == 0 or not interpolate else (losses[i - 1] - target) / (losses[i - 1] - losses[i])
            j = max(i - 1, 0)
            res_v, res_s = v[j] + t * (v[i] - v[j]), st[j] + t * (st[i] - st[j])
            res_l = target if interpolate and i > 0 else losses[i]
        out.append({**dict(zip(by, keys)), value: res_v, "step": res_s, loss: res_l})
    return pd.DataFrame(out)


def crossings(df: pd.DataFrame, target: float, by, *, loss: str = "full_train_loss", values=("gc",),
              peaks=()) -> pd.DataFrame:
    """Protocol v2's reading of each run at the loss ``target``: one row per run (identified by ``by``).

    Columns: ``by``..., ``status`` (the run's, see ``train``), ``step``, ``epoch`` and ``loss`` of the
    first logged row with ``loss`` ≤ ``target`` (the crossing; NaN when the run never got there), each of
    ``values`` at that row, ``ratio`` = loss read / target (in (0, 1]; ≥ 0.95 means the crossing was read
    within 5 %), and ``peak_<col>`` for each of ``peaks``: the largest logged value of that column up to
    the crossing (over the whole run when it never crossed), e.g. the peak sharpness λ_max. Runs that did
    not reach the target keep their row with NaN values, so they are counted and shown, not dropped.
    """
    check_real("target", target, low=0.0, low_open=True)
    by = _by(by)
    need = [*by, "step", "epoch", loss, *values, *peaks]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(f"history has no column(s) {missing}")
    out = []
    for keys, g in df.sort_values("step", kind="stable").groupby(by, sort=True, dropna=False):
        hit = np.flatnonzero(g[loss].to_numpy(dtype=float) <= target)
        row = {**dict(zip(by, keys if isinstance(keys, tuple) else (keys,))),
               "status": g["status"].iloc[-1] if "status" in g else "completed"}
        upto = g.iloc[: hit[0] + 1] if len(hit) else g
        at = g.iloc[hit[0]] if len(hit) else None
        for col in ("step", "epoch", *values):
            row[col] = float(at[col]) if at is not None else math.nan
        row["loss"] = float(at[loss]) if at is not None else math.nan
        row["ratio"] = row["loss"] / target
        for col in peaks:
            row[f"peak_{col}"] = float(upto[col].max())
        out.append(row)
    return pd.DataFrame(out)


def value_at(df: pd.DataFrame, column: str, point: float, by, value: str = "gc") -> pd.DataFrame:
    """Per run, ``value`` at ``column`` = ``point`` (e.g. a common step or epoch: the equal-steps and
    equal-epochs contrasts of G7 v2), linear in log(column) between the logged rows around it (exact at a
    logged row); NaN when the run's logged range does not contain ``point`` (> 0). Columns: ``by``...,
    ``value``."""
    check_real("point", point, low=0.0, low_open=True)
    by, out = _by(by), []
    for keys, g in df.sort_values(column, kind="stable").groupby(by, sort=True, dropna=False):
        g = g[g[column] > 0].dropna(subset=[value])
        xs, vs = np.log(g[column].to_numpy(dtype=float)), g[value].to_numpy(dtype=float)
        res = float(np.interp(math.log(point), xs, vs)) if len(xs) and xs[0] <= math.log(point) <= xs[-1] \
            else math.nan
        out.append({**dict(zip(by, keys if isinstance(keys, tuple) else (keys,))), value: res})
    return pd.DataFrame(out)


def stability_regimes(table: pd.DataFrame, hp: str = "lr", *, peak: str = "peak_sharpness") -> dict:
    """G6 v2's split of a learning-rate grid at the stability edge [fixed in shared/papers, protocol v2]:
    λ_ref = the peak λ_max of the smallest-lr runs (mean over their seeds), edge = 2/λ_ref; an lr is
    "past the edge" when lr > edge and "stable" when lr < edge. ``table``: ``crossings(..., peaks=
    ["sharpness"])``. Returns ``{"lambda_ref", "edge", "stable": [...], "past": [...]}``."""
    for col in (hp, peak):
        if col not in table.columns:
            raise ValueError(f"table has no column {col!r}")
    levels = sorted(set(table[hp]))
    lam = float(table.loc[table[hp] == levels[0], peak].mean())
    edge = 2.0 / lam if lam > 0 else math.inf
    return {"lambda_ref": lam, "edge": edge, "stable": [v for v in levels if v < edge],
            "past": [v for v in levels if v > edge]}


def read_at_common(runs: pd.DataFrame, table: pd.DataFrame, column: str, *, group: str, hp: str,
                   value: str = "gc") -> pd.DataFrame:
    """G7 v2's contrasts: within each level of ``group`` (the learning rate), read every run's ``value`` at
    one common ``column`` point (``"step"``: equal steps, ``"epoch"``: equal epochs) = the smallest
    seed-mean crossing ``column`` over the levels of ``hp`` in ``table`` (``crossings``), so every run has
    trained at least that long; linear in log(column) between logged rows (``value_at``). Runs that did
    not reach the target (status other than "reached" in ``table``) read NaN, as in the equal-loss
    statistic. Returns one row per run: ``group, hp, "seed", value`` and ``column`` (the common point)."""
    out = []
    for g_level, g_table in table.groupby(group, sort=True):
        point = g_table.groupby(hp)[column].mean().min()
        if not (isinstance(point, float) and math.isfinite(point) and point > 0):
            continue
        sub = runs[runs[group] == g_level]
        vals = value_at(sub, column, point, [hp, "seed"], value)
        vals = vals.merge(g_table[[hp, "seed", "status"]], on=[hp, "seed"], how="left")
        vals.loc[vals["status"] != "reached", value] = math.nan
        out.append(vals.assign(**{group: g_level, column: point}))
    cols = [group, hp, "seed", value, column]
    return pd.concat(out, ignore_index=True)[cols] if out else pd.DataFrame(columns=cols)
