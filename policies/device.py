"""``device="auto"``: CUDA when present, else CPU."""

from __future__ import annotations

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
