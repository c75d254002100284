"""The parameter check every figure notebook runs first (its cell after ``parameters``), and the CLI before
any kernel starts: the same rules, the same one-line message, wherever the values come from. [ours]

``check_parameters("gc_l2", globals())`` in a notebook checks every parameter of the figure's
``parameters`` cell that is bound in the namespace (papermill's injected values included) and raises
:class:`gclib.companion.figures.ParameterError` with one line naming the first bad one.
"""
from __future__ import annotations

from gclib.companion.figures import ParameterError, _check_device, _coerce, notebook_parameters

__all__ = ["check_parameters", "check_values"]


def check_values(figure: str, values: dict, *, source: str = "parameter", notebooks_dir=None) -> dict:
    """``values`` (name → value, any subset of the figure's parameters) checked against the notebook's
    defaults (type) — unknown names are refused; returns the coerced values."""
    spec = notebook_parameters(figure, notebooks_dir)
    out = {}
    for name, value in values.items():
        if name not in spec:
            raise ParameterError(f"{source}: unknown parameter {name!r} for {figure}; "
                                 f"valid: {', '.join(spec)}")
        out[name] = _coerce(figure, name, value, spec[name], source)
    if "device" in out:
        _check_device(out["device"])
    return out


def check_parameters(figure: str, namespace: dict, *, notebooks_dir=None) -> None:
    """Check the figure's parameters as bound in ``namespace`` (a notebook's ``globals()``); raises
    :class:`ParameterError` (one line) on the first bad value, before any compute."""
    spec = notebook_parameters(figure, notebooks_dir)
    check_values(figure, {k: namespace[k] for k in spec if k in namespace}, source="parameter",
                 notebooks_dir=notebooks_dir)
