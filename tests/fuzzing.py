"""Hypothesis strategies built from the declared ranges of ``notebooks/profiles.yaml`` (the grammar of
``gclib.companion.figures.ranges``): one strategy per spec form, and for a figure a strategy of whole valid
parameter sets at dry-run-sized caps. Used by ``tests/test_fuzz.py`` (a few draws per figure in ``make
test``, hundreds in ``make fuzz``).

Caps keep a draw at the cost of a dry run, and never leave the declared range:
- a size (an integer parameter, or a list of them, other than a seed) is drawn at most at the figure's dry-run
  cap (``dry_run:`` in profiles.yaml), else at most at the notebook's smoke default; a list at most as long;
- a float is drawn log-uniformly within three decades of its default either way (clipped to its range), or,
  one draw in four, anywhere in its range (its bounds, the smallest and the largest floats included);
- a seed anywhere in [lower bound, 2⁶⁴);
- ``fuzz:`` in a figure's profiles.yaml entry narrows a parameter's range further where a cost depends on two
  parameters at once (e.g. G6's steps = flow_time / lr), each with a comment saying why.
"""
from __future__ import annotations

import math

from hypothesis import strategies as st

from gclib.companion.figures import get_figure, notebook_parameters
from gclib.companion.figures.ranges import (
    DERIVED,
    dataset_missing,
    derived_bounds,
    parse_spec,
    registry,
    spec_fails,
)

SEEDS = ("seed", "seeds")
_REF_FREE = ("chance_loss",)


def _refs(specs) -> set[str]:
    """The names of other parameters a spec's bounds read (``<=n_train``; ``chance_loss`` reads
    ``dataset``)."""
    out = set()
    for s in specs:
        for _, x in s.bounds:
            if isinstance(x, str):
                out.add("dataset" if x in DERIVED else x)
        out |= _refs(s.element)
    return out


def _bound(x, values):
    if isinstance(x, str):
        return (derived_bounds(values) if x in DERIVED else values).get(x)
    return x


def _int_range(spec, values, cap):
    lo, hi = None, None
    for op, x in spec.bounds:
        b = _bound(x, values)
        if b is None:
            continue
        if op in (">=", ">"):
            b = math.floor(b) + 1 if op == ">" else math.ceil(b)
            lo = b if lo is None else max(lo, b)
        else:
            b = math.ceil(b) - 1 if op == "<" else math.floor(b)
            hi = b if hi is None else min(hi, b)
    lo = 0 if lo is None else lo
    if cap is not None:
        hi = max(lo, cap) if hi is None else min(hi, max(lo, cap))
    return lo, hi


def _float_strategy(spec, values, scale):
    lo = hi = None
    lo_open = hi_open = False
    for op, x in spec.bounds:
        b = _bound(x, values)
        if b is None:
            continue
        if op in (">=", ">") and (lo is None or b >= lo):
            lo, lo_open = float(b), op == ">"
        elif op in ("<=", "<") and (hi is None or b <= hi):
            hi, hi_open = float(b), op == "<"
    anywhere = st.floats(min_value=lo, max_value=hi, exclude_min=lo_open and lo is not None,
                         exclude_max=hi_open and hi is not None, allow_nan=False, allow_infinity=False)
    scale = abs(scale) if scale else 1.0
    a, b = math.log(scale / 1e3), math.log(scale * 1e3)

    def near(t):  # log-uniform within three decades of the default, a sign drawn where the range allows
        v = math.exp(a + (b - a) * t[0])
        return -v if t[1] and (lo is None or lo < 0) else v

    def ok(v):
        return ((lo is None or (v > lo if lo_open else v >= lo)) and
                (hi is None or (v < hi if hi_open else v <= hi)))

    clipped = st.tuples(st.floats(0, 1), st.booleans()).map(near).filter(ok)
    return st.one_of(clipped, clipped, clipped, anywhere)


def spec_strategy(specs, *, values: dict, cap=None, length=None, scale=None, seed: bool = False):
    """Valid values of one parameter: ``specs`` its parsed alternatives, ``values`` the parameters drawn so
    far (for bounds that name one), ``cap`` the largest size, ``length`` the longest list, ``scale`` a
    float's default."""
    alts = []
    for s in specs:
        k = s.kind
        if k in ("any", "str"):
            continue  # no generator for free values: the default is drawn (below)
        if k == "none":
            alts.append(st.none())
        elif k == "bool":
            alts.append(st.booleans())
        elif k == "choice":
            alts.append(st.sampled_from(s.choices))
        elif k == "int":
            lo, hi = _int_range(s, values, None if seed else cap)
            alts.append(st.integers(lo, hi if hi is not None else (2 ** 64 - 1 if seed else None)))
        elif k == "float":
            alts.append(_float_strategy(s, values, scale))
        elif k == "device":
            alts.append(st.sampled_from(["cpu", "auto"]))  # no CUDA in the tests
        elif k == "dataset":
            alts.append(st.sampled_from([d for d in registry("dataset") if dataset_missing(d) is None]))
        elif k == "list":
            alts.append(_list_strategy(s, values, cap, length, scale, seed))
        else:
            alts.append(st.sampled_from(registry(k)))
    return st.one_of(*alts) if alts else None


def _list_strategy(s, values, cap, length, scale, seed):
    element = spec_strategy(s.element, values=values, cap=cap, scale=scale, seed=seed)
    unique = bool({"unique", "increasing"} & s.modifiers)
    need = list(s.contains)
    lst = st.lists(element, min_size=1 if "nonempty" in s.modifiers else 0, max_size=max(length or 4, 1),
                   unique=unique)

    def finish(xs):
        xs = list(xs) + [c for c in need if c not in xs]
        return sorted(xs) if "increasing" in s.modifiers else xs
    return lst.map(finish)


def _caps(fig, name, default, dry):
    """(cap, length, scale) of one parameter: see the module docstring."""
    cap_value = dry.get(name, default)
    numbers = [v for v in (cap_value if isinstance(cap_value, (list, tuple)) else [cap_value])
               if isinstance(v, (int, float)) and not isinstance(v, bool)]
    cap = max(numbers) if numbers and all(isinstance(v, int) for v in numbers) else None
    length = len(cap_value) if isinstance(cap_value, (list, tuple)) else None
    defaults = [v for v in (default if isinstance(default, (list, tuple)) else [default])
                if isinstance(v, (int, float)) and not isinstance(v, bool) and v]
    scale = max(abs(v) for v in defaults) if defaults else None
    return cap, length, scale


@st.composite
def parameter_sets(draw, figure: str):
    """A whole valid parameter set of ``figure`` (name → value), drawn in an order that puts every parameter
    after those its bounds name; caps as the module docstring says."""
    fig = get_figure(figure)
    spec = notebook_parameters(figure)
    ranges = {**fig.ranges, **(fig.fuzz or {})}
    parsed = {n: parse_spec(str(ranges[n]), where=f"{figure}.{n}") for n in spec if n in ranges}
    order, done = [], set()
    while len(order) < len(parsed):
        known = done | (set(spec) - set(parsed))
        ready = [n for n in parsed if n not in done and _refs(parsed[n]) - {n} <= known]
        if not ready:
            raise ValueError(f"{figure}: circular bounds among {sorted(set(parsed) - done)}")
        order += ready
        done |= set(ready)
    values = {n: p.default for n, p in spec.items()}
    for name in order:
        cap, length, scale = _caps(fig, name, spec[name].default, fig.dry_run)
        strategy = spec_strategy(parsed[name], values=values, cap=cap, length=length, scale=scale,
                                 seed=name in SEEDS)
        if strategy is not None:  # a rule between parameters (a cnn needs images) filters what was drawn
            context = {**values, **derived_bounds(values)}
            values[name] = draw(strategy.filter(
                lambda v, specs=parsed[name], ctx=context: any(spec_fails(s, v, ctx) is None for s in specs)),
                label=name)
    return values
