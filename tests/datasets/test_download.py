"""Opt-in downloads: off by default, fetched into the data root, verified against known checksums.

No test touches the network: the CPF source URL is pointed at a local ``file://`` copy.
"""

from __future__ import annotations

import pytest

from g2m import load_dataset
from g2m.datasets import download as dl
from g2m.datasets.roots import BUNDLED_ROOT
from g2m.errors import DatasetError
from g2m.utils.io import file_sha256


@pytest.fixture
def local_cpf(monkeypatch, tmp_path):
    """CPF's URL template pointed at a folder of local files; returns that folder."""
    src = tmp_path / "mirror"
    src.mkdir()
    monkeypatch.setattr(dl, "CPF_URL", src.as_uri() + "/{name}.npz")
    monkeypatch.delenv("G2M_DATA_ROOT", raising=False)
    monkeypatch.setenv("G2M_CACHE_DIR", str(tmp_path / "cache"))
    return src


def test_without_download_the_error_names_the_flag(tmp_path):
    with pytest.raises(DatasetError, match="--download"):
        load_dataset("citeseer", root=tmp_path / "empty")


def test_download_fetches_into_root_and_verifies(local_cpf, tmp_path):
    (local_cpf / "cora.npz").write_bytes((BUNDLED_ROOT / "CPF" / "cora.npz").read_bytes())
    root = tmp_path / "root"
    ds = load_dataset("cora", root=root, download=True)
    assert (root / "CPF" / "cora.npz").exists()
    assert ds.num_nodes == 2485
    assert file_sha256(root / "CPF" / "cora.npz") == dl.known_checksums()["CPF/cora.npz"]
    assert not list((root / "CPF").glob(".*part"))  # no temporary file left behind


def test_checksum_mismatch_deletes_the_file(local_cpf, tmp_path):
    (local_cpf / "cora.npz").write_bytes((BUNDLED_ROOT / "CPF" / "cora.npz").read_bytes() + b"tampered")
    root = tmp_path / "root"
    with pytest.raises(DatasetError, match="expected"):
        load_dataset("cora", root=root, download=True)
    assert not (root / "CPF" / "cora.npz").exists()


def test_failed_fetch_is_a_clear_error_and_leaves_nothing(local_cpf, tmp_path):
    root = tmp_path / "root"  # the mirror has no citeseer.npz: the fetch fails
    with pytest.raises(DatasetError, match="cannot download"):
        load_dataset("citeseer", root=root, download=True)
    assert not (root / "CPF").exists() or not any((root / "CPF").iterdir())


def test_every_bundled_file_matches_its_known_checksum():
    sums = dl.known_checksums()
    checked = [rel for rel in sums if (BUNDLED_ROOT / rel).exists()]
    assert "CPF/cora.npz" in checked
    for rel in checked:
        assert file_sha256(BUNDLED_ROOT / rel) == sums[rel], rel
