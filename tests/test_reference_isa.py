"""The committed smoke outputs (nbval) are computed at one instruction set, AVX2 on x86-64
(gclib.companion.runner.REFERENCE_ISA): tests/conftest.py sets it for every kernel the tests start and
tools/refresh_notebook.py for the outputs it writes. Without it an AVX-512 machine and an AVX2 machine print
different digits for gc_learning_rate and gc_batch_size (measured 2026-12-04)."""
import os
import subprocess
import sys

import pytest

from gclib.companion.run.numerics import REFERENCE_ISA, reference_isa_env

AVX2_CPU = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n"


def test_an_avx2_cpu_gets_the_reference_isa_and_numpy_without_its_avx512_targets():
    env = reference_isa_env(AVX2_CPU)
    assert {k: env[k] for k in REFERENCE_ISA} == REFERENCE_ISA
    assert REFERENCE_ISA["ATEN_CPU_CAPABILITY"] == "avx2"
    disabled = env.get("NPY_DISABLE_CPU_FEATURES", "").split()
    assert disabled and all("AVX512" in f or f == "X86_V4" for f in disabled)


def test_another_cpu_gets_nothing():
    assert reference_isa_env("processor\t: 0\nflags\t\t: fpu sse2 avx\n") == {}  # no AVX2
    assert reference_isa_env("processor\t: 0\nFeatures\t: fp asimd sve\n") == {}  # aarch64


@pytest.mark.skipif(not reference_isa_env(), reason="not an x86-64 CPU with AVX2: no reference ISA to pin")
def test_kernels_started_by_the_tests_run_at_the_reference_isa():
    # tests/conftest.py put the pin in this process's environment; a child (every kernel) inherits it
    for key, value in reference_isa_env().items():
        assert os.environ.get(key) == value, key
    code = ("import torch, numpy\n"
            "from numpy._core._multiarray_umath import __cpu_features__ as f\n"
            "cap = torch.backends.cpu.get_cpu_capability()\n"
            "print(cap, f.get('X86_V4', False), f.get('AVX512_ICL', False))")
    out = subprocess.run([sys.executable, "-W", "error::ImportWarning", "-c", code], capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["AVX2", "False", "False"]
