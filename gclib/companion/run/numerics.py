"""Numeric environments a figure's kernel can be started in: the instruction set torch's own kernels use
(ATen's dispatch level), MKL's code path (its conditional numerical reproducibility modes), oneDNN's
instruction set, NumPy's dispatch, and the intra-op threads. Each picks other floating-point kernels, so a
chaotic training run (near or past the edge of stability) prints other last digits in each. [ours]

They stand in for the machines a user or CI brings: an AVX-512 Intel Xeon, an AVX2 AMD EPYC, a CPU without
either. ``tools/numeric_spread.py`` runs the smoke profile of every figure in each one that this CPU can
produce and records how far each saved table moves (``tests/reference/numerics.json``): the tolerances of
``tests/test_reference_tables.py`` come from that record, and nbval compares only the cells that printed
the same text in all of them. The tests pick one with ``GCLIB_NUMERIC_ENV`` (:func:`from_environ`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from gclib.companion.errors import ParameterError

__all__ = ["NumericEnvironment", "ENVIRONMENTS", "VARIABLES", "cpu_flags", "available", "get", "from_environ",
           "ENV_VAR"]

#: every variable an environment may set; applying one clears the others, so "native" means none is set
VARIABLES = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA",
             "NPY_DISABLE_CPU_FEATURES")
#: the environment variable the tests read to pick one (a name of :data:`ENVIRONMENTS`)
ENV_VAR = "GCLIB_NUMERIC_ENV"
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass(frozen=True)
class NumericEnvironment:
    """One numeric environment: ``variables`` set in a kernel's environment, ``threads`` intra-op threads,
    and the CPU flags it needs (``needs``: all of them in ``/proc/cpuinfo``)."""

    name: str
    what: str
    variables: dict = field(default_factory=dict)
    threads: int = 1
    needs: tuple = ()

    def apply(self, environ: dict | None = None) -> dict:
        """A copy of ``environ`` (default ``os.environ``) with this environment's variables and threads set
        and every other variable of :data:`VARIABLES` removed."""
        env = {k: v for k, v in (os.environ if environ is None else environ).items() if k not in VARIABLES}
        env.update(self.variables)
        env.update({var: str(self.threads) for var in _THREAD_VARS})
        return env


def _numpy_without_avx512() -> dict[str, str]:
    """``NPY_DISABLE_CPU_FEATURES`` naming this NumPy's AVX-512 dispatch targets (as it spells them: an
    unknown name is an error), or nothing where it has none."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__
    except ImportError:  # NumPy 1.x
        from numpy.core._multiarray_umath import __cpu_dispatch__
    wide = [f for f in __cpu_dispatch__ if "AVX512" in f or f == "X86_V4"]
    return {"NPY_DISABLE_CPU_FEATURES": " ".join(wide)} if wide else {}


ENVIRONMENTS = {e.name: e for e in (
    NumericEnvironment("native", "whatever this CPU picks: torch, MKL, oneDNN and NumPy at their best level"),
    NumericEnvironment("aten-default", "torch's own kernels without SIMD (ATEN_CPU_CAPABILITY=default)",
                       {"ATEN_CPU_CAPABILITY": "default"}),
    NumericEnvironment("aten-avx2", "torch's own kernels at AVX2, as on an AVX2-only CPU",
                       {"ATEN_CPU_CAPABILITY": "avx2"}, needs=("avx2",)),
    NumericEnvironment("aten-avx512", "torch's own kernels at AVX-512", {"ATEN_CPU_CAPABILITY": "avx512"},
                       needs=("avx512f",)),
    NumericEnvironment("mkl-compatible", "MKL's conditional-reproducibility mode COMPATIBLE (no AVX paths)",
                       {"MKL_CBWR": "COMPATIBLE"}),
    NumericEnvironment("mkl-avx2", "MKL's code path for AVX2 (MKL_CBWR=AVX2)", {"MKL_CBWR": "AVX2"},
                       needs=("avx2",)),
    NumericEnvironment("mkl-avx512", "MKL's code path for AVX-512 (MKL_CBWR=AVX512)", {"MKL_CBWR": "AVX512"},
                       needs=("avx512f",)),
    NumericEnvironment("onednn-avx2", "oneDNN held to AVX2 (ONEDNN_MAX_CPU_ISA=AVX2)",
                       {"ONEDNN_MAX_CPU_ISA": "AVX2"}, needs=("avx2",)),
    NumericEnvironment("avx2-everywhere", "torch, MKL, oneDNN and NumPy all held to AVX2, as on an AVX2 EPYC",
                       {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
                        "ONEDNN_MAX_CPU_ISA": "AVX2", **_numpy_without_avx512()}, needs=("avx2",)),
    NumericEnvironment("threads-2", "two intra-op threads per kernel (another order of reductions)",
                       threads=2),
)}


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags (``/proc/cpuinfo``'s ``flags`` line, or ``Features`` on Arm; ``cpuinfo``:
    its text); an empty set where there is none."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return set()
    line = next((ln for ln in cpuinfo.splitlines() if ln.startswith(("flags", "Features"))), "")
    return set(line.partition(":")[2].split())


def available(cpuinfo: str | None = None) -> list[NumericEnvironment]:
    """The environments this CPU can produce (those whose ``needs`` it has), in :data:`ENVIRONMENTS` order."""
    flags = cpu_flags(cpuinfo)
    return [e for e in ENVIRONMENTS.values() if set(e.needs) <= flags]


def get(name: str) -> NumericEnvironment:
    """The environment called ``name``; :class:`~gclib.companion.errors.ParameterError` listing the valid
    names otherwise."""
    if name not in ENVIRONMENTS:
        raise ParameterError(f"unknown numeric environment {name!r}; valid: {', '.join(ENVIRONMENTS)}")
    return ENVIRONMENTS[name]


def from_environ(default: str = "native", environ: dict | None = None) -> NumericEnvironment:
    """The environment named by ``GCLIB_NUMERIC_ENV`` (else ``default``), refused when this CPU cannot
    produce it."""
    env = get((os.environ if environ is None else environ).get(ENV_VAR) or default)
    missing = set(env.needs) - cpu_flags()
    if missing:
        raise ParameterError(f"numeric environment {env.name!r} needs CPU flags this CPU lacks: "
                             f"{', '.join(sorted(missing))}")
    return env
