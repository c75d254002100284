"""Device resolution: ``device="auto"`` means CUDA when present, else CPU."""
from __future__ import annotations

import sys

import torch

FALLBACK_NOTICE = 'gclib: device="auto": no CUDA device here, running on the CPU'
_WARNED: list[bool] = []


def _fallback_once() -> None:
    """Say once per process, in one line on stderr, that ``"auto"`` fell back to the CPU."""
    if not _WARNED:
        _WARNED.append(True)
        print(FALLBACK_NOTICE, file=sys.stderr, flush=True)


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Resolve ``"auto"`` (or ``None``) to ``cuda`` when available, else ``cpu`` — saying so once per
    process in one line on stderr (``FALLBACK_NOTICE``), so a GPU profile run on a laptop says where it runs.

    Args:
        device: ``"auto"``, ``None``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a ``torch.device``.
    Returns:
        a ``torch.device``.
    Raises:
        ValueError: the device string is malformed, or CUDA was requested and none is present.
    """
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        _fallback_once()
        return torch.device("cpu")
    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str):
        try:
            dev = torch.device(device)
        except RuntimeError as err:
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}") from err
    else:
        raise TypeError(f"device must be a string or torch.device, got {type(device).__name__}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available on this machine")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    return dev


def derive_generator(seed: int, *streams: int | str, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` seeded from ``seed`` and a stream label, so that each purpose (weights, data,
    probes, chunk k) has its own independent stream and adding draws in one stream never shifts another.

    The derived seed is a stable hash (not Python's salted ``hash``) of ``(seed, *streams)``.
    """
    import hashlib

    key = repr((int(seed),) + tuple(streams)).encode()
    derived = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") & ((1 << 63) - 1)
    g = torch.Generator(device=torch.device(device))
    g.manual_seed(derived)
    return g
