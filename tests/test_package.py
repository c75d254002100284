"""The house: a small science core, an experiments wing and the companion machinery. ``import gclib`` stays
light, dependencies run one way (companion → experiments → core), no private name crosses a module, and
the one cache key invalidates what its scopes say."""
import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gclib
from gclib.experiments import cache

PKG = Path(gclib.__file__).resolve().parent
HEAVY = ("pandas", "papermill", "dask", "yaml", "matplotlib", "seaborn", "sklearn", "mlxtend", "nbformat")


def test_public_names_resolve():
    for name in gclib.__all__:
        assert getattr(gclib, name) is not None, name
    assert callable(gclib.geometric_complexity) and gclib.GCResult.__name__ == "GCResult"
    assert callable(gclib.sharpness) and callable(gclib.mode_dominance)
    with pytest.raises(AttributeError):
        gclib.no_such_name  # noqa: B018


def test_import_gclib_loads_the_core_only():
    code = ("import sys, gclib, gclib.complexity, gclib.curvature, gclib.hypersphere, gclib.sampling, "
            "gclib.dominance, gclib.stats; "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules)); "
            "print(sorted(m for m in sys.modules if m.startswith(('gclib.experiments', 'gclib.companion'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[]", "[]"], out


def _wing(path: Path) -> str:
    rel = path.relative_to(PKG).parts
    return rel[0] if len(rel) > 1 and rel[0] in ("experiments", "companion") else "core"


def _imports(path: Path):
    """(module imported, names) for every import statement in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, []
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, [a.name for a in node.names]


def test_dependencies_run_one_way_companion_experiments_core():
    allowed = {"core": ("core",), "experiments": ("core", "experiments"),
               "companion": ("core", "experiments", "companion")}
    offenders = []
    for path in sorted(PKG.rglob("*.py")):
        if path.name == "__main__.py":
            continue
        here = _wing(path)
        for module, names in _imports(path):
            if not module.startswith("gclib"):
                continue
            parts = module.split(".")
            targets = [parts[1]] if len(parts) > 1 else names
            for t in targets:
                there = t if t in ("experiments", "companion") else "core"
                if there not in allowed[here]:
                    offenders.append(f"{path.relative_to(PKG)} imports {module} {names}")
    assert offenders == []


def test_no_private_name_is_imported_across_modules():
    offenders = [f"{p.relative_to(PKG)}: from {m} import {n}"
                 for p in sorted(PKG.rglob("*.py")) for m, names in _imports(p) if m.startswith("gclib")
                 for n in names if n.startswith("_")]
    tests = Path(__file__).parent
    offenders += [f"tests/{p.name}: from {m} import {n}"
                  for p in sorted(tests.glob("*.py")) for m, names in _imports(p) if m.startswith("gclib")
                  for n in names if n.startswith("_")]
    assert offenders == []


def test_no_module_is_over_500_lines():
    long = {str(p.relative_to(PKG)): n for p in PKG.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500}
    assert long == {}


def test_resolve_device(capsys, monkeypatch):
    from gclib import device

    assert gclib.resolve_device("cpu").type == "cpu"
    monkeypatch.setattr(device.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device, "_WARNED", [])
    assert gclib.resolve_device("auto").type == "cpu" and gclib.resolve_device(None).type == "cpu"
    assert capsys.readouterr().err.splitlines() == [device.FALLBACK_NOTICE]  # once, one line
    with pytest.raises(ValueError, match="device"):
        gclib.resolve_device("tpu")
    with pytest.raises(TypeError):
        gclib.resolve_device(3)


def test_cuda_request_without_cuda_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        assert gclib.resolve_device("cuda").type == "cuda"
    else:
        with pytest.raises(ValueError, match="CUDA is not available"):
            gclib.resolve_device("cuda")


def test_derived_generators_are_independent_and_reproducible():
    import torch

    from gclib.device import derive_generator

    a = torch.randn(5, generator=derive_generator(0, "weights"))
    b = torch.randn(5, generator=derive_generator(0, "weights"))
    c = torch.randn(5, generator=derive_generator(0, "probes"))
    d = torch.randn(5, generator=derive_generator(1, "weights"))
    assert torch.equal(a, b) and not torch.equal(a, c) and not torch.equal(a, d)


# ---------------------------------------------------------------- the one cache key
def test_cache_scopes_list_what_a_computation_can_run():
    training = {p.relative_to(PKG).as_posix() for p in cache.scope_files("training")}
    figure = {p.relative_to(PKG).as_posix() for p in cache.scope_files("figure")}
    assert {"complexity.py", "sampling.py", "experiments/train.py",
            "experiments/calibration/gc_flatness.csv"} <= training
    assert not any(f.startswith("companion/") for f in training)
    kernel = {p.relative_to(PKG).as_posix() for p in (PKG / "companion" / "kernel").rglob("*.py")}
    assert kernel and figure - training == kernel | {"companion/outputs.py", "companion/format.py"}
    table = {p.relative_to(PKG).as_posix() for p in cache.scope_files("table")}
    judge = {f for f in kernel if f.startswith("companion/kernel/judge/")}
    stats = {p.relative_to(PKG).as_posix() for p in (PKG / "stats").rglob("*.py")}
    # the statistics, the judging and the formatting: never a table's number
    assert judge and stats and figure - table == stats | {"companion/format.py"} | judge
    with pytest.raises(ValueError, match="scope"):
        cache.scope_files("book")


@pytest.mark.parametrize("edited, training_changes, figure_changes, table_changes", [
    ("complexity.py", True, True, True),
    ("experiments/train.py", True, True, True),
    ("companion/kernel/draw/style.py", False, True, True),
    ("companion/kernel/draw/histograms.py", False, True, True),
    ("companion/outputs.py", False, True, True),
    ("stats/strength.py", True, True, False),
    ("companion/kernel/judge/claims.py", False, True, False),
    ("companion/format.py", False, True, False),
    ("companion/run/runner.py", False, False, False),
    ("companion/figures/check.py", False, False, False),
    ("companion/cli.py", False, False, False),
    ("companion/book/build.py", False, False, False),
])
def test_what_an_edit_invalidates(tmp_path, monkeypatch, edited, training_changes, figure_changes,
                                  table_changes):
    copy = tmp_path / "gclib"
    shutil.copytree(PKG, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(cache, "_PACKAGE", copy)
    cache.source_fingerprint.cache_clear()
    before = {s: cache.cache_key({"x": 1}, s) for s in cache.SCOPES}
    with open(copy / edited, "a", encoding="utf-8") as fh:
        fh.write("\n# an edit\n")
    cache.source_fingerprint.cache_clear()
    after = {s: cache.cache_key({"x": 1}, s) for s in cache.SCOPES}
    cache.source_fingerprint.cache_clear()
    assert (before["training"] != after["training"]) is training_changes
    assert (before["figure"] != after["figure"]) is figure_changes
    assert (before["table"] != after["table"]) is table_changes


def test_cache_entries_round_trip_and_unreadable_ones_warn_once(tmp_path):
    path = tmp_path / "x.pkl"
    assert cache.load_entry(path) is None
    cache.store_entry(path, {"a": 1})
    assert cache.load_entry(path, dict) == {"a": 1} and not list(tmp_path.glob("*.tmp"))
    with pytest.warns(cache.CacheWarning, match="holds a dict"):
        assert cache.load_entry(path, list) is None
    path.write_bytes(b"\x80garbage")
    with pytest.warns(cache.CacheWarning, match="unreadable"):
        assert cache.load_entry(path) is None
