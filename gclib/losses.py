"""Data losses of the training runs, by name: the one definition that training and sharpness share.

Both are means over the examples of the batch, so the loss of a whole set is the size-weighted mean of its
chunks' losses (``gclib.curvature.sharpness`` relies on this).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F

from gclib._validate import check_choice, check_positive_int

__all__ = ["LOSSES", "loss_function"]

#: Training losses by name (sampling's init-loss histograms have their own pointwise losses).
LOSSES = ("cross_entropy", "mse")


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
