"""Atomic writers: a failed write leaves the old file intact and no temporary file behind."""

from __future__ import annotations

import pytest

from g2m.utils.io import _atomic, write_json_atomic


def _fail_midway(fh):
    fh.write(b'{"half": ')
    raise RuntimeError("disk full")


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "metrics.json"
    write_json_atomic(target, {"old": 1})
    before = target.read_bytes()
    with pytest.raises(RuntimeError, match="disk full"):
        _atomic(target, _fail_midway)
    assert target.read_bytes() == before  # never written in place
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # temp file removed


def test_failed_first_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        _atomic(tmp_path / "new.json", _fail_midway)
    assert list(tmp_path.iterdir()) == []


def test_writers_round_trip_into_new_nested_folders(tmp_path):
    import json

    import torch

    from g2m.utils.io import save_figure_atomic, save_torch_atomic, write_text_atomic

    obj = {"b": [1, 2.5], "a": "é"}
    path = write_json_atomic(tmp_path / "x" / "y" / "m.json", obj)  # parents created
    assert path.read_text() == json.dumps(obj, indent=2) + "\n"  # key order kept, 2-space indent, final newline
    write_text_atomic(tmp_path / "t" / "a.md", "héllo\n")
    assert (tmp_path / "t" / "a.md").read_bytes() == "héllo\n".encode()
    save_torch_atomic(tmp_path / "c" / "w.pt", {"w": torch.arange(3)})
    assert torch.equal(torch.load(tmp_path / "c" / "w.pt")["w"], torch.arange(3))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure()
    save_figure_atomic(tmp_path / "f" / "p.png", fig)
    plt.close(fig)
    assert (tmp_path / "f" / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_temporary_file_sits_beside_the_target(tmp_path, monkeypatch):
    """Same folder → same filesystem, so the final rename is atomic; hidden and named after the target."""
    import os

    seen = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (seen.append(src), real_replace(src, dst)))
    write_json_atomic(tmp_path / "metrics.json", {"a": 1})
    (src,) = seen
    assert os.path.dirname(src) == str(tmp_path)
    name = os.path.basename(src)
    assert name.startswith(".metrics.json.") and name.endswith(".tmp")


def test_figure_format_follows_the_suffix_and_options_reach_savefig(tmp_path):
    import struct

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from g2m.utils.io import save_figure_atomic

    fig = plt.figure(figsize=(2, 1))
    assert b"<svg" in save_figure_atomic(tmp_path / "p.svg", fig).read_bytes()[:400]
    assert save_figure_atomic(tmp_path / "noext", fig).read_bytes()[:4] == b"\x89PNG"  # no suffix: PNG

    def png_width(path):
        return struct.unpack(">I", path.read_bytes()[16:20])[0]

    assert png_width(save_figure_atomic(tmp_path / "a.png", fig, dpi=20)) == 40  # 2 inches × 20 dpi
    plt.close(fig)
