"""The paper profile runs before a GPU does: every figure's capped dry run (``gclib run FIGURE --profile paper
--dry-run``) executes the paper profile's models, data, optimizers and measurements on the CPU, says it is
no result, and writes nowhere a result goes; ``device="auto"`` falls back to the CPU with one line. Every
figure runs in the worker's warm kernel (shared with the fuzz draws); one runs through the command line."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from gclib.companion import figures, run
from gclib.companion.run import numerics
from gclib.device import FALLBACK_NOTICE

ROOT = Path(__file__).resolve().parents[1]
FIGURES = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))

pytestmark = pytest.mark.notebooks


@pytest.mark.parametrize("fid", FIGURES)
def test_the_paper_profile_runs_capped(fid, tmp_path, warm_kernel):
    """Every figure's paper profile, capped (``dry_run:`` in profiles.yaml), runs to a scorecard labelled
    as a dry run, with the paper profile's code paths, into ``_dry_run/`` only. It runs in this worker's warm
    kernel (tests/conftest.py ``warm_kernel``); the command line's own path, in a fresh kernel, is
    :func:`test_the_command_line_dry_run_says_it_is_no_result_and_device_auto_falls_back_once`."""
    res = run.run_figure(fid, profile="paper", dry_run=True, out_dir=tmp_path, kernel=warm_kernel)
    assert res.status == "ran", res.error
    assert not [p for p in tmp_path.iterdir() if p.name != "_dry_run"], "a dry run wrote where results go"
    d = tmp_path / "_dry_run" / fid
    assert res.directory == d
    prov = json.loads((d / f"{fid}.provenance.json").read_text())
    card = json.loads((d / f"{fid}.scorecard.json").read_text())
    assert prov["status"] == "success" and prov["dry_run"] is True and prov["profile"] == "paper"
    assert card["profile"] == figures.DRY_RUN_PROFILE
    paper = figures.resolve_parameters(fid, "paper")
    ran = prov["parameters"]
    for name in ("dataset", "model", "optimizer", "device", "loss", "init"):  # the paper code paths
        if name in paper:
            assert ran[name] == paper[name], (fid, name)
    summary = nbformat.read(d / f"{fid}.ipynb", as_version=4).cells[-1].outputs[0]["text"]
    assert f"({figures.DRY_RUN_PROFILE})" in summary.splitlines()[0]


#: the figure the command line runs dry, end to end (a cheap one whose paper profile says device="auto")
CLI_FIGURE = "gc_double_descent"


def test_the_command_line_dry_run_says_it_is_no_result_and_device_auto_falls_back_once(tmp_path):
    """`gclib run CLI_FIGURE --profile paper --dry-run`, as a user types it (a subprocess, a fresh kernel, an
    empty training cache: a cached training resolves no device): exit 0, the "not a result" line, nothing
    written where results go, and without CUDA the CPU fallback said once."""
    import torch

    out = tmp_path / "figures"
    env = {**numerics.from_environ().apply(), "MPLBACKEND": "agg", "GCLIB_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("GCLIB_NOTEBOOKS_DIR", None)
    proc = subprocess.run([sys.executable, "-m", "gclib", "run", CLI_FIGURE, "--profile", "paper",
                           "--dry-run", "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.startswith(f"{CLI_FIGURE}: ran in ")
    assert "dry run of the paper profile" in proc.stderr and "not a result" in proc.stderr
    assert [p.name for p in out.iterdir()] == ["_dry_run"], "a dry run wrote where results go"
    prov = json.loads((out / "_dry_run" / CLI_FIGURE / f"{CLI_FIGURE}.provenance.json").read_text())
    assert prov["dry_run"] is True and "warm_kernel" not in prov  # the command line starts its own kernel
    assert figures.resolve_parameters(CLI_FIGURE, "paper").get("device") == "auto"
    if torch.cuda.is_available():
        return  # device="auto" resolves to CUDA: no fallback to say
    nb = nbformat.read(out / "_dry_run" / CLI_FIGURE / f"{CLI_FIGURE}.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
                   if o.get("name") == "stderr")
    assert text.count(FALLBACK_NOTICE) == 1, text[-2000:]  # once per kernel


def test_dry_run_needs_caps_and_is_keyed_apart(tmp_path, monkeypatch):
    from gclib.companion.run.job import figure_dir

    params = figures.resolve_parameters("gc_l2", "paper", dry_run=True)
    real = figures.resolve_parameters("gc_l2", "paper")
    assert params["profile"] == figures.DRY_RUN_PROFILE and params["steps"] < real["steps"]
    assert params["model"] == real["model"] == "resnet"
    dry_key = run.cache_key("gc_l2", params, profile="paper", dry_run=True)
    assert run.cache_key("gc_l2", real, profile="paper") != dry_key
    assert figure_dir(tmp_path, "gc_l2", dry_run=True) == tmp_path / "_dry_run" / "gc_l2"
    fixtures = Path(__file__).parent / "fixtures"
    monkeypatch.setenv("GCLIB_NOTEBOOKS_DIR", str(fixtures))
    with pytest.raises(figures.ParameterError, match="no dry_run caps"):
        figures.resolve_parameters("fx_demo", "paper", dry_run=True)
