"""The one path a figure's parameters travel, each step in one place:

1. **defaults** — the notebook's ``parameters`` cell
   (:func:`~gclib.companion.figures.catalogue.notebook_parameters`);
2. **profile** — the profile's overrides in ``profiles.yaml`` (``cpu``, ``paper``; ``smoke`` is the defaults);
3. **overrides** — the user's values (``gclib run -p``, a sweep cell,
   :func:`~gclib.companion.run.runner.run_figure`);
4. a dry run's **caps** (``dry_run`` in ``profiles.yaml``), for ``--dry-run`` only;
5. **device** — ``--device``;
6. **types** — every value against its default's type (:func:`~gclib.companion.figures.values.coerce_value`);
7. **ranges** — every value against its declared range (:func:`~gclib.companion.figures.check.check_ranges`);
8. the **kernel** — papermill injects the resolved values after the ``parameters`` cell, and the notebook's
   check cell (:func:`~gclib.companion.figures.check.check_parameters`) runs steps 6–7 again on what arrived.

The command line (``gclib run``, ``sweep``, ``params``), the runner, the book's parameter tables and the
notebook's check cell all go through here; every bad value is refused as a
:class:`~gclib.companion.errors.ParameterError` before any kernel starts. [ours]
"""
from __future__ import annotations

from gclib.companion.errors import ParameterError
from gclib.companion.figures import check
from gclib.companion.figures.catalogue import DRY_RUN_PROFILE, PROFILES, get_figure, notebook_parameters
from gclib.companion.figures.values import check_device, coerce_value

__all__ = ["resolve_parameters", "parameter_layers"]


def parameter_layers(figure: str, profile: str = "smoke", overrides: dict | None = None,
                     device: str | None = None, *, notebooks_dir=None, dry_run: bool = False) -> list:
    """Steps 2–5 of the path as ``[(source, {name: value}), …]`` in the order they apply (later wins), each
    named as a message names it (``profiles.yaml[gc_l2][cpu]``, ``parameter override``, ``--device``)."""
    fig = get_figure(figure, notebooks_dir)
    if profile not in PROFILES:
        raise ParameterError(f"unknown profile {profile!r}; valid: {', '.join(PROFILES)}")
    if profile != "smoke" and profile not in fig.profiles:
        raise ParameterError(f"profiles.yaml has no {profile!r} profile for {figure}")
    layers = [(f"profiles.yaml[{figure}][{profile}]", fig.profiles.get(profile) or {}),
              ("parameter override", dict(overrides or {}))]
    if dry_run:
        if not fig.dry_run:
            raise ParameterError(f"profiles.yaml has no dry_run caps for {figure}")
        layers.append((f"profiles.yaml[{figure}][dry_run]", fig.dry_run))
    if device is not None:
        layers.append(("--device", {"device": device}))
    return layers


def resolve_parameters(figure: str, profile: str = "smoke", overrides: dict | None = None,
                       device: str | None = None, *, notebooks_dir=None, dry_run: bool = False,
                       check_ranges: bool = True) -> dict:
    """The figure's parameters after steps 1–7 of the module docstring: every name and type checked, then
    (unless ``check_ranges=False``, to *show* values as ``gclib params`` does) every value against the
    figure's ranges; ``profile`` set to the profile's name (``DRY_RUN_PROFILE`` for a dry run, so the
    notebook's scorecard says so). Raises :class:`~gclib.companion.errors.ParameterError`.

    A dry run executes the notebook with the profile's models, data, optimizers and measurement code, with
    its loops, seeds, steps and sample counts capped: it proves the code paths (e.g. the paper profile's
    ResNet on the CIFAR stand-in) run, in seconds, and is never a result."""
    spec = notebook_parameters(figure, notebooks_dir)
    params = {name: p.default for name, p in spec.items()}
    if "profile" in spec:
        params["profile"] = profile
    for source, values in parameter_layers(figure, profile, overrides, device, notebooks_dir=notebooks_dir,
                                           dry_run=dry_run):
        for name, value in values.items():
            if name not in spec:
                if source == "--device":
                    raise ParameterError(f"{figure} has no 'device' parameter")
                raise ParameterError(f"{source}: unknown parameter {name!r} for {figure}; valid: "
                                     f"{', '.join(spec)}")
            params[name] = coerce_value(figure, name, value, spec[name], source)
    if dry_run and "profile" in spec:
        params["profile"] = DRY_RUN_PROFILE
    if "device" in params:
        check_device(params["device"])
    if not check_ranges:
        return params
    return check.check_ranges(figure, params, ranges=get_figure(figure, notebooks_dir).ranges)
