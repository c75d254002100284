"""Where a parameter is checked: the check every figure notebook runs first (its cell after ``parameters``),
and the command line before any kernel starts — the same rules, the same one-line message, wherever the
values come from (the *range* step of the one path, :mod:`~gclib.companion.figures.resolve`). [ours]

``check_parameters("gc_l2", globals())`` in a notebook checks every parameter of the figure's
``parameters`` cell that is bound in the namespace (papermill's injected values included) and raises
:class:`~gclib.companion.errors.ParameterError` with one line naming the first bad one:
``parameter 'n_train' of gc_l2 must be an integer >= 1, got 0``.

Types come from the notebook's defaults (:func:`~gclib.companion.figures.values.coerce_value`); ranges and
shapes from the figure's ``ranges:`` mapping in ``notebooks/profiles.yaml`` (the grammar:
:mod:`~gclib.companion.figures.ranges`), read by the command line (``gclib run / sweep`` check the resolved
values before anything is written), ``gclib params`` and the book's parameter tables. A figure without a
``ranges:`` mapping gets type checks only; a parameter missing from it is not range-checked
(``tests/test_param_values.py`` requires one for every parameter of every notebook).
"""
from __future__ import annotations

import re

from gclib.companion.errors import ParameterError
from gclib.companion.figures.catalogue import get_figure, notebook_parameters
from gclib.companion.figures.ranges import (
    DERIVED,
    derived_bounds,
    describe_alternatives,
    parse_spec,
    spec_fails,
)
from gclib.companion.figures.values import check_device, coerce_value

__all__ = ["check_parameters", "check_values", "check_ranges", "parameter_ranges"]


def parameter_ranges(figure: str, notebooks_dir=None) -> dict[str, str]:
    """``{name: spec string}`` from the figure's ``ranges:`` mapping in profiles.yaml, in the order of the
    notebook's ``parameters`` cell (names without a range are left out)."""
    ranges = get_figure(figure, notebooks_dir).ranges
    spec = notebook_parameters(figure, notebooks_dir)
    return {name: str(ranges[name]) for name in spec if name in ranges}


def _bounds_first(values: dict, ranges: dict) -> list[str]:
    """The names of ``values`` with those whose range names another given parameter last, so that a bad
    bound (``log_u_max``) is reported as itself, not as the parameter it bounds (``log_u_min``)."""
    def names_another(name):
        return any(re.search(rf"(?<![\w]){re.escape(other)}(?![\w])", str(ranges.get(name, "")))
                   for other in values if other != name)
    return sorted(values, key=names_another)


def check_ranges(figure: str, values: dict, *, notebooks_dir=None, ranges: dict | None = None) -> dict:
    """Check each of ``values`` (already type-checked) against its range (``ranges``: the figure's, read
    from profiles.yaml when not given); other parameters named in a bound are read from ``values`` (a bound
    naming one that is absent is skipped). Returns ``values``; raises :class:`ParameterError`
    ``parameter 'NAME' of FIGURE must be …, got VALUE`` (one line) on the first bad value."""
    ranges = get_figure(figure, notebooks_dir).ranges if ranges is None else ranges
    context = None  # the values, the dataset (its default where not given) and what its name fixes
    for name in _bounds_first(values, ranges):
        value = values[name]
        if name not in ranges:
            continue
        specs = parse_spec(str(ranges[name]), where=f"profiles.yaml[{figure}][ranges][{name}]")
        if context is None and any(word in str(ranges[name]) for word in (*DERIVED, "model")):
            context = dict(values)
            if "dataset" not in context:
                spec = notebook_parameters(figure, notebooks_dir)
                context.update({"dataset": spec["dataset"].default} if "dataset" in spec else {})
            context.update(derived_bounds(context))
        where = values if context is None else context
        notes = [spec_fails(s, value, where) for s in specs]
        if all(n is not None for n in notes):
            note = next((n for n in notes if n), "")
            raise ParameterError(f"parameter {name!r} of {figure} must be "
                                 f"{describe_alternatives(specs, where)}, got {value!r}{note}")
    return values


def check_values(figure: str, values: dict, *, source: str = "parameter", notebooks_dir=None) -> dict:
    """``values`` (name → value, any subset of the figure's parameters) checked against the notebook's
    defaults (type) and the figure's ranges (value) — unknown names are refused; returns the coerced
    values."""
    spec = notebook_parameters(figure, notebooks_dir)
    out = {}
    for name, value in values.items():
        if name not in spec:
            raise ParameterError(f"{source}: unknown parameter {name!r} for {figure}; "
                                 f"valid: {', '.join(spec)}")
        out[name] = coerce_value(figure, name, value, spec[name], source)
    if "device" in out:
        check_device(out["device"])
    return check_ranges(figure, out, notebooks_dir=notebooks_dir)


def check_parameters(figure: str, namespace: dict, *, notebooks_dir=None) -> None:
    """Check the figure's parameters as bound in ``namespace`` (a notebook's ``globals()``); raises
    :class:`ParameterError` (one line) on the first bad value, before any compute."""
    spec = notebook_parameters(figure, notebooks_dir)
    check_values(figure, {k: namespace[k] for k in spec if k in namespace}, source="parameter",
                 notebooks_dir=notebooks_dir)
