"""Activations and losses by name: the one registry that init sampling, models, training and sharpness
share.

``ACTIVATIONS``: hidden activations, each with the in-place tensor function batched init sampling applies
and the ``nn.Module`` the models use. ``LOSSES``: the training losses (``loss_function``), means over the
examples of a batch, so the loss of a whole set is the size-weighted mean of its chunks' losses
(``gclib.curvature.sharpness`` relies on this). ``POINTWISE_LOSSES``: the per-initialization losses of
init-loss histograms (``gclib.sampling``), means over samples and outputs.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from gclib.validate import check_choice, check_positive_int

__all__ = ["Activation", "ACTIVATIONS", "LOSSES", "POINTWISE_LOSSES", "loss_function"]


@dataclass(frozen=True)
class Activation:
    """A hidden activation: ``inplace`` (tensor → the same tensor, overwritten: batched init sampling) and
    ``module`` (the ``nn.Module`` class the models stack)."""

    name: str
    inplace: Callable[[torch.Tensor], torch.Tensor]
    module: type


def _identity(h: torch.Tensor) -> torch.Tensor:
    return h


ACTIVATIONS = {a.name: a for a in (
    Activation("relu", torch.relu_, nn.ReLU),
    Activation("tanh", torch.tanh_, nn.Tanh),
    Activation("linear", _identity, nn.Identity),
    Activation("gelu", F.gelu, nn.GELU),  # not in place: F.gelu returns a new tensor
)}

#: Training losses by name (``loss_function``).
LOSSES = ("cross_entropy", "mse")
#: Per-initialization losses of init-loss histograms: mean squared or absolute error over samples and outputs.
POINTWISE_LOSSES = ("mse", "mae")


def _mse_classes(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (out - F.one_hot(y, out.shape[-1]).to(out.dtype)).pow(2).sum(-1).mean()


def _mse_regression(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (out - y.reshape(out.shape).to(out.dtype)).pow(2).reshape(len(out), -1).sum(-1).mean()


def loss_function(name: str, n_classes: int) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The data loss ``(out, y) -> scalar``, a mean over the N examples of the batch.

    ``"cross_entropy"``: ``F.cross_entropy`` on logits (N, K) and class indices (N,).
    ``"mse"`` [ours]: mean over examples of ‖f(x) − t‖² summed over outputs, t = one-hot(y) for
    classification (``n_classes >= 2``), t = y (any shape with N rows) for regression (``n_classes == 0``).
    """
    check_choice("loss", name, LOSSES)
    check_positive_int("n_classes", n_classes, allow_zero=True)
    if name == "cross_entropy":
        if n_classes < 2:
            raise ValueError(f"loss='cross_entropy' needs n_classes >= 2, got {n_classes}")
        return F.cross_entropy
    return _mse_classes if n_classes > 0 else _mse_regression
