"""The package's architecture, held by tests so that a new import circle, an import that runs back up a
floor, an oversized companion module or a folder map that forgot a module fails CI; and the module names of
release 0.2 still import, with one DeprecationWarning each."""
from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "gclib"

#: floors, lowest first: a module may import its own floor's package or any floor below, never one above.
#: Within a floor, imports only have to be free of circles.
FLOORS = [
    ("core", lambda m: m != "gclib.__main__" and not m.startswith(("gclib.experiments", "gclib.companion"))),
    ("experiments", lambda m: m.startswith("gclib.experiments")),
    ("leaves", lambda m: m in {f"gclib.companion.{n}" for n in ("errors", "format", "locations", "outputs",
                                                               "aliases")}),
    ("figures", lambda m: m.startswith("gclib.companion.figures")),
    ("kernel", lambda m: m.startswith("gclib.companion.kernel")),
    ("run", lambda m: m.startswith("gclib.companion.run")),
    ("book", lambda m: m.startswith("gclib.companion.book")),
    ("top", lambda m: m in ("gclib.companion", "gclib.companion.cli", "gclib.__main__")),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py")) if "__pycache__" not in p.parts}


def import_graph() -> dict[str, set[str]]:
    """module → the gclib modules it imports, from every import statement in it (module level or inside a
    function: an import kept inside a function to dodge a circle is still an edge)."""
    mods = _modules()
    graph = {m: set() for m in mods}
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] +
                                    ([base] if base else []))
                # `from pkg import name`: the submodule pkg.name where it is one, else pkg itself
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for t in targets:
                while t and t not in mods:  # `import gclib.x.y` as a module name we know
                    t = t.rpartition(".")[0]
                if t and t != mod:
                    graph[mod].add(t)
    return graph


def _circles(graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _floor(mod: str) -> int:
    hits = [i for i, (_, test) in enumerate(FLOORS) if test(mod)]
    assert len(hits) == 1, f"{mod} belongs to {len(hits)} floors: add it to FLOORS in this test"
    return hits[0]


def test_the_import_graph_has_no_circle():
    graph = import_graph()
    assert sum(len(v) for v in graph.values()) > 100  # the graph was read, not empty
    assert _circles(graph) == []


def test_every_import_runs_down_a_floor_or_stays_on_its_own():
    graph = import_graph()
    upward = [f"{a} ({FLOORS[_floor(a)][0]}) imports {b} ({FLOORS[_floor(b)][0]})"
              for a, targets in graph.items() for b in targets if _floor(b) > _floor(a)]
    assert upward == []


def test_the_graph_sees_a_circle_dodged_inside_a_function(tmp_path, monkeypatch):
    pkg = tmp_path / "gclib"
    (pkg / "companion").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "companion" / "__init__.py").write_text("")
    (pkg / "companion" / "a.py").write_text("from gclib.companion.b import g\n")
    (pkg / "companion" / "b.py").write_text("def g():\n    from gclib.companion import a  # dodge\n")
    monkeypatch.setattr(sys.modules[__name__], "PKG", pkg)
    assert _circles(import_graph()) == [["gclib.companion.a", "gclib.companion.b"]]


def test_no_companion_module_is_over_400_lines():
    long = {p.relative_to(PKG).as_posix(): n for p in (PKG / "companion").rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert long == {}


@pytest.mark.parametrize("folder", sorted(p.parent.relative_to(PKG).as_posix()
                                          for p in (PKG / "companion").rglob("__init__.py")))
def test_each_folder_map_names_every_module_in_its_folder(folder):
    d = PKG / folder
    doc = ast.get_docstring(ast.parse((d / "__init__.py").read_text(encoding="utf-8"))) or ""
    dotted = "gclib." + folder.replace("/", ".")
    rooms = [p.stem for p in d.glob("*.py") if p.name != "__init__.py"]
    rooms += [p.name for p in d.iterdir() if (p / "__init__.py").is_file()]
    assert rooms, folder
    missing = [r for r in rooms if f"{dotted}.{r}" not in doc]
    assert missing == [], f"the map of {dotted} (its docstring) does not name {missing}"


OLD_NAMES = [("plotting", "savefig"), ("plotting", "save_table"), ("plotting", "plot_sweep"),
             ("regime_plots", "plot_levels"), ("dominance_plots", "plot_histogram_grid"),
             ("scorecard", "Scorecard"), ("scorecard", "record_trend_checks"), ("params", "check_parameters"),
             ("params", "check_ranges"), ("params", "parse_spec"), ("runner", "run_figure"),
             ("runner", "resolve_parameters"), ("runner", "cache_key"), ("runner", "RunError"),
             ("rejudge", "rejudge"), ("results", "committed_results"), ("results", "results_dir"),
             ("parallel", "run_all"), ("parallel", "sweep"), ("format", "tally"), ("format", "verdict")]


def test_every_old_name_still_imports_and_warns_once_per_old_module():
    # one fresh interpreter for all of them: "once" is per process
    code = ("import json, warnings\nwarnings.simplefilter('always')\nout = {}\n"
            f"for old, name in {OLD_NAMES!r}:\n"
            "    with warnings.catch_warnings(record=True) as caught:\n"
            "        first = getattr(__import__('gclib.companion.' + old, fromlist=[name]), name)\n"
            "        again = getattr(__import__('gclib.companion.' + old, fromlist=[name]), name)\n"
            "    msgs = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]\n"
            "    out[old + '.' + name] = [first is again, getattr(first, '__module__', ''), msgs]\n"
            "print(json.dumps(out))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    out = json.loads(proc.stdout)
    warned = set()
    for old, name in OLD_NAMES:
        same, home, msgs = out[f"{old}.{name}"]
        assert same and (home.startswith("gclib.companion.") or not home), (old, name, home)
        if old in warned:  # the first name taken from an old module warned; the next ones do not
            assert msgs == [], (old, name, msgs)
        else:
            warned.add(old)
            assert len(msgs) == 1 and "deprecated" in msgs[0] and f"import {name} from gclib.companion." \
                in msgs[0], (old, name, msgs)
    assert warned == {old for old, _ in OLD_NAMES}


def test_an_old_module_imported_whole_warns_where_it_is_used():
    with pytest.warns(DeprecationWarning, match=r"gclib\.companion\.scorecard is deprecated") as rec:
        from gclib.companion import scorecard  # noqa: PLC0415
        card = scorecard.Scorecard("x")
    assert card.figure == "x" and rec[0].filename == __file__  # the user's line, not the import system's
    new = importlib.import_module("gclib.companion.kernel.judge")
    assert scorecard.Scorecard is new.Scorecard


def test_a_name_that_never_existed_is_an_attribute_error():
    from gclib.companion import params  # noqa: PLC0415

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        params.nope  # noqa: B018
