"""The ``gclib`` command against the fixture notebook (tests/fixtures/fx_demo.ipynb): list, params, run with
overrides, caching, --force, a failing cell, a Dask sweep that resumes, the book command, and every bad-input
case (exit 2, one line on stderr, no notebook started)."""

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pandas as pd
import pytest

from gclib.companion import cli, figures, run
from gclib.companion.book.index import notebooks_readme
from gclib.companion.book.runs import load_profiles
from gclib.companion.run import parallel
from gclib.companion.run.cache import LOCK_NAME
from gclib.experiments import cache

FIXTURES = Path(__file__).parent / "fixtures"
GCLIB = Path(sys.executable).parent / "gclib"  # the console script installed in the venv
ENV = {**os.environ, "GCLIB_NOTEBOOKS_DIR": str(FIXTURES), "MPLBACKEND": "agg"}


def gclib(*args, script=False, timeout=180):
    cmd = [str(GCLIB)] if script else [sys.executable, "-m", "gclib"]
    return subprocess.run(
        cmd + [str(a) for a in args], capture_output=True, text=True, env=ENV, timeout=timeout
    )


@pytest.fixture
def in_process(monkeypatch):
    monkeypatch.setenv("GCLIB_NOTEBOOKS_DIR", str(FIXTURES))


def gclib_pinned(*args):
    """``gclib ARGS`` in this process with the gclib-sources part of the cache key pinned, so that library
    modules edited while the tests run cannot turn an expected cache hit into a miss.

    Returns (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        mp.setenv("GCLIB_NOTEBOOKS_DIR", str(FIXTURES))
        mp.setattr(cache, "source_fingerprint", lambda scope: "pinned-for-tests")
        code = cli.main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def test_list_readme_writes_the_figure_table(tmp_path, monkeypatch):
    shutil.copy(FIXTURES / "profiles.yaml", tmp_path / "profiles.yaml")
    shutil.copy(FIXTURES / "fx_demo.ipynb", tmp_path / "fx_demo.ipynb")
    monkeypatch.setenv("GCLIB_NOTEBOOKS_DIR", str(tmp_path))
    assert cli.main(["list", "--readme"]) == 0
    text = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert text == notebooks_readme() and "[`fx_demo.ipynb`](fx_demo.ipynb)" in text


def test_committed_notebooks_readme_is_up_to_date():
    """notebooks/README.md is generated from profiles.yaml; rewrite it with `gclib list --readme`."""
    repo_notebooks = Path(__file__).resolve().parents[1] / "notebooks"
    expected = notebooks_readme(load_profiles(repo_notebooks / "profiles.yaml"))
    assert (repo_notebooks / "README.md").read_text(encoding="utf-8") == expected
    assert all(f"[`{nb.name}`]" in expected for nb in repo_notebooks.glob("*.ipynb"))


def test_list_shows_every_figure_with_estimates():
    proc = gclib("list", script=True)
    assert proc.returncode == 0, proc.stderr
    header, row = proc.stdout.splitlines()
    assert header.split() == ["id", "paper", "family", "smoke", "cpu", "paper", "claim"]
    assert row.split()[:3] == ["fx_demo", "dherin2022", "FX"]
    assert "3 s" in row and "2 min" in row and "1.5 h" in row and "non-negative" in row


def test_params_shows_types_defaults_and_profile_values():
    proc = gclib("params", "fx_demo")
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line.split() for line in proc.stdout.splitlines()[1:]}
    assert lines["name"][:5] == ["name", "type", "smoke", "(default)", "cpu"]
    assert lines["n"][:5] == ["n", "int", "3", "5", "8"]  # smoke default, cpu and paper from profiles.yaml
    assert lines["scale"][:2] == ["scale", "float"] and lines["tag"][:2] == ["tag", "any"]
    assert "number of terms" in proc.stdout


@pytest.mark.parametrize("argv", [[], ["list"], ["params"], ["run"], ["sweep"], ["book"]])
def test_help_everywhere_has_examples(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv + ["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "gclib " in out
    if argv == ["run"]:
        assert cli.ERROR_TABLE in out


def test_run_overrides_cache_and_force(tmp_path):
    out = tmp_path / "figs"
    code, _, err = gclib_pinned(
        "run", "fx_demo", "-p", "n", "5", "-p", "scale", "2", "-p", "widths", "(1, 2)", "--out", out
    )
    assert code == 0, err
    d = out / "fx_demo"
    # the outputs, and the figure's lock file (kept: deleting a flock'ed file races with a waiting run)
    assert {p.name for p in d.iterdir()} == {
        LOCK_NAME,
        "fx_demo.ipynb",
        "fx_demo.png",
        "fx_demo.svg",
        "fx_demo.scorecard.json",
        "fx_demo.provenance.json",
    }
    prov = json.loads((d / "fx_demo.provenance.json").read_text())
    assert prov["parameters"]["n"] == 5 and prov["parameters"]["scale"] == 2.0
    assert prov["parameters"]["widths"] == [1, 2] and prov["profile"] == "smoke" and prov["seed"] == 0
    assert prov["status"] == "success" and prov["wall_seconds"] > 0 and len(prov["cache_key"]) == 64
    assert set(prov["versions"]) == {"gclib", "torch", "python", "numpy", "papermill"}
    assert {"git_sha", "git_dirty", "device", "start", "end"} <= set(prov)
    card = json.loads((d / "fx_demo.scorecard.json").read_text())
    assert card["claims"][0]["statistic"] == 20.0  # 2 * (0 + 1 + 2 + 3 + 4), computed by the notebook
    nb = json.loads((d / "fx_demo.ipynb").read_text())
    assert nb["metadata"]["papermill"]["parameters"]["n"] == 5
    assert "start_time" not in nb["metadata"]["papermill"]
    assert not any("start_time" in c["metadata"].get("papermill", {}) for c in nb["cells"])
    assert "fx_demo (smoke): 1/1" in "".join(nb["cells"][-1]["outputs"][0]["text"])

    mtime = (d / "fx_demo.ipynb").stat().st_mtime_ns
    code, stdout, err = gclib_pinned(
        "run", "fx_demo", "-p", "n", "5", "-p", "scale", "2.0", "-p", "widths", "[1, 2]", "--out", out
    )
    assert code == 0 and "cached" in stdout, err
    assert (d / "fx_demo.ipynb").stat().st_mtime_ns == mtime
    assert json.loads((d / "fx_demo.provenance.json").read_text())["start"] == prov["start"]

    code, stdout, err = gclib_pinned(
        "run", "all", "--out", out, "-p", "n", "5", "-p", "scale", "2", "-p", "widths", "[1,2]"
    )
    assert code == 0 and "cached" in stdout and "1/1 figures ok" in stdout, err

    code, stdout, err = gclib_pinned(
        "run", "fx_demo", "-p", "n", "5", "-p", "scale", "2", "-p", "widths", "[1,2]", "--out", out, "--force"
    )
    assert code == 0, err
    assert "ran in" in stdout and (d / "fx_demo.ipynb").stat().st_mtime_ns != mtime
    assert json.loads((d / "fx_demo.provenance.json").read_text())["status"] == "success"


def test_failing_cell_keeps_partial_notebook_and_exits_1(tmp_path):
    proc = gclib("run", "fx_demo", "-p", "fail", "true", "--out", tmp_path)
    assert proc.returncode == 1
    assert "fx_demo failed: cell 3 (In [4]) raised RuntimeError: fixture asked to fail" in proc.stderr
    d = tmp_path / "fx_demo"
    nb = json.loads((d / "fx_demo.ipynb").read_text())
    errors = [
        o
        for c in nb["cells"]
        if c["cell_type"] == "code"
        for o in c["outputs"]
        if o["output_type"] == "error"
    ]
    assert [e["evalue"] for e in errors] == ["fixture asked to fail"]
    prov = json.loads((d / "fx_demo.provenance.json").read_text())
    assert prov["status"] == "failed" and prov["failed_cell"] == 3 and "RuntimeError" in prov["error"]
    assert not (d / "fx_demo.scorecard.json").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "fx_nope"], "gclib: error: unknown figure 'fx_nope'; valid: fx_demo"),
        (
            ["run", "fx_demo", "--profile", "big"],
            "gclib run: error: argument --profile: invalid choice: 'big'",
        ),
        (
            ["run", "fx_demo", "-p", "nn", "1"],
            "unknown parameter 'nn' for fx_demo; valid: profile, seed, device, n",
        ),
        (
            ["run", "fx_demo", "-p", "n", "ten"],
            "parameter 'n' of fx_demo expects int (default 3), got str 'ten'",
        ),
        (["run", "fx_demo", "-p", "scale", "[1]"], "parameter 'scale' of fx_demo expects float"),
        (["run", "fx_demo", "-p", "n", "1", "-p", "n", "2"], "parameter 'n' given twice"),
        (
            ["run", "fx_demo", "--device", "cuda"],
            "device 'cuda' requested but torch.cuda.is_available() is False",
        ),
        (["run", "fx_demo", "--device", "tpu"], "device must be auto, cpu or cuda[:N], got 'tpu'"),
        (["run", "all", "-p", "nn", "1"], "unknown parameter 'nn' for fx_demo"),
        (["params", "fx_nope"], "unknown figure 'fx_nope'"),
        (["sweep", "fx_demo", "-g", "nn", "1,2"], "unknown parameter 'nn' for fx_demo"),
        (["sweep", "fx_demo", "-g", "n", "1,x"], "expects int (default 3), got str 'x'"),
        (["sweep", "fx_demo", "-g", "n", "1", "--workers", "0"], "--workers must be >= 1, got 0"),
    ],
)
def test_bad_input_exits_2_before_any_notebook(argv, message, tmp_path, capsys, monkeypatch, in_process):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    if argv[0] != "params":
        argv = argv + ["--out", str(tmp_path)]
    with pytest.raises(SystemExit) if "--profile" in argv else _no_exit() as exc:
        code = cli.main(argv)
    code = exc.value.code if exc else code
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not list(tmp_path.rglob("*.ipynb")) and not list(tmp_path.rglob("*.json"))


class _no_exit:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def test_unwritable_out_exits_2(tmp_path, capsys, in_process):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert cli.main(["run", "fx_demo", "--out", str(blocker / "figs")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gclib: error: cannot write to output directory") and "a_file" in err
    assert not list(tmp_path.rglob("*.ipynb"))


def test_bad_input_exit_status_through_the_console_script(tmp_path):
    proc = gclib("run", "fx_demo", "-p", "n", "ten", "--out", tmp_path, script=True)
    assert proc.returncode == 2 and proc.stderr.startswith("gclib: error: ") and proc.stdout == ""
    assert not list(tmp_path.rglob("*.ipynb"))


def test_book_runs_stale_figures_then_builds(tmp_path, monkeypatch, capsys, in_process):
    calls = []
    fake = types.ModuleType("gclib.companion.book.build")
    fake.build_book = lambda book_dir, figures_dir, *, strict=True: (
        calls.append((book_dir, figures_dir, strict)) or book_dir / "_build" / "html"
    )
    monkeypatch.setitem(sys.modules, "gclib.companion.book.build", fake)
    ran = []
    monkeypatch.setattr(parallel, "run_all", lambda profile, out_dir, jobs=None, threads=1, warm=True:
                        ran.append((profile, out_dir, warm)) or [])
    assert cli.main(["book", "--profile", "smoke", "--out", str(tmp_path)]) == 0
    assert ran == [("smoke", tmp_path, True)]
    assert calls == [(figures.repo_root() / "book", tmp_path, True)]
    assert cli.main(["book", "--profile", "smoke", "--out", str(tmp_path), "--fresh-kernels"]) == 0
    assert ran[-1] == ("smoke", tmp_path, False)  # a fresh kernel for every figure

    failed = run.RunResult(
        "fx_demo",
        "failed",
        "smoke",
        {},
        tmp_path,
        tmp_path / "x.ipynb",
        tmp_path / "p.json",
        None,
        1.0,
        "k",
        "cell 3 (In [4]) raised RuntimeError: boom",
        3,
    )
    monkeypatch.setattr(parallel, "run_all",
                        lambda profile, out_dir, jobs=None, threads=1, warm=True: [failed])
    calls.clear()
    assert cli.main(["book", "--out", str(tmp_path)]) == 1
    assert calls == [] and "not building the book" in capsys.readouterr().err


# ---------------------------------------------------------------- Dask sweep: a 2×2 grid that resumes
@pytest.fixture(scope="module")
def first_sweep(tmp_path_factory):
    """A 2×2 sweep on a 2-worker LocalCluster in which the two n=2 cells fail (their crash marker exists)."""
    tmp = tmp_path_factory.mktemp("sweep")
    (tmp / "crash_2").write_text("")
    args = [
        "sweep",
        "fx_demo",
        "-g",
        "n",
        "1,2",
        "-g",
        "scale",
        "1,2.5",
        "-p",
        "crash_marker",
        str(tmp / "crash_{n}"),
        "--workers",
        "2",
        "--out",
        tmp / "out",
    ]
    environ = dict(os.environ)
    result = gclib_pinned(*args)
    return tmp, args, result, (environ, dict(os.environ))


def _table(tmp):
    return pd.read_csv(tmp / "out" / "sweeps" / "fx_demo" / "results.csv")


def test_sweep_restores_the_environment_dask_writes_into(first_sweep):
    """LocalCluster sets OMP_NUM_THREADS=1, PYTHONHASHSEED, … in the parent's os.environ; left there, every
    later notebook this process ran would be single-threaded (slower, and numerically different)."""
    before, after = first_sweep[3]
    assert after == before


def test_sweep_runs_the_grid_into_one_table(first_sweep):
    tmp, _, (code, _, err), _ = first_sweep
    assert code == 1, err  # two cells failed
    table = _table(tmp)
    assert len(table) == 4 and list(table[["n", "scale"]].itertuples(index=False, name=None)) == [
        (1, 1.0),
        (1, 2.5),
        (2, 1.0),
        (2, 2.5),
    ]
    assert list(table["status"]) == ["ran", "ran", "failed", "failed"]
    assert list(table["FX.total_nonneg.statistic"][:2]) == [0.0, 0.0]
    assert list(table["FX.total_nonneg.verdict"][:2]) == ["✓", "✓"]
    assert table["error"][2].endswith("raised RuntimeError: crash marker present for n=2")
    assert all(Path(p).exists() for p in table["provenance"])
    assert (tmp / "out" / "sweeps" / "fx_demo" / "results.parquet").exists()
    assert err.count("gclib: cell n=2") == 2


def test_sweep_rerun_computes_only_missing_cells(first_sweep):
    tmp, args, _, _ = first_sweep
    before = _table(tmp)
    done = {p: json.loads(Path(p).read_text())["start"] for p in before["provenance"][:2]}
    mtimes = {p: (Path(p).parent / "fx_demo.ipynb").stat().st_mtime_ns for p in done}
    (tmp / "crash_2").unlink()
    code, _, err = gclib_pinned(*args)
    assert code == 0, err
    table = _table(tmp)
    assert list(table["status"]) == ["cached", "cached", "ran", "ran"]
    assert list(table["FX.total_nonneg.statistic"]) == [0.0, 0.0, 1.0, 2.5]
    for p, start in done.items():  # the successful cells were not re-executed
        assert json.loads(Path(p).read_text())["start"] == start
        assert (Path(p).parent / "fx_demo.ipynb").stat().st_mtime_ns == mtimes[p]
    code, _, err = gclib_pinned(*args)  # everything cached: no cluster is started
    assert code == 0 and list(_table(tmp)["status"]) == ["cached"] * 4, err


def test_readme_failure_table_is_the_cli_table():
    """The README's failure table is ERROR_TABLE, row for row (edit errors.py, then paste)."""
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    table = cli.ERROR_TABLE.split("\n\n")[0]
    assert table.count("\n") >= 15 and table in readme


def test_est_times_marks_a_figure_over_the_cpu_budget():
    from gclib.companion.format import est_times

    assert est_times({"est_seconds": {"smoke": 9, "cpu": 60, "paper": 1800}}) == "9 s / 60 s / 30 min"
    over = {"est_seconds": {"smoke": 9, "cpu": 215, "paper": 1800}, "over_budget": "measured 213 s"}
    assert est_times(over) == "9 s / 4 min † / 30 min"
    assert "†" in notebooks_readme({"fx": {**over, "claim": "c"}})
