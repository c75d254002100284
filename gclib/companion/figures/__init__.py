"""The catalogue of figures and the one path of their parameters (used on both sides of a kernel: the
command line and the runner resolve and check values before a kernel starts; the notebook's check cell
checks them again inside it).

- :mod:`~gclib.companion.figures.catalogue` — what can run: the notebooks, ``profiles.yaml``, the
  ``parameters`` cell of each, the committed set (``fits_cpu``)
- :mod:`~gclib.companion.figures.values` — a value as given: command-line literals, grids, the type check
- :mod:`~gclib.companion.figures.ranges` — the range grammar of ``profiles.yaml``'s ``ranges:``
- :mod:`~gclib.companion.figures.check` — where a parameter is checked: ``check_parameters`` (the
  notebooks' check cell), ``check_values``, ``check_ranges``
- :mod:`~gclib.companion.figures.resolve` — the one path: defaults → profile → overrides → device → types →
  ranges → kernel
"""
from gclib.companion.errors import ParameterError
from gclib.companion.figures.catalogue import (
    DRY_RUN_PROFILE,
    PROFILES,
    Figure,
    Parameter,
    figure_params,
    fits_cpu,
    get_figure,
    list_figures,
    notebook_parameters,
    read_profiles,
)
from gclib.companion.figures.check import check_parameters, check_ranges, check_values, parameter_ranges
from gclib.companion.figures.resolve import parameter_layers, resolve_parameters
from gclib.companion.figures.values import check_device, coerce_value, parse_literal, parse_values
from gclib.companion.locations import (
    default_out_dir,
    default_sweep_dir,
    notebook_directory,
    repo_root,
)

__all__ = ["PROFILES", "DRY_RUN_PROFILE", "ParameterError", "Figure", "Parameter", "read_profiles",
           "list_figures", "get_figure", "notebook_parameters", "figure_params", "fits_cpu", "parse_literal",
           "parse_values", "coerce_value", "check_device", "resolve_parameters", "parameter_layers",
           "check_parameters", "check_values", "check_ranges", "parameter_ranges", "repo_root",
           "notebook_directory", "default_out_dir", "default_sweep_dir"]
