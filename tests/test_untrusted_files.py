"""Files a user hands to g2m are never unpickled: a malicious file is refused, its code never runs."""

from __future__ import annotations

import os
import pickle
from typing import Tuple

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from typer.testing import CliRunner

from g2m.cli import app
from g2m.datasets.custom import from_files
from g2m.datasets.node import load_npz_graph
from g2m.errors import ConfigError, DatasetError
from g2m.export import quiet_deprecations
from g2m.predict import load_student


class _Payload:
    """Unpickling this object creates ``marker``: proof that loading ran code from the file."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def _valid_npz_arrays() -> dict[str, np.ndarray]:
    adj = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=np.float32))
    attr = sp.csr_matrix(np.eye(3, dtype=np.float32))
    return {"adj_data": adj.data, "adj_indices": adj.indices, "adj_indptr": adj.indptr, "adj_shape": np.array(adj.shape),
            "attr_data": attr.data, "attr_indices": attr.indices, "attr_indptr": attr.indptr,
            "attr_shape": np.array(attr.shape), "labels": np.array([0, 1, 0])}


def test_plain_npz_loads(tmp_path):
    path = tmp_path / "g.npz"
    np.savez(path, **_valid_npz_arrays())
    ds = load_npz_graph(path, "g")
    assert ds.num_nodes == 3 and ds.num_classes == 2


def test_npz_with_pickled_object_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "code-ran"
    arrays = _valid_npz_arrays()
    labels = np.empty(3, dtype=object)
    labels[:] = [_Payload(str(marker)), 1, 0]
    arrays["labels"] = labels
    path = tmp_path / "evil.npz"
    np.savez(path, **arrays)  # numpy pickles object arrays when saving
    with pytest.raises(DatasetError, match="pickled Python objects"):
        load_npz_graph(path, "evil")
    assert not marker.exists()


def test_npy_with_pickled_object_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "code-ran"
    folder = tmp_path / "graph"
    folder.mkdir()
    np.savetxt(folder / "edges.txt", np.array([[0, 1], [1, 2]]), fmt="%d")
    np.savetxt(folder / "labels.txt", np.array([0, 1, 0]), fmt="%d")
    features = np.empty(3, dtype=object)
    features[:] = [_Payload(str(marker)), 1.0, 0.0]
    np.save(folder / "features.npy", features, allow_pickle=True)
    with pytest.raises(DatasetError, match="cannot read"):
        from_files(folder)
    assert not marker.exists()


def test_truncated_npz_is_a_clear_error(tmp_path):
    path = tmp_path / "g.npz"
    np.savez(path, **_valid_npz_arrays())
    cut = tmp_path / "cut.npz"
    cut.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DatasetError, match="cannot read"):
        load_npz_graph(cut, "cut")


def test_payload_would_run_if_unpickled(tmp_path):
    """The payload is live: plain unpickling does create the marker (so the tests above can fail)."""
    marker = tmp_path / "code-ran"
    pickle.loads(pickle.dumps(_Payload(str(marker))))
    assert marker.exists()


def test_planetoid_pickle_with_code_is_refused_and_never_run(tmp_path, monkeypatch):
    """Planetoid's raw files are pickles PyG would unpickle: a crafted one is refused first."""
    import shutil

    from g2m import load_dataset
    from g2m.datasets.roots import BUNDLED_ROOT

    raw = tmp_path / "root" / "Planetoid" / "Cora" / "raw"
    shutil.copytree(BUNDLED_ROOT / "Planetoid" / "Cora" / "raw", raw)
    marker = tmp_path / "code-ran"
    (raw / "ind.cora.x").write_bytes(pickle.dumps(_Payload(str(marker))))
    monkeypatch.setenv("G2M_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DatasetError, match="refuses to load it"):
        load_dataset("cora-planetoid", root=tmp_path / "root")
    assert not marker.exists()


def test_original_planetoid_files_pass_the_check():
    from g2m.datasets.node import check_planetoid_raw
    from g2m.datasets.roots import BUNDLED_ROOT

    check_planetoid_raw(BUNDLED_ROOT / "Planetoid" / "Cora" / "raw")  # no error


class _TorchScriptPayload(torch.nn.Module):
    """A TorchScript module whose code writes into ``marker`` when loaded (``__setstate__``) and when called."""

    def __init__(self, marker: str):
        super().__init__()
        self.marker = marker
        self.armed = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hit = torch.from_file(self.marker, shared=True, size=8, dtype=torch.uint8).fill_(70)  # "F"
        return x[:, :2] + hit.sum() * 0

    @torch.jit.export
    def __getstate__(self) -> Tuple[str, bool, bool]:
        return (self.marker, self.armed, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[str, bool, bool]) -> None:
        self.marker, self.armed, self.training = state
        if self.armed:  # "L": written while torch.jit.load runs
            self.armed = bool(torch.from_file(self.marker, shared=True, size=8, dtype=torch.uint8).fill_(76).sum() > 0)


@pytest.fixture
def torchscript_payload(tmp_path):
    marker = tmp_path / "marker.bin"
    marker.write_bytes(bytes(8))
    with quiet_deprecations():
        module = torch.jit.script(_TorchScriptPayload(str(marker)))
        module.armed = True
        module.save(str(tmp_path / "student.pt"))
    return tmp_path / "student.pt", marker


def test_torchscript_is_refused_without_opt_in_and_its_code_never_runs(torchscript_payload, tmp_path, monkeypatch):
    path, marker = torchscript_payload
    calls = []
    monkeypatch.setattr(torch.jit, "load", lambda *a, **k: calls.append(a))
    with pytest.raises(ConfigError, match="is a TorchScript file: loading it runs the code it holds.*--trust-torchscript"):
        load_student(path)
    np.save(tmp_path / "x.npy", np.zeros((3, 4), dtype=np.float32))
    result = CliRunner().invoke(app, ["predict", str(path), "--features", str(tmp_path / "x.npy")])
    assert isinstance(result.exception, ConfigError) and "--trust-torchscript" in str(result.exception)
    assert calls == [] and marker.read_bytes() == bytes(8)
    # a misleading name does not change what is loaded: the same archive called .onnx is not run either
    disguised = tmp_path / "student.onnx"
    disguised.write_bytes(path.read_bytes())
    with pytest.raises(ConfigError, match="cannot read .* as an ONNX model"):
        load_student(disguised)
    assert calls == [] and marker.read_bytes() == bytes(8)


def test_torchscript_payload_runs_only_with_the_opt_in(torchscript_payload, tmp_path):
    """The payload is real: with --trust-torchscript it runs at load and at predict (so the test above can fail)."""
    path, marker = torchscript_payload
    np.save(tmp_path / "x.npy", np.zeros((3, 4), dtype=np.float32))
    with quiet_deprecations():
        student = load_student(path, trust_torchscript=True)
        assert marker.read_bytes() == b"L" * 8
        assert student.predict(np.zeros((3, 4), dtype=np.float32)).shape == (3,)
    assert marker.read_bytes() == b"F" * 8
    with pytest.raises(ConfigError, match="loads one TorchScript file"):
        load_student(tmp_path, trust_torchscript=True)


def test_small_files_that_declare_huge_sizes_are_refused_before_allocating(tmp_path):
    """A checkpoint declaring a 2e7-wide input, a 2 KB sparse features file declaring a million rows, a sparse
    tensor whose indices lie outside its shape: each refused with the reason, nothing large allocated."""
    import torch

    import g2m
    from g2m.checkpoints import load_model, save_checkpoint
    from g2m.errors import ConfigError
    from g2m.models import StudentMLP
    from g2m.predict import read_features

    cora = g2m.load_dataset("cora")
    path = save_checkpoint(tmp_path / "s.pt", StudentMLP(cora.num_features, 8, cora.num_classes), "student", "glnn",
                           {"hidden_channels": 8}, cora, 0, "tran")
    ckpt = torch.load(path, weights_only=True)
    ckpt["in_channels"] = 20_000_000
    torch.save(ckpt, tmp_path / "wide.pt")
    with pytest.raises(ConfigError, match=r"the recorded sizes make lins.0.weight \(8, 20000000\), the file holds "
                                          r"lins.0.weight \(8, 1433\)"):
        load_model(tmp_path / "wide.pt")
    index, value = torch.tensor([[0], [0]]), torch.tensor([1.0])
    torch.save(torch.sparse_coo_tensor(index, value, (1_000_000, 1433)), tmp_path / "huge.pt")
    assert (tmp_path / "huge.pt").stat().st_size < 4096
    with pytest.raises(ConfigError, match=r"shape \[1000000, 1433\]: 5.3 GiB once dense, from a file of \d+ bytes"):
        read_features(tmp_path / "huge.pt")
    torch.save(torch.sparse_coo_tensor(index, value, (100, 1433)), tmp_path / "small.pt")
    assert read_features(tmp_path / "small.pt").shape == (100, 1433)  # a plausible sparse file is read
    bad = torch.sparse_coo_tensor(torch.tensor([[5000], [0]]), value, (10, 1433), check_invariants=False)
    torch.save(bad, tmp_path / "outside.pt")
    with pytest.raises(ConfigError, match="size is inconsistent with indices"):
        read_features(tmp_path / "outside.pt")
    from g2m.teacher_outputs import TeacherOutputs

    torch.save({"logits": bad}, tmp_path / "outputs.pt")
    with pytest.raises(ConfigError, match="size is inconsistent with indices"):
        TeacherOutputs.load(tmp_path / "outputs.pt")
