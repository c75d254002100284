"""A parameter's value as the user gives it: a command-line literal, a comma-separated grid, and its type
checked against the notebook's default (the *type* step of the one path,
:mod:`~gclib.companion.figures.resolve`; the *range* step is :mod:`~gclib.companion.figures.check`). [ours]
"""
from __future__ import annotations

import ast
import re

from gclib.companion.errors import ParameterError
from gclib.companion.figures.catalogue import Parameter

__all__ = ["parse_literal", "parse_values", "coerce_value", "check_device"]

_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def parse_literal(text: str):
    """A command-line value as a Python literal (int, float, bool incl. true/false, None, list, tuple, dict,
    quoted str) via ``ast.literal_eval``, never ``eval``; anything else stays the string itself."""
    stripped = text.strip()
    if stripped in ("true", "false"):
        return stripped == "true"
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def parse_values(text: str) -> list:
    """``"v1,v2,..."`` split on top-level commas (brackets and quotes respected), each parsed by
    :func:`parse_literal`: ``"1,2"`` → [1, 2]; ``"[1,2],[3]"`` → [[1, 2], [3]]; ``"relu,tanh"``."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    if any(not p.strip() for p in parts):
        raise ParameterError(f"empty value in list {text!r}")
    return [parse_literal(p) for p in parts]


def coerce_value(figure: str, name: str, value, param: Parameter, source: str):
    """Type-check ``value`` against the parameter's default: int accepted for float, list ↔ tuple, a None
    default accepts anything; a string is parsed as a literal first when the default is not a string
    (so YAML's ``1e-3``, read as a string, works)."""
    default = param.default
    if default is None:
        return value
    if isinstance(value, str) and not isinstance(default, str):
        value = parse_literal(value)
    expected = type(default)
    if expected is bool:
        ok = isinstance(value, bool)
    elif expected is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif expected is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif expected in (list, tuple):
        ok = isinstance(value, (list, tuple))
        value = expected(value) if ok else value
    else:
        ok = isinstance(value, expected)
    if not ok:
        raise ParameterError(f"{source}: parameter {name!r} of {figure} expects {expected.__name__} "
                             f"(default {default!r}), got {type(value).__name__} {value!r}")
    return value


def check_device(value) -> None:
    if not isinstance(value, str) or not _DEVICE_RE.match(value):
        raise ParameterError(f"device must be auto, cpu or cuda[:N], got {value!r}")
    if value.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ParameterError(f"device {value!r} requested but torch.cuda.is_available() is False")
        index, count = int(value.partition(":")[2] or 0), torch.cuda.device_count()
        if index >= count:
            raise ParameterError(f"device {value!r} requested but only {count} CUDA device(s) are visible")
