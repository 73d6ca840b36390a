"""Small helpers shared across g2m: atomic file output, devices, seeds."""

from g2m.utils.io import save_figure_atomic, save_torch_atomic, write_json_atomic, write_text_atomic
from g2m.utils.device import flush_denormals, resolve_device
from g2m.utils.seeds import parse_seeds

__all__ = ["write_json_atomic", "write_text_atomic", "save_torch_atomic", "save_figure_atomic", "resolve_device", "flush_denormals", "parse_seeds"]
