"""Atomic writers: a failed write leaves the old file intact and no temporary file behind."""

from __future__ import annotations

import pytest
import torch

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


def test_a_failed_write_is_one_clear_error_and_keeps_the_previous_file(tmp_path):
    import errno

    from g2m.errors import OutputError
    from g2m.utils.io import _atomic, write_text_atomic

    path = write_text_atomic(tmp_path / "metrics.json", "good")

    def full_disk(fh):
        fh.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputError, match="cannot write .*metrics.json: No space left on device; free some space"):
        _atomic(path, full_disk)
    assert path.read_text() == "good" and [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temp file

    def torch_full_disk(fh):  # what torch.save raises when its writer fails
        raise RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file")

    with pytest.raises(OutputError, match="is the disk full"):
        _atomic(path, torch_full_disk)
    assert path.read_text() == "good"
    with pytest.raises(ValueError):  # anything else is not g2m's to explain
        _atomic(path, lambda fh: (_ for _ in ()).throw(ValueError("a bug")))


def test_links_folders_and_files_in_the_way_are_refused(tmp_path):
    from g2m.errors import OutputError
    from g2m.utils.io import refuse_links, write_text_atomic

    (tmp_path / "real.txt").write_text("outside")
    (tmp_path / "link.txt").symlink_to(tmp_path / "real.txt")
    with pytest.raises(OutputError, match="link.txt is a symbolic link; g2m never writes through links"):
        write_text_atomic(tmp_path / "link.txt", "x")
    assert (tmp_path / "real.txt").read_text() == "outside"
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(OutputError, match="folder.csv is a folder; pass a file name"):
        write_text_atomic(tmp_path / "folder.csv", "x")
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match="cannot create .*a file is where a folder should be"):
        write_text_atomic(tmp_path / "file" / "inner.json", "x")
    run = tmp_path / "run"
    (run / "checkpoints" / "deep").mkdir(parents=True)
    refuse_links(run)  # no link: nothing to say
    (run / "checkpoints" / "deep" / "x.pt").symlink_to(tmp_path / "real.txt")
    with pytest.raises(OutputError, match="deep/x.pt is a symbolic link inside the run folder"):
        refuse_links(run, ("checkpoints",))
    refuse_links(run, ("seeds",))  # only the named entries are looked at


def test_the_cli_prints_an_os_error_as_one_line(tmp_path, monkeypatch, capsys):
    import errno
    import sys

    import g2m.cli as cli

    def boom():
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "x"))

    monkeypatch.setattr(cli, "app", boom)
    monkeypatch.setattr(sys, "argv", ["g2m"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "error: cannot read or write" in err and "Permission denied; check the permissions" in err
    assert "Traceback" not in err


def test_the_exact_refusals_of_the_writers(tmp_path):
    from g2m.errors import OutputError
    from g2m.utils.io import _atomic, refuse_links, write_text_atomic

    (tmp_path / "real.txt").write_text("x")
    (tmp_path / "link.txt").symlink_to(tmp_path / "real.txt")
    with pytest.raises(OutputError) as info:
        write_text_atomic(tmp_path / "link.txt", "y")
    assert str(info.value) == (f"{tmp_path / 'link.txt'} is a symbolic link; g2m never writes through links: "
                               "remove it, or choose another output.")

    def torch_full_disk(fh):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed\nsecond line")

    with pytest.raises(OutputError) as info:
        _atomic(tmp_path / "m.pt", torch_full_disk)
    assert str(info.value) == (f"cannot write {tmp_path / 'm.pt'}: the write failed ([enforce fail at "
                               "inline_container.cc:672] . PytorchStreamWriter failed); is the disk full? Free some "
                               "space or choose another output folder.")
    with pytest.raises(OutputError) as info:
        refuse_links(tmp_path)  # names=None: everything in the folder
    assert str(info.value) == (f"{tmp_path / 'link.txt'} is a symbolic link inside the run folder; g2m never writes or "
                               "deletes through links: remove it (or choose another output folder).")


def test_refuse_links_looks_at_every_named_entry_and_nothing_else(tmp_path, monkeypatch):
    from g2m.errors import OutputError
    from g2m.utils.io import refuse_links

    refuse_links(tmp_path / "missing")  # a folder not made yet holds no link
    run, elsewhere = tmp_path / "run", tmp_path / "elsewhere"
    (run / "b" / "deep").mkdir(parents=True)
    (run / "a.json").write_text("{}")  # a file first: the entries after it are still looked at
    (run / "b" / "deep" / "x").symlink_to(tmp_path)
    with pytest.raises(OutputError, match="b/deep/x is a symbolic link"):
        refuse_links(run, ("a.json", "b"))
    elsewhere.mkdir()
    (elsewhere / "l").symlink_to(tmp_path)
    monkeypatch.chdir(elsewhere)  # the folder looked at is the one given, never the current one
    (run / "b" / "deep" / "x").unlink()
    refuse_links(run)


def test_files_g2m_did_not_write_load_as_tensors_only(tmp_path):
    import pickle

    import torch

    from g2m.utils.io import load_tensors, write_bytes_atomic

    assert write_bytes_atomic(tmp_path / "b.bin", b"abc").read_bytes() == b"abc"
    torch.save({"w": torch.ones(2)}, tmp_path / "ok.pt")
    assert torch.equal(load_tensors(tmp_path / "ok.pt")["w"], torch.ones(2))

    class Payload:
        def __reduce__(self):
            return (print, ("ran",))

    torch.save({"w": Payload()}, tmp_path / "code.pt", pickle_module=pickle)
    with pytest.raises(pickle.UnpicklingError):
        load_tensors(tmp_path / "code.pt")
    bad = torch.sparse_coo_tensor(torch.tensor([[9], [0]]), torch.ones(1), (3, 3), check_invariants=False)
    torch.save(bad, tmp_path / "sparse.pt")
    with pytest.raises(RuntimeError, match="size is inconsistent with indices"):
        load_tensors(tmp_path / "sparse.pt")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_tensors_saved_on_a_gpu_load_on_the_cpu(tmp_path):
    from g2m.utils.io import load_tensors

    torch.save({"w": torch.arange(3.0, device="cuda")}, tmp_path / "gpu.pt")
    got = load_tensors(tmp_path / "gpu.pt")["w"]
    assert got.device.type == "cpu" and torch.equal(got, torch.arange(3.0))


def test_file_sha256_is_the_sha256_of_the_bytes_in_blocks(tmp_path, monkeypatch):
    import hashlib

    from g2m.utils.io import file_sha256

    data = bytes(range(256)) * 9000  # more than one 1 MiB block
    (tmp_path / "f.bin").write_bytes(data)
    assert file_sha256(tmp_path / "f.bin") == hashlib.sha256(data).hexdigest()
    (tmp_path / "empty").write_bytes(b"")
    assert file_sha256(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()
