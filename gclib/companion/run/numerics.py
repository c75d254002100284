"""Numeric environments a kernel can be started in (instruction sets, MKL's code paths, threads). [ours]
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["REFERENCE_ISA", "reference_isa_env"]

REFERENCE_ISA = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
                 "ONEDNN_MAX_CPU_ISA": "AVX2"}


def reference_isa_env(cpuinfo: str | None = None) -> dict[str, str]:
    """:data:`REFERENCE_ISA` where this CPU has AVX2 (``/proc/cpuinfo`` flags, or ``cpuinfo`` text), else
    ``{}`` (another architecture: its outputs differ anyway, and ATen would refuse the value)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return {}
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines()
                  if line.startswith("flags")), [])
    if "avx2" not in flags:
        return {}
    env = dict(REFERENCE_ISA)
    try:  # NumPy's own runtime dispatch: its AVX-512 targets off (names as this NumPy spells them)
        from numpy._core._multiarray_umath import __cpu_dispatch__
    except ImportError:  # NumPy 1.x
        from numpy.core._multiarray_umath import __cpu_dispatch__
    wide = [f for f in __cpu_dispatch__ if "AVX512" in f or f == "X86_V4"]
    if wide:
        env["NPY_DISABLE_CPU_FEATURES"] = " ".join(wide)
    return env
