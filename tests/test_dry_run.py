"""The paper profile runs before a GPU does: every figure's capped dry run (``gclib run all --profile paper
--dry-run``) executes the paper profile's models, data, optimizers and measurements on the CPU, says it is
no result, and writes nowhere a result goes; ``device="auto"`` falls back to the CPU with one line."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from gclib.companion import figures
from gclib.companion.run import numerics
from gclib.device import FALLBACK_NOTICE

ROOT = Path(__file__).resolve().parents[1]
FIGURES = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))

pytestmark = pytest.mark.notebooks


@pytest.fixture(scope="module")
def dry_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("dry")
    env = {**numerics.from_environ().apply(), "MPLBACKEND": "agg"}
    env.pop("GCLIB_NOTEBOOKS_DIR", None)
    proc = subprocess.run([sys.executable, "-m", "gclib", "run", "all", "--profile", "paper", "--dry-run",
                           "--jobs", "2", "--out", str(out)], capture_output=True, text=True, env=env,
                          timeout=600)
    return out, proc


def test_every_figure_runs_its_paper_profile_capped(dry_runs):
    out, proc = dry_runs
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"{len(FIGURES)}/{len(FIGURES)} figures ok" in proc.stdout
    assert "dry run of the paper profile" in proc.stderr and "not a result" in proc.stderr
    assert not [p for p in out.iterdir() if p.name != "_dry_run"], "a dry run wrote where results go"
    for fid in FIGURES:
        d = out / "_dry_run" / fid
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


def test_device_auto_falls_back_to_the_cpu_with_one_line(dry_runs):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is present: device='auto' resolves to it")
    out, _ = dry_runs
    said = {}
    for fid in FIGURES:
        if figures.resolve_parameters(fid, "paper").get("device") != "auto":
            continue
        nb = nbformat.read(out / "_dry_run" / fid / f"{fid}.ipynb", as_version=4)
        text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
                       if o.get("name") == "stderr")
        said[fid] = text.count(FALLBACK_NOTICE)
    # once per kernel at most (a figure whose training all came from the run cache resolves no device)
    assert set(said.values()) <= {0, 1} and sum(said.values()) >= len(said) - 3, said


def test_dry_run_needs_caps_and_is_keyed_apart(tmp_path, monkeypatch):
    from gclib.companion import run
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
