"""The GPU bundle (tools/gpu_bundle.py) without a download: what the image has is left out, the wheels' tags
fit the GPU machine's Python, the requirement walk reads markers for that Python (pip download reads them
for the Python running it), run.sh installs offline and parses its options (executed with a fake python),
and one check says whether a figure folder is in the committed-results format. The bundle itself is run
offline by `make gpu-rehearsal` (tools/gpu_rehearsal.py)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import gpu_bundle  # noqa: E402
import gpu_rehearsal  # noqa: E402

sys.path.remove(str(ROOT / "tools"))


# ---------------------------------------------------------------- what the bundle holds


@pytest.mark.parametrize("wheel, image", [
    ("scikit_learn-1.8.0-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl", True),
    ("python_dateutil-2.9.0.post0-py2.py3-none-any.whl", True),
    ("PyYAML-6.0.2-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", True),
    ("torch-2.13.0-cp312-cp312-manylinux_2_28_x86_64.whl", True),
    ("papermill-2.7.0-py3-none-any.whl", False),
    ("tornado-6.6.1-cp311-abi3-manylinux_2_28_x86_64.whl", False),
    ("mlxtend-0.25.0-py3-none-any.whl", False),
])
def test_image_has_matches_wheels_by_canonical_name(wheel, image):
    assert gpu_bundle.image_has(wheel) is image


def test_the_bundle_never_replaces_the_image_stack_and_needs_what_the_image_lacks():
    assert {n.replace("_", "-").lower() for n in gpu_bundle.IMAGE_STACK} <= gpu_bundle.IMAGE_HAS
    assert not set(gpu_bundle.NEEDED) & gpu_bundle.IMAGE_HAS
    assert {"papermill", "ipykernel", "mlxtend"} <= set(gpu_bundle.NEEDED)


def _wheel(folder: Path, name: str, version: str, requires=(), tag="py3-none-any") -> Path:
    """A minimal wheel file: only its dist-info METADATA with these Requires-Dist lines."""
    path = folder / f"{name}-{version}-{tag}.whl"
    meta = "Metadata-Version: 2.1\nName: {}\nVersion: {}\n{}".format(
        name, version, "".join(f"Requires-Dist: {r}\n" for r in requires))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{name}-{version}.dist-info/METADATA", meta)
    return path


def test_the_requirement_walk_reads_markers_for_the_target_python(tmp_path):
    """Built on 3.11, pip download left out papermill's `aiohttp; python_version == "3.12"`."""
    _wheel(tmp_path, "papermill", "2.7.0", ['aiohttp>=3.9; python_version == "3.12"', "tqdm>=4.32.2",
                                           "nbclient>=0.2", 'pytest; extra == "test"'])
    _wheel(tmp_path, "nbclient", "0.11.0")
    _wheel(tmp_path, "ipykernel", "7.4.0", ["tornado>=6.5", "packaging>=22"])
    _wheel(tmp_path, "tornado", "6.4.0")
    _wheel(tmp_path, "mlxtend", "0.25.0", ["numpy>=2.3.5"])
    _wheel(tmp_path, "mlxtend", "0.23.4", ["numpy>=1.16.2"])
    gaps311, needs = gpu_bundle.requirement_gaps(tmp_path, "3.11")
    gaps312, _ = gpu_bundle.requirement_gaps(tmp_path, "3.12")
    assert [str(g) for g in gaps311] == [
        "tornado>=6.5 (wanted by ipykernel 7.4.0): the bundle has tornado 6.4.0"]
    assert sorted(g.requirement for g in gaps312) == ["aiohttp>=3.9", "tornado>=6.5"]
    assert next(g for g in gaps312 if g.requirement == "aiohttp>=3.9").wanted_by == "papermill 2.7.0"
    assert sorted(needs["numpy"]) == ["mlxtend 0.23.4: >=1.16.2", "mlxtend 0.25.0: >=2.3.5"]
    assert needs["tqdm"] == ["papermill 2.7.0: >=4.32.2"] and "pytest" not in str(gaps312)


def test_build_drops_the_image_and_fetches_what_markers_for_the_target_add(tmp_path, monkeypatch):
    """`pip download` (faked: it writes wheels, markers read for 3.11 as pip does) then the walk's second
    round for 3.12; the image's wheels are removed, the data and run.sh written."""
    calls = []

    def fake_pip(cmd, **kw):
        dest = Path(cmd[cmd.index("--dest") + 1])
        reqs = [a for a in cmd[cmd.index(gpu_bundle.PLATFORMS[-1]) + 1:] if a != "--no-deps"]
        calls.append((reqs, "--no-deps" in cmd))
        if "papermill" in reqs:
            _wheel(dest, "papermill", "2.7.0", ['aiohttp>=3.9; python_version == "3.12"', "numpy"])
            _wheel(dest, "numpy", "2.3.5", tag="cp312-cp312-manylinux_2_28_x86_64")
            _wheel(dest, "scikit_learn", "1.8.0", tag="cp312-cp312-manylinux_2_28_x86_64")
            for name in ("ipykernel", "mlxtend"):
                _wheel(dest, name, "1.0")
        if "mlxtend==0.23.4" in reqs:
            _wheel(dest, "mlxtend", "0.23.4", ["numpy>=1.16.2"])
        if "aiohttp>=3.9" in reqs:
            _wheel(dest, "aiohttp", "3.14.5", tag="cp312-cp312-manylinux_2_28_x86_64")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    data = tmp_path / "fashion-mnist"
    data.mkdir()
    (data / "train-images-idx3-ubyte.gz").write_bytes(b"x")
    monkeypatch.setattr(gpu_bundle, "FASHION_MNIST", data)
    monkeypatch.setattr(gpu_bundle, "subprocess", SimpleNamespace(run=fake_pip))
    count, size, gaps = gpu_bundle.build(tmp_path / "b312", "3.12")
    names = sorted(p.name.split("-")[0] for p in (tmp_path / "b312" / "wheels").glob("*.whl"))
    assert names == ["aiohttp", "ipykernel", "mlxtend", "mlxtend", "papermill"] and count == 5 and not gaps
    assert calls == [(list(gpu_bundle.NEEDED), False), (list(gpu_bundle.FALLBACKS), True),
                     (["aiohttp>=3.9"], False)]
    assert (tmp_path / "b312" / "fashion-mnist" / "train-images-idx3-ubyte.gz").is_file()
    assert (tmp_path / "b312" / "run.sh").read_text() == gpu_bundle.run_sh() and size > 0
    calls.clear()
    gpu_bundle.build(tmp_path / "b311", "3.11")
    assert [reqs for reqs, _ in calls] == [list(gpu_bundle.NEEDED), list(gpu_bundle.FALLBACKS)]


# ---------------------------------------------------------------- wheel tags for the GPU machine's Python

FITS_312 = ["numpy-2.3.5-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "pyzmq-27.3.0-cp312-abi3-manylinux_2_26_x86_64.manylinux_2_28_x86_64.whl",
            "psutil-7.2.2-cp36-abi3-manylinux2010_x86_64.manylinux_2_12_x86_64.whl",
            "papermill-2.7.0-py3-none-any.whl",
            "debugpy-1.8.22-py2.py3-none-any.whl"]
MISFITS_312 = ["rpds_py-2026.9.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
               "pyzmq-27.3.0-cp312-abi3-macosx_10_15_universal2.whl",
               "yarl-1.25.1-cp312-cp312-manylinux_2_34_x86_64.whl",
               "yarl-1.25.1-cp312-cp312-manylinux_2_28_aarch64.whl",
               "yarl-1.25.1-cp312-cp312-win_amd64.whl"]


def test_the_tag_check_accepts_what_cpython_312_on_manylinux_2_28_installs():
    assert gpu_bundle.tag_misfits(FITS_312, "3.12") == []


def test_the_tag_check_refuses_other_pythons_platforms_and_newer_glibc():
    assert gpu_bundle.tag_misfits(FITS_312 + MISFITS_312, "3.12") == sorted(MISFITS_312)
    assert gpu_bundle.tag_misfits(MISFITS_312[:1], "3.11") == []  # the cp311 wheel is refused for its version


# ---------------------------------------------------------------- run.sh, executed with a fake python

FAKE_PYTHON = """#!/usr/bin/env bash
cat > /dev/null   # the heredoc of the device check
printf '%s%s\\n' "${PIP_BREAK_SYSTEM_PACKAGES:+[PEP 668 overridden] }" "$*" >> "$FAKE_LOG"
case "$*" in
    "-m gclib list") printf 'id  paper  family\\nfig_a  x  y\\nfig_b  x  y\\n' ;;
    "-m gclib run fig_b "*) [ -z "${FAIL_B:-}" ] || exit 1 ;;
esac
"""


@pytest.fixture
def fake_tree(tmp_path):
    """A repository with gclib/ and gpu_bundle/run.sh, a fake `python` on PATH logging its arguments."""
    repo, fake = tmp_path / "repo", tmp_path / "bin"
    (repo / "gclib").mkdir(parents=True)
    (repo / "gclib" / "__init__.py").write_text("")
    (repo / "gpu_bundle").mkdir()
    (repo / "gpu_bundle" / "run.sh").write_text(gpu_bundle.run_sh())
    fake.mkdir()
    (fake / "python").write_text(FAKE_PYTHON)
    (fake / "python").chmod(0o755)
    return repo, fake, tmp_path / "calls.log"


def _run_sh(fake_tree, *args, **env):
    repo, fake, log = fake_tree
    log.write_text("")
    base = {k: v for k, v in os.environ.items() if k not in ("PYTHON", "PYTHONPATH", "FAIL_B")}
    proc = subprocess.run(["bash", str(repo / "gpu_bundle" / "run.sh"), *args], cwd=fake.parent,
                          capture_output=True, text=True, timeout=30,
                          env={**base, "PATH": f"{fake}:/usr/bin:/bin", "FAKE_LOG": str(log), **env})
    return proc, log.read_text().splitlines()


def test_run_sh_installs_the_wheels_offline_then_runs_every_figure_on_cuda(fake_tree):
    repo = fake_tree[0]
    proc, calls = _run_sh(fake_tree)
    assert proc.returncode == 0, proc.stderr
    assert calls[0] == ("[PEP 668 overridden] -m pip install -q --no-index --find-links "
                        f"{repo}/gpu_bundle/wheels papermill ipykernel mlxtend")
    assert calls[1] == "- cuda papermill ipykernel mlxtend" and calls[2] == "-m gclib list"
    assert calls[3:] == [f"-m gclib run {f} --profile paper --device cuda --out book/_generated/figures"
                         for f in ("fig_a", "fig_b")]
    lines = proc.stdout.splitlines()
    parsed = [gpu_rehearsal.RUN_LINE.match(line) for line in lines[:2]]
    assert [(m[1], m[2]) for m in parsed] == [("fig_a", "ok"), ("fig_b", "ok")]
    assert lines[2].startswith("run.sh: 2/2 figures ok in ") and lines[2].endswith(" s")


def test_run_sh_takes_the_device_a_dry_run_an_out_folder_and_figures(fake_tree):
    proc, calls = _run_sh(fake_tree, "--device", "cpu", "--dry-run", "fig_b")
    assert proc.returncode == 0, proc.stderr
    assert "-m gclib list" not in calls and calls[1] == "- cpu papermill ipykernel mlxtend"
    assert calls[2:] == [
        "-m gclib run fig_b --profile paper --device cpu --dry-run --out book/_generated/figures"]
    proc, calls = _run_sh(fake_tree, "fig_a", "--device=cuda:1", "--out=/tmp/x", "fig_b")
    assert calls[2:] == [f"-m gclib run {f} --profile paper --device cuda:1 --out /tmp/x"
                         for f in ("fig_a", "fig_b")]


def test_run_sh_keeps_going_past_a_failed_figure_and_exits_1(fake_tree):
    proc, calls = _run_sh(fake_tree, "fig_b", "fig_a", FAIL_B="1")
    assert proc.returncode == 1
    assert [c.split()[3] for c in calls if c.startswith("-m gclib run")] == ["fig_b", "fig_a"]
    assert "run.sh: fig_b FAILED" in proc.stdout and "run.sh: fig_a ok" in proc.stdout
    assert "1/2 figures ok" in proc.stdout and "(failed: fig_b)" in proc.stdout


@pytest.mark.parametrize("args, message", [
    (["--bogus"], "unknown option '--bogus'"),
    (["--device"], "--device needs a value"),
    (["--device", "--dry-run"], "--device needs a value"),
    (["--out"], "--out needs a directory"),
])
def test_run_sh_refuses_bad_use_with_one_line_before_running_anything(fake_tree, args, message):
    proc, calls = _run_sh(fake_tree, *args)
    assert proc.returncode == 2 and calls == []
    assert proc.stderr.strip().splitlines() == [f"run.sh: {proc.stderr.split('run.sh: ')[1].strip()}"]
    assert message in proc.stderr


def test_run_sh_says_when_the_bundle_is_not_in_a_gclib_checkout(fake_tree):
    shutil.rmtree(fake_tree[0] / "gclib")
    proc, calls = _run_sh(fake_tree)
    assert proc.returncode == 2 and calls == [] and "no gclib checkout" in proc.stderr


def test_run_sh_help_shows_its_usage(fake_tree):
    proc, calls = _run_sh(fake_tree, "--help")
    assert proc.returncode == 0 and calls == [] and "--dry-run" in proc.stdout and "FIGURES" in proc.stdout


def test_the_rehearsal_runs_run_sh_without_pip_configuration_or_the_projects_variables(tmp_path, monkeypatch):
    for var, value in (("PIP_FIND_LINKS", "/opt/wheels"), ("GCLIB_FASHION_MNIST", "/x"),
                       ("JUPYTER_PATH", "/y"), ("PYTHONPATH", "/z"), ("VIRTUAL_ENV", str(ROOT / ".venv"))):
        monkeypatch.setenv(var, value)
    monkeypatch.setenv("PATH", f"{ROOT / '.venv' / 'bin'}:/usr/bin")
    env = gpu_rehearsal.run_env(tmp_path / "venv" / "bin" / "python", tmp_path / "home")
    assert not [k for k in env if k.startswith(("PIP_FIND", "GCLIB_", "JUPYTER_", "PYTHONPATH", "VIRTUAL_"))]
    assert env["PIP_CONFIG_FILE"] == os.devnull and env["HOME"] == str(tmp_path / "home")
    assert env["PATH"] == f"{tmp_path / 'venv' / 'bin'}:/usr/bin"


# ---------------------------------------------------------------- the committed-results format


def _result(folder: Path, figure="fig", *, dry_run=True, saves_table=True) -> Path:
    """A figure folder as `gclib run --dry-run` writes it."""
    folder.mkdir(parents=True)
    source = "save_table(runs, 'fig_runs')" if saves_table else "savefig(fig, 'fig')"
    cells = [{"cell_type": "code", "source": [source]}]
    (folder / f"{figure}.ipynb").write_text(json.dumps({"cells": cells}))
    (folder / f"{figure}.provenance.json").write_text(json.dumps({
        "figure": figure, "profile": "paper", "status": "success", "dry_run": dry_run, "threads": 1,
        "versions": {"torch": "2.11.0+cu130", "gclib": "0.2.0"}}))
    (folder / f"{figure}.scorecard.json").write_text(json.dumps({
        "figure": figure, "profile": "dry-run" if dry_run else "paper", "claims": [{"claim_id": "X.1"}]}))
    for name in (f"{figure}.png", f"{figure}.svg", f"{figure}_v2.png", f"{figure}_v2.svg",
                 f"{figure}_runs.csv", ".gclib.lock"):
        (folder / name).write_text("x")
    return folder


def test_the_format_check_accepts_a_dry_run_folder_and_a_committed_result(tmp_path):
    assert gpu_bundle.result_problems(_result(tmp_path / "fig"), "fig", dry_run=True) == []
    assert gpu_bundle.result_problems(_result(tmp_path / "real", dry_run=False), "fig") == []
    no_table = _result(tmp_path / "plain", saves_table=False)
    (no_table / "fig_runs.csv").unlink()
    assert gpu_bundle.result_problems(no_table, "fig", dry_run=True) == []
    committed = ROOT / "results" / "paper" / "gr_hypersphere"
    assert gpu_bundle.result_problems(committed, "gr_hypersphere") == []


@pytest.mark.parametrize("spoil, problem", [
    (lambda d: (d / "fig.scorecard.json").unlink(), "fig.scorecard.json missing"),
    (lambda d: (d / "fig.provenance.json").unlink(), "fig.provenance.json missing"),
    (lambda d: (d / "fig.ipynb").unlink(), "fig.ipynb missing"),
    (lambda d: [(d / n).unlink() for n in ("fig.png", "fig_v2.png")], "PNG and SVG"),
    (lambda d: [(d / n).unlink() for n in ("fig.svg", "fig_v2.svg")], "PNG and SVG"),
    (lambda d: (d / "fig_runs.csv").unlink(), "saves tables but no *.csv"),
    (lambda d: (d / "fig.scorecard.json").write_text('{"profile": "dry-run", "claims": []}'), "no claims"),
    (lambda d: (d / "fig.scorecard.json").write_text('{"profile": "paper", "claims": [1]}'), "not 'dry-run'"),
    (lambda d: (d / "fig.provenance.json").write_text(json.dumps({
        "profile": "paper", "status": "failed", "dry_run": True, "threads": 1,
        "versions": {"torch": "2", "gclib": "0"}})), "status 'failed'"),
    (lambda d: (d / "fig.provenance.json").write_text("{trunc"), "unreadable JSON"),
    (lambda d: (d / "runs.pkl").write_text("x"), "training pickle"),
])
def test_the_format_check_refuses_a_folder_missing_part_of_a_result(tmp_path, spoil, problem):
    folder = _result(tmp_path / "fig")
    spoil(folder)
    problems = gpu_bundle.result_problems(folder, "fig", dry_run=True)
    assert any(problem in p for p in problems), problems


def test_a_dry_run_is_not_a_result_and_a_missing_folder_is_said(tmp_path):
    problems = gpu_bundle.result_problems(_result(tmp_path / "fig"), "fig")  # checked as a real result
    assert any("dry_run True" in p for p in problems) and any("not 'paper'" in p for p in problems)
    assert gpu_bundle.result_problems(tmp_path / "none", "fig") == [f"{tmp_path / 'none'}: no such folder"]
