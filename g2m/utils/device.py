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


def flush_denormals() -> None:
    """Treat denormal floats as zero on the CPU (``torch.set_flush_denormal``).

    Weight decay drives the weights of always-zero input features into the denormal range, where CPU
    matrix products run several times slower (a-computer's MLP student: 85 vs 247 ms per epoch). Values
    below 1.2e-38 become 0, which changes no prediction. The setting is per thread and process-wide, so
    the library never sets it behind your back: the CLI calls this first thing (before torch's thread
    pool starts, so every thread has it), as do `--jobs` workers and the benchmark scripts. In your own
    program, call it once at start-up for the same speed.
    """
    torch.set_flush_denormal(True)
