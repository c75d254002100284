"""Argument validation shared by every gclib module.

Each check raises a one-line ``ValueError`` (or ``TypeError`` for a wrong type) that names the parameter
and the valid range, *before* any compute. Private module: notebooks never import it.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch


def check_positive_int(name: str, value, *, allow_zero: bool = False) -> int:
    """Return ``value`` if it is an int > 0 (>= 0 with ``allow_zero``), else raise."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else ">= 1"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")
    return value


def check_optional_positive_int(name: str, value) -> int | None:
    """``None`` or a positive int."""
    return None if value is None else check_positive_int(name, value)


def check_real(name: str, value, *, low: float | None = None, high: float | None = None,
               low_open: bool = False, high_open: bool = False) -> float:
    """Return ``float(value)`` if it is a finite real number within the given interval, else raise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    v = float(value)
    lo_br = "(" if low_open else "["
    hi_br = ")" if high_open else "]"
    rng = f"{lo_br}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi_br}"
    bad = not math.isfinite(v)
    if low is not None:
        bad |= v <= low if low_open else v < low
    if high is not None:
        bad |= v >= high if high_open else v > high
    if bad:
        raise ValueError(f"{name} must be a finite number in {rng}, got {value!r}")
    return v


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices`` (strings), else raise listing the valid ones."""
    choices = list(choices)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(map(str, choices))}")
    return value


def check_sizes(name: str, sizes: Sequence[int], *, min_len: int = 2) -> list[int]:
    """A sequence of positive ints of length >= ``min_len`` (layer sizes)."""
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise TypeError(f"{name} must be a sequence of positive integers, got {sizes!r}")
    if len(sizes) < min_len:
        raise ValueError(f"{name} must have at least {min_len} entries, got {list(sizes)!r}")
    for i, s in enumerate(sizes):
        if not isinstance(s, int) or isinstance(s, bool) or s <= 0:
            raise ValueError(f"{name}[{i}] must be a positive integer, got {s!r}")
    return list(sizes)


def check_tensor(name: str, x, *, min_dim: int = 1, floating: bool = True,
                 finite: bool = True) -> torch.Tensor:
    """A tensor with ``x.dim() >= min_dim``, floating dtype and finite entries (as requested)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dimension(s), got shape {tuple(x.shape)}")
    if floating and not x.is_floating_point():
        raise TypeError(f"{name} must have a floating dtype, got {x.dtype}")
    if x.numel() == 0:
        raise ValueError(f"{name} must be non-empty, got shape {tuple(x.shape)}")
    if finite and x.is_floating_point() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x
