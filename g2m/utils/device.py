"""Resolve the ``--device auto|cpu|cuda`` option."""

from __future__ import annotations

import torch

from g2m.errors import ConfigError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Return a ``torch.device``; ``auto`` picks CUDA when available, else CPU."""
    if isinstance(device, torch.device):
        return device
    name = str(device).lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"--device {device!r} was asked for but no CUDA device is available "
                "(torch was built without CUDA or no GPU is visible); use --device cpu or auto."
            )
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise ConfigError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N.")
