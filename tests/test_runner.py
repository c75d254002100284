"""gclib.companion.figures and the runner's cache key without executing notebooks: literal parsing, the
parameters cell, profile resolution and type checks, cache keys. Executions (papermill, Dask) are covered
through the command line in test_cli.py and test_robustness.py."""

import json
import re
import shutil
from pathlib import Path

import pytest

from gclib.companion import figures, run
from gclib.companion.errors import ParameterError
from gclib.companion.run import launch, parallel

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def fixture_notebooks(monkeypatch):
    monkeypatch.setenv("GCLIB_NOTEBOOKS_DIR", str(FIXTURES))


@pytest.mark.parametrize(
    "text, value",
    [
        ("3", 3),
        ("-2.5", -2.5),
        ("1e-3", 1e-3),
        ("True", True),
        ("true", True),
        ("false", False),
        ("None", None),
        ("[1, 2]", [1, 2]),
        ("(1,)", (1,)),
        ("{'a': 1}", {"a": 1}),
        ("'quoted'", "quoted"),
        ("relu", "relu"),
        ("cifar10_standin", "cifar10_standin"),
        ("__import__('os')", "__import__('os')"),
        ("/tmp/x_{n}", "/tmp/x_{n}"),
        ("", ""),
    ],
)
def test_parse_literal_never_evaluates(text, value):
    parsed = figures.parse_literal(text)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize(
    "text, values",
    [
        ("1,2,3", [1, 2, 3]),
        ("0.1, 1", [0.1, 1]),
        ("relu,tanh", ["relu", "tanh"]),
        ("true,False", [True, False]),
        ("[1,2],[3]", [[1, 2], [3]]),
        ("'a,b',c", ["a,b", "c"]),
        ("{'x': 1, 'y': 2},None", [{"x": 1, "y": 2}, None]),
        ("7", [7]),
    ],
)
def test_parse_values_splits_top_level_commas(text, values):
    assert figures.parse_values(text) == values


def test_parse_values_rejects_empty_item():
    with pytest.raises(ParameterError, match="empty value"):
        figures.parse_values("1,,2")


def test_list_figures_reads_profiles_yaml():
    (fig,) = figures.list_figures()
    assert fig.id == "fx_demo" and fig.paper == "dherin2022" and fig.family == "FX"
    assert fig.est_seconds == {"smoke": 3, "cpu": 90, "paper": 5400}
    assert fig.notebook == FIXTURES / "fx_demo.ipynb"


def test_figure_params_from_parameters_cell():
    params = figures.figure_params("fx_demo")
    assert list(params)[:5] == ["profile", "seed", "device", "n", "scale"]
    assert params["n"] == (3, int) and params["scale"] == (1.0, float) and params["tag"] == (None, type(None))
    assert figures.notebook_parameters("fx_demo")["n"].help == "number of terms"


def test_resolve_parameters_layers_profile_then_overrides():
    smoke = figures.resolve_parameters("fx_demo")
    assert smoke["n"] == 3 and smoke["profile"] == "smoke"
    cpu = figures.resolve_parameters("fx_demo", "cpu", {"scale": 2, "widths": (1, 2), "tag": {"any": 1}})
    assert cpu["profile"] == "cpu" and cpu["n"] == 5  # from profiles.yaml
    assert cpu["scale"] == 2.0 and type(cpu["scale"]) is float  # int accepted where float expected
    assert cpu["widths"] == [1, 2]  # tuple given, list default: converted
    assert cpu["tag"] == {"any": 1}  # None default accepts anything
    assert figures.resolve_parameters("fx_demo", "smoke", None, "auto")["device"] == "auto"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(figure="fx_nope"), r"unknown figure 'fx_nope'; valid: fx_demo"),
        (dict(profile="big"), r"unknown profile 'big'; valid: smoke, cpu, paper"),
        (dict(overrides={"nn": 1}), r"unknown parameter 'nn' for fx_demo; valid: profile, seed, device, n,"),
        (dict(overrides={"n": "ten"}), r"parameter 'n' of fx_demo expects int \(default 3\), got str 'ten'"),
        (dict(overrides={"n": 2.5}), r"expects int .* got float 2.5"),
        (dict(overrides={"n": True}), r"expects int .* got bool True"),
        (dict(overrides={"fail": 1}), r"expects bool .* got int 1"),
        (dict(overrides={"widths": 4}), r"expects list .* got int 4"),
        (dict(device="gpu"), r"device must be auto, cpu or cuda\[:N\], got 'gpu'"),
    ],
)
def test_resolve_parameters_rejects_bad_input(kwargs, message):
    figure = kwargs.pop("figure", "fx_demo")
    with pytest.raises(ParameterError, match=message):
        figures.resolve_parameters(figure, **kwargs)


def test_cuda_requested_without_cuda_is_bad_input(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(
        ParameterError, match=r"device 'cuda' requested but torch.cuda.is_available\(\) is False"
    ):
        figures.resolve_parameters("fx_demo", device="cuda")


def _copy_fixture(tmp_path, profiles=None):
    shutil.copy(FIXTURES / "fx_demo.ipynb", tmp_path)
    shutil.copy(FIXTURES / "profiles.yaml", tmp_path)
    if profiles is not None:
        (tmp_path / "profiles.yaml").write_text(profiles)
    return tmp_path


def test_profiles_yaml_values_are_checked(tmp_path):
    _copy_fixture(tmp_path, "fx_demo:\n  profiles:\n    cpu: {scale: 1e-3}\n")
    # PyYAML reads 1e-3 as the string '1e-3'; a non-string default parses it as a literal
    assert figures.resolve_parameters("fx_demo", "cpu", notebooks_dir=tmp_path)["scale"] == 1e-3
    _copy_fixture(tmp_path, "fx_demo:\n  profiles:\n    cpu: {n: many}\n")
    with pytest.raises(
        ParameterError, match=r"profiles.yaml\[fx_demo\]\[cpu\]: parameter 'n' .* got str 'many'"
    ):
        figures.resolve_parameters("fx_demo", "cpu", notebooks_dir=tmp_path)
    with pytest.raises(ParameterError, match="no 'paper' profile for fx_demo"):
        figures.resolve_parameters("fx_demo", "paper", notebooks_dir=tmp_path)


def test_parameters_cell_must_hold_literals(tmp_path):
    _copy_fixture(tmp_path)
    nb = json.loads((tmp_path / "fx_demo.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    cell["source"] = "n = len([1, 2])\n"
    (tmp_path / "fx_demo.ipynb").write_text(json.dumps(nb))
    with pytest.raises(ParameterError, match=r"parameter 'n' is not a literal"):
        figures.figure_params("fx_demo", notebooks_dir=tmp_path)


def test_cache_key_tracks_parameters_profile_and_cell_sources(tmp_path):
    _copy_fixture(tmp_path)
    params = figures.resolve_parameters("fx_demo", notebooks_dir=tmp_path)
    key = run.cache_key("fx_demo", params, notebooks_dir=tmp_path)
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert run.cache_key("fx_demo", dict(params), notebooks_dir=tmp_path) == key
    assert run.cache_key("fx_demo", {**params, "n": 4}, notebooks_dir=tmp_path) != key
    assert run.cache_key("fx_demo", params, profile="cpu", notebooks_dir=tmp_path) != key
    path = tmp_path / "fx_demo.ipynb"
    nb = json.loads(path.read_text())
    nb["metadata"]["papermill"] = {"anything": 1}  # metadata and outputs are not part of the key
    nb["cells"][-1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "x\n"}]
    path.write_text(json.dumps(nb))
    assert run.cache_key("fx_demo", params, notebooks_dir=tmp_path) == key
    nb["cells"][-1]["source"] = "print(card.summary(digits=3))"
    path.write_text(json.dumps(nb))
    assert run.cache_key("fx_demo", params, notebooks_dir=tmp_path) != key


def test_sweep_rejects_bad_grid_before_starting_dask(tmp_path):
    with pytest.raises(ParameterError, match="non-empty list"):
        parallel.sweep("fx_demo", {"n": []}, out_dir=tmp_path)
    with pytest.raises(ParameterError, match="both swept and fixed: n"):
        parallel.sweep("fx_demo", {"n": [1]}, overrides={"n": 2}, out_dir=tmp_path)
    with pytest.raises(ParameterError, match="expects int"):
        parallel.sweep("fx_demo", {"n": [1, "x"]}, out_dir=tmp_path)
    assert not list(tmp_path.rglob("*.ipynb"))


@pytest.mark.notebooks
def test_run_all_jobs_2_prints_no_kernel_error(smoke_cli):
    """Issue 19 (4): `gclib run all --profile smoke --jobs 2` printed "[IPKernelApp] ERROR | KeyboardInterrupt
    caught in kernel." while every figure succeeded: jupyter_client's shutdown_kernel() SIGINTs the kernel
    right after papermill's final kernel_info reply, sometimes before the kernel has left that handler (a
    race, hit by gc_double_descent, gr_init, gc_dirichlet_1d ... on a loaded machine). All 15 real figures,
    two at a time on Dask (the session's smoke run, tests/conftest.py smoke_cli), to give the race every
    chance it had."""
    _, proc = smoke_cli
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "15/15 figures ok" in proc.stdout
    lines = proc.stderr.replace("\r", "\n").splitlines()
    bad = [line for line in lines if "ERROR" in line or "KeyboardInterrupt" in line]
    assert not bad, "\n".join(bad)


@pytest.mark.notebooks
def test_kernel_shutdown_sends_no_interrupt():
    """The deterministic half of the test above: the runner's kernel manager shuts an idle kernel down
    without the SIGINT jupyter_client sends first, while an explicit interrupt_kernel() still sends one."""
    import asyncio
    import signal

    async def main():
        km = launch.env_kernel_manager({})(kernel_name=launch.KERNEL_NAME)
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            sent = []
            send = km.provisioner.send_signal

            async def spy(signum):
                sent.append(signum)
                await send(signum)

            km.provisioner.send_signal = spy
            await km.interrupt_kernel()
            assert sent == [signal.SIGINT]
            await km.shutdown_kernel()
            assert sent == [signal.SIGINT] and not await km.is_alive()
        finally:
            kc.stop_channels()
            if await km.is_alive():
                await km.shutdown_kernel(now=True)

    asyncio.run(main())


def test_a_warm_kernel_resets_between_runs_and_restarts_for_another_environment(tmp_path, monkeypatch):
    """A :class:`~gclib.companion.run.WarmKernel` resets what a run defined, follows this process's
    environment, and starts a new kernel for other threads or another numeric environment. (That a warm run
    saves the tables of a fresh one: ``test_printed_outputs_do_not_depend_on_cores_or_jobs`` in
    test_robustness.py, gc_l2 of the session's smoke run, after other figures in its kernel, against a fresh
    kernel's.)"""
    monkeypatch.setenv("GCLIB_NOTEBOOKS_DIR", str(Path(__file__).resolve().parents[1] / "notebooks"))
    with run.WarmKernel() as kernel:
        job = run.prepare("gr_width", "smoke", None, None, tmp_path / "x", None)
        kernel.prepare(launch.kernel_env(job), tmp_path)
        first_kernel = kernel.km
        kernel._execute("card = 1\ndef check_parameters(): pass")  # names a run defines
        kernel.prepare(launch.kernel_env(job), tmp_path)
        kernel._execute("assert 'card' not in dir() and 'check_parameters' not in dir()")  # reset
        assert kernel.km is first_kernel and kernel.runs == 2
        # this process's environment as a fresh kernel would get it (a test's monkeypatched variable, say)
        monkeypatch.setenv("GCLIB_WARM_PROBE", "set")
        kernel.prepare(launch.kernel_env(job), tmp_path)
        kernel._execute("import os; assert os.environ['GCLIB_WARM_PROBE'] == 'set'")
        monkeypatch.delenv("GCLIB_WARM_PROBE")
        kernel.prepare(launch.kernel_env(job), tmp_path)
        kernel._execute("import os; assert 'GCLIB_WARM_PROBE' not in os.environ")
        assert kernel.km is first_kernel and kernel.runs == 4
        kernel.prepare({**launch.kernel_env(job), **{v: "2" for v in run.job.THREAD_VARS}}, tmp_path)
        assert kernel.km is not first_kernel and kernel.runs == 1  # other threads: a new kernel
        second_kernel = kernel.km
        monkeypatch.setenv("ATEN_CPU_CAPABILITY", "default")  # read when torch is imported: a new kernel
        kernel.prepare({**launch.kernel_env(job), **{v: "2" for v in run.job.THREAD_VARS}}, tmp_path)
        assert kernel.km is not second_kernel and kernel.runs == 1
    assert kernel.km is None
