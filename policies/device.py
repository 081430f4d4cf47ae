"""``device="auto"``: CUDA when present, else CPU."""

from __future__ import annotations

import functools
from pathlib import Path

import torch

DEVICES = ("auto", "cpu", "cuda", "cuda:N")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Resolve ``auto`` to ``cuda`` when available, else ``cpu``; check explicit names."""
    if isinstance(device, torch.device):
        return device
    name = str(device).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} requested but CUDA is not available here; use 'auto' or 'cpu'")
        return torch.device(name)
    raise ValueError(f"unknown device {device!r}; accepted: {', '.join(DEVICES)}")


PRECISIONS = ("auto", "fp32", "bf16")


@functools.lru_cache(maxsize=1)
def _cpu_flags() -> frozenset[str]:
    """The CPU feature flags the kernel reports (Linux ``/proc/cpuinfo``); empty elsewhere."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def bf16_is_fast(device: torch.device) -> bool:
    """Whether bfloat16 matrix units make bf16 autocast faster than fp32 on ``device``.

    CUDA: bf16-capable GPUs (Ampere and newer). CPU: Intel AMX tiles (Sapphire Rapids and newer) or the
    AVX-512 BF16 dot-product instructions (``avx512_bf16``: Cooper Lake, AMD Zen 4 and newer), which oneDNN
    runs bf16 convolutions on. A D4 64 px BC step, ``step_cost()`` in ``scripts/bench_seil.py``: 107 vs
    438 ms fp32 on a 2-core AMX Xeon, 188 vs 340 ms on a 2-core Zen 4 EPYC. Elsewhere (plain AVX-512 or
    AVX2) oneDNN emulates bf16 and fp32 is the faster choice.
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        if not torch.backends.mkldnn.is_available():
            return False
        amx = getattr(torch.cpu, "_is_amx_tile_supported", None)  # private in torch 2.x: absent means unknown
        if amx is not None and amx():
            return True
        return bool({"avx512_bf16", "amx_bf16"} & _cpu_flags())
    return False


def check_precision(precision: str) -> str:
    """The normalised name of ``precision`` (one of :data:`PRECISIONS`), or a clear ``ValueError``."""
    name = str(precision).strip().lower()
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; accepted: {', '.join(PRECISIONS)}")
    return name


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` → ``bf16`` where :func:`bf16_is_fast`, else ``fp32``; check explicit names."""
    name = check_precision(precision)
    if name == "auto":
        return "bf16" if bf16_is_fast(device) else "fp32"
    return name


def autocast(device: torch.device, precision: str) -> torch.autocast:
    """Mixed-precision context for a resolved ``precision``: weights, optimiser state and the loss stay
    fp32; convolutions and matrix products run in bf16 when ``precision == "bf16"``."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
