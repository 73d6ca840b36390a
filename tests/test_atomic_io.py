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
