"""One training loop with a tidy history.

Every experiment group G2–G9 of Dherin et al. 2022 is ``train`` (through ``gclib.experiments.runs``) with one
knob turned: the regularizers of ``gclib.experiments.regularizers`` add a penalty or perturb each
minibatch. Randomness has one stream per purpose, derived from ``seed``: minibatches (``"batches"``), each
regularizer (``"reg"``, its name), Hutchinson GC estimates, Gauss–Newton trace probes (``"gn-trace"``),
the sharpness start vector and bound power iterations at log time. Protocol v2 adds training to a
full-train loss (``target_loss``) with labelled outcomes, log-spaced rows and the sharpness λ_max.
"""
from __future__ import annotations

import math

import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from gclib import complexity, curvature
from gclib.device import derive_generator, resolve_device
from gclib.experiments.regularizers import Regularizer
from gclib.functions import LOSSES, loss_function
from gclib.validate import (
    check_choice,
    check_optional_positive_int,
    check_positive_int,
    check_real,
)

__all__ = ["OPTIMIZERS", "STATUSES", "train"]

OPTIMIZERS = ("sgd", "momentum", "adam")


STATUSES = ("completed", "reached", "not_reached", "stalled", "diverged", "collapsed", "interrupted")
#: a full-batch run on a deterministic model whose full-train loss has not fallen below its best by a
#: relative STALL_TOL (float32 resolution) for STALL_STEPS steps sits at a stationary point it cannot leave:
#: it stops as "stalled", counted with the runs that did not reach the target [ours]
STALL_STEPS, STALL_TOL = 1000, 1e-6
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
        self.last_check, self.best_step = None, 0
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
        if loss < self.min_loss * (1 - STALL_TOL):
            self.best_step = step
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
        elif self.free_checks and step - self.best_step >= STALL_STEPS:
            self.status = "stalled"
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
    """Train ``model`` in place on ``data`` (a ``gclib.experiments.data.Dataset``), return its history.

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
    ``df.attrs["status"]``): "reached"; "not_reached" (cap); "stalled" (full batch only: the loss has not
    fallen by a relative STALL_TOL in STALL_STEPS steps); "diverged" (non-finite loss, or a full-train
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
