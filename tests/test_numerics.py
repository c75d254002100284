"""The numeric environments a kernel can be started in (gclib.companion.run.numerics), and that the kernels
the tests start run in the one chosen: nbval's through its kernelspec, the command line's through their
environment."""
import subprocess
import sys

import pytest

from gclib.companion.errors import ParameterError
from gclib.companion.run import numerics

AVX2 = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n"
AVX512 = AVX2.replace("fma", "fma avx512f avx512bw")
ARM = "processor\t: 0\nFeatures\t: fp asimd sve\n"


def test_which_environments_a_cpu_can_produce():
    names = lambda info: [e.name for e in numerics.available(info)]  # noqa: E731
    assert names(AVX512) == list(numerics.ENVIRONMENTS)
    assert "aten-avx512" not in names(AVX2)
    assert {"aten-avx2", "mkl-avx2", "avx2-everywhere"} <= set(names(AVX2))
    assert names(ARM) == ["native", "aten-default", "mkl-compatible", "threads-2"]
    assert numerics.cpu_flags(ARM) == {"fp", "asimd", "sve"}


def test_applying_an_environment_sets_its_variables_and_clears_the_others():
    base = {"PATH": "/bin", "MKL_CBWR": "AVX2", "ATEN_CPU_CAPABILITY": "avx512", "OMP_NUM_THREADS": "8"}
    env = numerics.get("aten-default").apply(base)
    assert env["ATEN_CPU_CAPABILITY"] == "default" and "MKL_CBWR" not in env and env["PATH"] == "/bin"
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "1"
    native = numerics.get("native").apply(base)
    assert not set(numerics.VARIABLES) & set(native)
    assert numerics.get("threads-2").apply({})["OMP_NUM_THREADS"] == "2"


def test_an_unknown_or_unavailable_environment_is_refused_in_one_line(monkeypatch):
    with pytest.raises(ParameterError, match="unknown numeric environment 'fast'; valid: native"):
        numerics.get("fast")
    monkeypatch.setattr(numerics, "cpu_flags", lambda cpuinfo=None: {"fp", "asimd"})  # an Arm CPU
    with pytest.raises(ParameterError, match="needs CPU flags this CPU lacks: avx2"):
        numerics.from_environ(environ={numerics.ENV_VAR: "aten-avx2"})
    assert numerics.from_environ(environ={}).name == "native"


def test_a_child_started_in_an_environment_runs_at_its_dispatch_level():
    flags = numerics.cpu_flags()
    want = {"aten-default": "DEFAULT"} | ({"aten-avx2": "AVX2"} if "avx2" in flags else {})
    code = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    for name, level in want.items():
        out = subprocess.run([sys.executable, "-c", code], env=numerics.get(name).apply(),
                             capture_output=True, text=True, check=True).stdout.strip()
        assert out == level, name


def test_a_kernel_from_the_tests_kernelspec_runs_in_its_environment(tmp_path, monkeypatch):
    from ci_support import write_kernelspec
    from jupyter_client.manager import start_new_kernel

    env = numerics.get("aten-default")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    name = write_kernelspec(tmp_path, env)
    km, kc = start_new_kernel(kernel_name=name)  # found on JUPYTER_PATH, as nbval finds it
    try:
        got = {}
        kc.execute_interactive("import os, torch; print(torch.backends.cpu.get_cpu_capability(), "
                               "os.environ['OMP_NUM_THREADS'])",
                               output_hook=lambda m: got.update(m["content"]) if m["msg_type"] == "stream"
                               else None, timeout=60)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert got["text"].split() == ["DEFAULT", "1"]
