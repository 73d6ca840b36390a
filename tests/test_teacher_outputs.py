"""The user's own teacher: a trained module or its saved outputs, checked and distilled (g2m/teacher_outputs.py)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch_geometric.nn import GCNConv

import g2m
from g2m.datasets import node_split
from g2m.errors import ConfigError, G2MWarning
from g2m.teacher_outputs import (ModelTeacher, TeacherOutputs, as_logits, as_teacher, external_teacher,
                                 read_outputs_file)

FAST = {"max_epochs": 30}  # students: enough to learn something, fast


class GCN(torch.nn.Module):
    def __init__(self, i: int, o: int, hidden: int = 16, return_hidden: bool = False):
        super().__init__()
        self.c1, self.c2, self.return_hidden = GCNConv(i, hidden), GCNConv(hidden, o), return_hidden

    def forward(self, x, edge_index):
        h = F.dropout(F.relu(self.c1(x, edge_index)), 0.5, self.training)
        out = self.c2(h, edge_index)
        return (out, h) if self.return_hidden else out


@pytest.fixture(scope="module")
def cora():
    return g2m.load_dataset("cora")


@pytest.fixture(scope="module")
def trained(cora):
    """A GCN trained in plain PyTorch on cora's seed-0 training nodes (as a user would), in eval mode."""
    torch.manual_seed(0)
    data, split = cora.data, node_split(cora, 0, "tran")
    model = GCN(cora.num_features, cora.num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    for _ in range(60):
        model.train()
        opt.zero_grad()
        F.cross_entropy(model(data.x, data.edge_index)[split.train], data.y[split.train]).backward()
        opt.step()
    return model.eval()


def logits_of(model, cora) -> torch.Tensor:
    with torch.no_grad():
        return model(cora.data.x, cora.data.edge_index)


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.slow
def test_student_from_the_module_equals_the_student_from_its_saved_outputs(cora, trained, tmp_path):
    np.save(tmp_path / "logits.npy", logits_of(trained, cora).numpy())
    kw = dict(method="glnn", seed=0, student_params=FAST)
    from_module = g2m.Distiller(teacher=trained, **kw).fit(cora)
    from_file = g2m.Distiller(teacher=str(tmp_path / "logits.npy"), **kw).fit(cora)
    assert same_weights(from_module.student_model_, from_file.student_model_)
    assert from_module.metrics_ == from_file.metrics_
    # the teacher's accuracy is measured from its outputs, on the split
    split = from_module.split_
    want = (logits_of(trained, cora).argmax(-1)[split.test] == cora.data.y[split.test]).float().mean().item() * 100
    assert from_module.metrics_["teacher"]["test"] == pytest.approx(want)
    assert from_module.metrics_["student"]["test"] > 60  # it learnt from the teacher (MLP alone: ~58 here)


def test_every_file_layout_reads_the_same_outputs(cora, tmp_path):
    gen = torch.Generator().manual_seed(0)
    logits, hidden = torch.randn(cora.num_nodes, cora.num_classes, generator=gen), torch.randn(cora.num_nodes, 4)
    np.save(tmp_path / "a.npy", logits.numpy())
    np.savez(tmp_path / "b.npz", logits=logits.numpy(), hidden=hidden.numpy())
    torch.save({"logits": logits, "hidden": hidden}, tmp_path / "c.pt")
    (tmp_path / "d").mkdir()
    np.save(tmp_path / "d" / "logits.npy", logits.numpy())
    np.save(tmp_path / "d" / "hidden.npy", hidden.numpy())
    for name in ("a.npy", "b.npz", "c.pt", "d"):
        out = TeacherOutputs.load(tmp_path / name, "logits")
        assert torch.equal(out.logits, logits), name
        assert (out.hidden is None) == (name == "a.npy")
        if out.hidden is not None:
            assert torch.equal(out.hidden, hidden), name
        assert set(out.source["sha256"]) == ({"logits.npy", "hidden.npy"} if name == "d" else {name})
    assert isinstance(read_outputs_file(tmp_path / "d")[0]["logits"], np.memmap)  # never read whole


class Payload:
    def __reduce__(self):
        return (print, ("pickled code ran",))


def test_pickled_objects_in_an_outputs_file_are_refused(tmp_path):
    torch.save({"logits": torch.zeros(3, 2), "extra": Payload()}, tmp_path / "evil.pt")
    np.save(tmp_path / "evil.npy", np.array([Payload()], dtype=object), allow_pickle=True)
    for name in ("evil.pt", "evil.npy"):
        with pytest.raises(ConfigError, match="no pickled objects"):
            TeacherOutputs.load(tmp_path / name)


def test_outputs_that_do_not_fit_the_graph_are_refused(cora):
    n, c = cora.num_nodes, cora.num_classes
    with pytest.raises(ConfigError, match=f"{n - 1} rows but 'cora' has {n} nodes"):
        TeacherOutputs(torch.zeros(n - 1, c)).check(cora)
    with pytest.raises(ConfigError, match=f"{c + 1} columns but 'cora' has {c} classes"):
        TeacherOutputs(torch.zeros(n, c + 1)).check(cora)
    bad = torch.zeros(n, c)
    bad[7, 2], bad[420, 0] = float("nan"), float("inf")
    with pytest.raises(ConfigError, match=r"NaN or inf in the teacher's logits at node\(s\) 7, 420:"):
        TeacherOutputs(bad).check(cora)
    with pytest.raises(ConfigError, match="hidden layer has 3 rows"):
        TeacherOutputs(torch.zeros(n, c), torch.zeros(3, 4))
    with pytest.raises(ConfigError, match="2-D"):
        TeacherOutputs(torch.zeros(n))
    with pytest.raises(ConfigError, match="expected the keys 'logits'"):
        TeacherOutputs.of({"logit": torch.zeros(n, c)})
    with pytest.raises(ConfigError, match="outputs have 5 rows"):  # checked by the run, before any training
        g2m.distill(cora, teacher=torch.zeros(5, c), seeds=1, setting="tran")


def test_nan_rows_are_named_beyond_the_first_chunk(cora, monkeypatch):
    import g2m.teacher_outputs as mod

    monkeypatch.setattr(mod, "CHECK_ROWS", 100)
    bad = torch.zeros(cora.num_nodes, cora.num_classes)
    bad[250, 1] = float("nan")
    with pytest.raises(ConfigError, match=r"node\(s\) 250:"):
        TeacherOutputs(bad).check(cora)


def test_probabilities_are_read_as_probabilities_with_a_warning():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    probs = logits.softmax(-1)
    with pytest.warns(G2MWarning, match="reads them as probabilities"):
        got = as_logits(probs, "auto")
    assert torch.allclose(got.softmax(-1), probs, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.allclose(as_logits(probs, "probabilities").softmax(-1), probs, atol=1e-6)  # said: no warning
        assert torch.equal(as_logits(probs, "logits"), probs)  # said: taken as they are
        assert torch.equal(as_logits(logits, "auto"), logits)  # logits are not probabilities
        log_probs = logits.log_softmax(-1)  # log_softmax outputs are logits
        assert torch.equal(as_logits(log_probs, "auto"), log_probs)
    with pytest.raises(ConfigError, match="negative or do not sum to 1"):
        as_logits(logits, "probabilities")
    almost = probs.clone()
    almost[1] *= 0.9  # one row that does not sum to 1: logits
    assert torch.equal(as_logits(almost, "auto"), almost)
    with pytest.raises(ConfigError, match="use one of auto, logits, probabilities"):
        as_teacher(probs, "probs")


def test_a_module_that_fails_or_returns_the_wrong_thing_is_a_clear_error(cora):
    class NeedsBatch(torch.nn.Module):
        def forward(self, x, edge_index, batch):
            return x

    class ReturnsDict(torch.nn.Module):
        def forward(self, x, edge_index):
            return {"out": x}

    class ReturnsFeatures(torch.nn.Module):
        def forward(self, x, edge_index):
            return x

    split = node_split(cora, 0, "tran")
    with pytest.raises(ConfigError, match=r"calling your teacher as model\(x, edge_index\) failed \(TypeError"):
        external_teacher(cora, split, ModelTeacher(NeedsBatch().eval()))
    with pytest.raises(ConfigError, match="returned dict"):
        external_teacher(cora, split, ModelTeacher(ReturnsDict().eval()))
    with pytest.raises(ConfigError, match="1433 columns but 'cora' has 7 classes"):
        external_teacher(cora, split, ModelTeacher(ReturnsFeatures().eval()))


def test_a_model_in_training_mode_is_evaluated_in_eval_mode_and_put_back(cora, trained):
    split = node_split(cora, 0, "tran")
    trained.train()
    try:
        with pytest.warns(G2MWarning, match="was in training mode"):
            run = external_teacher(cora, split, ModelTeacher(trained))
        assert trained.training  # put back as it was
    finally:
        trained.eval()
    assert torch.equal(run.logits, logits_of(trained, cora))  # dropout was off
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        external_teacher(cora, split, ModelTeacher(trained))  # eval mode: nothing to say


def test_inductive_outputs_of_a_module_come_from_the_observed_graph(cora, trained):
    split = node_split(cora, 0, "ind")
    run = external_teacher(cora, split, ModelTeacher(trained))
    obs, _ = split.observed_graph(cora.data)
    with torch.no_grad():
        assert torch.equal(run.logits, trained(obs.x, obs.edge_index))  # held-out nodes and edges removed
        full = trained(cora.data.x, cora.data.edge_index)
    want = (full.argmax(-1)[split.test_ind] == cora.data.y[split.test_ind]).float().mean().item() * 100
    assert run.metrics["test_ind"] == pytest.approx(want)  # held-out nodes evaluated on the full graph
    assert run.hidden is None


def test_saved_outputs_in_the_inductive_setting_use_observed_rows_and_warn(cora, trained):
    split = node_split(cora, 0, "ind")
    full = logits_of(trained, cora)
    with pytest.warns(G2MWarning, match="inductive numbers are optimistic"):
        run = external_teacher(cora, split, TeacherOutputs(full, torch.arange(cora.num_nodes * 2.0).view(-1, 2)))
    assert torch.equal(run.logits, full[split.observed])
    assert torch.equal(run.hidden[:, 0], split.observed.float() * 2)  # hidden rows follow the same nodes


@pytest.mark.slow
def test_a_hidden_layer_from_the_module_feeds_rsd_and_its_absence_is_explained(cora, trained):
    with_hidden = GCN(cora.num_features, cora.num_classes, return_hidden=True)
    with_hidden.load_state_dict(trained.state_dict())
    d = g2m.Distiller(teacher=with_hidden.eval(), method="glnn+rsd", student_params={"max_epochs": 2}).fit(cora)
    assert d.teacher_.hidden.shape == (cora.num_nodes, 16)
    with pytest.raises(ConfigError, match="rsd needs the teacher's hidden representations"):
        g2m.Distiller(teacher=trained, method="glnn+rsd", student_params={"max_epochs": 2}).fit(cora)


def test_methods_that_train_their_own_teacher_and_teacher_settings_are_refused(cora, trained):
    with pytest.raises(ConfigError, match="'vqgraph' trains its own teacher"):
        g2m.distill(cora, teacher=trained, method="vqgraph", seeds=1, setting="tran")
    with pytest.raises(ConfigError, match=r"already trained: teacher settings \(hidden_channels\)"):
        g2m.distill(cora, teacher=trained, seeds=1, setting="tran", teacher_params={"hidden_channels": 8})
    with pytest.raises(ConfigError, match=r"already trained: teacher settings \(lr\)"):
        g2m.Distiller(teacher=trained, teacher_params={"lr": 0.1}).fit(cora)
    with pytest.raises(ConfigError, match="pass a teacher name"):
        as_teacher(3)
    with pytest.raises(ConfigError, match="unknown teacher 'no-such-teacher'"):
        as_teacher("no-such-teacher")


@pytest.mark.slow
def test_ffg2m_derives_its_neighbourhood_terms_from_the_logits_and_the_graph(cora, trained):
    d = g2m.Distiller(teacher=trained, method="glnn+ffg2m", student_params=FAST).fit(cora)
    assert d.metrics_["student"]["test"] > 60


@pytest.mark.slow
def test_the_cli_distills_saved_outputs_and_records_where_they_came_from(cora, trained, tmp_path):
    from typer.testing import CliRunner

    from g2m.cli import app

    np.save(tmp_path / "t.npy", logits_of(trained, cora).numpy())
    args = ["distill", "-d", "cora", "--teacher-outputs", str(tmp_path / "t.npy"), "-m", "glnn", "--seeds", "1",
            "--setting", "tran", "-p", "max_epochs=20", "-o", str(tmp_path / "run")]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    assert "teacher (user-outputs)" in r.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    from g2m.utils.io import file_sha256

    assert config["teacher_source"]["path"] == str((tmp_path / "t.npy").resolve())
    assert config["teacher_source"]["sha256"] == {"t.npy": file_sha256(tmp_path / "t.npy")}
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["teacher_model"] == "user-outputs"
    assert not list((tmp_path / "run" / "checkpoints").glob("teacher*"))  # the teacher is the user's
    r = CliRunner().invoke(app, ["rerun", str(tmp_path / "run"), "-o", str(tmp_path / "again")])
    assert r.exit_code == 0 and "every number identical" in r.output, r.output
    np.save(tmp_path / "t.npy", logits_of(trained, cora).numpy() * 2)  # the outputs changed since
    r = CliRunner().invoke(app, ["rerun", str(tmp_path / "run"), "-o", str(tmp_path / "third")])
    assert r.exit_code != 0 and "sha256 differs" in str(r.exception)
    r = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "x"), "-t", "gcn"])
    assert r.exit_code != 0 and "pass one of them" in str(r.exception)
    r = CliRunner().invoke(app, [*args[:3], "--teacher-outputs", str(tmp_path / "missing.npy")])
    assert r.exit_code != 0 and "no such file or folder" in str(r.exception)


@pytest.mark.slow
def test_the_cli_uses_a_user_folders_own_split(tmp_path):
    from typer.testing import CliRunner

    from g2m.cli import app

    gen = np.random.default_rng(0)
    n = 60
    y = np.arange(n) % 3
    np.save(tmp_path / "features.npy", (np.eye(3)[y] + gen.normal(0, 0.5, (n, 3))).astype(np.float32))
    np.save(tmp_path / "labels.npy", y)
    np.save(tmp_path / "edges.npy", np.stack([np.arange(n), (np.arange(n) + 3) % n], 1))
    (tmp_path / "split.json").write_text(json.dumps({"train": list(range(12)), "val": list(range(12, 24)),
                                                     "test": list(range(30, 60))}))
    np.save(tmp_path / "t.npy", np.eye(3)[y].astype(np.float32) * 4)
    r = CliRunner().invoke(app, ["distill", "-d", str(tmp_path), "--teacher-outputs", str(tmp_path / "t.npy"),
                                 "--split", "masks", "--seeds", "1", "-p", "max_epochs=5", "-o", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["teacher"]["transductive"]["mean"] == 100.0  # the outputs are the labels
    assert metrics["teacher"]["inductive"]["mean"] == 100.0
    from g2m.datasets.splits import ids_sha256

    assert metrics["splits"]["0"]["train_sha256"] == ids_sha256(torch.arange(12))
    assert json.loads((tmp_path / "run" / "config.json").read_text())["split_protocol"] == "masks"


@pytest.mark.slow
def test_a_student_in_memory_exports_directly(cora, trained, tmp_path):
    d = g2m.Distiller(teacher=trained, student_params={"max_epochs": 2}).fit(cora)
    path = g2m.export_student(d.student_model_, format="torchscript", output=tmp_path / "s.torchscript.pt")
    student = g2m.load_student(path, trust_torchscript=True)
    x = cora.data.x[:20]
    assert torch.equal(torch.as_tensor(student.predict(x)), d.predict(x))
    assert g2m.export_student(d, format="torchscript", output=tmp_path / "d.pt").is_file()  # the Distiller too
    with pytest.raises(ConfigError, match="needs output="):
        g2m.export_student(d.student_model_)
    with pytest.raises(ConfigError, match="cannot export a GCN"):
        g2m.export_student(trained, output=tmp_path / "t.onnx")


# --- fast checks of every branch and message (no student training: these run in mutation testing) ---

def _error(call) -> str:
    with pytest.raises(ConfigError) as info:
        call()
    return str(info.value)


def test_every_refusal_says_exactly_what_was_wrong(cora, tmp_path):
    from g2m.distill.methods import resolve_method
    from g2m.teacher_outputs import _tensor, trainer_for

    np.save(tmp_path / "obj.npy", np.array([object()], dtype=object), allow_pickle=True)
    (tmp_path / "empty").mkdir()
    (tmp_path / "objdir").mkdir()
    np.save(tmp_path / "objdir" / "logits.npy", np.array([object()], dtype=object), allow_pickle=True)
    (tmp_path / "x.txt").write_text("1")
    np.savez(tmp_path / "pick.npz", logits=np.array([object()], dtype=object))
    cases = {
        lambda: _tensor(np.array([object()], dtype=object), "logits"):
            "the teacher's logits: an array of Python objects; pass numbers.",
        lambda: _tensor([[1.0]], "logits"): "the teacher's logits must be a tensor or an array, got list.",
        lambda: _tensor(torch.zeros(2, 2, 2), "hidden layer"):
            "the teacher's hidden layer must be 2-D (one row per node), got shape [2, 2, 2].",
        lambda: _tensor(torch.zeros(2, 2, dtype=torch.bool), "logits"):
            "the teacher's logits must hold numbers, got torch.bool.",
        lambda: as_logits(torch.zeros(2, 2), "probs"): "outputs_are='probs': use one of auto, logits, probabilities.",
        lambda: as_logits(torch.tensor([[2.0, -1.0]]), "probabilities"):
            "outputs_are='probabilities', but some rows of the teacher's outputs are negative or do not sum to 1: "
            "pass outputs_are='logits' (--outputs-are logits) if they are logits.",
        lambda: TeacherOutputs(torch.zeros(4, 2), torch.zeros(3, 5)):
            "the teacher's hidden layer has 3 rows but its logits have 4: give one row per node in both.",
        lambda: TeacherOutputs.of({"logits": torch.zeros(2, 2), "extra": 1}):
            "teacher outputs: expected the keys 'logits' (and optionally 'hidden'), got ['extra', 'logits'].",
        lambda: TeacherOutputs.of(torch.zeros(3)): "the teacher's logits must be 2-D (one row per node), got shape [3].",
        lambda: TeacherOutputs(torch.zeros(5, 7)).check(cora):
            "the teacher's outputs have 5 rows but 'cora' has 2485 nodes: give one row per node, in node-id order "
            "(row i = node i).",
        lambda: TeacherOutputs(torch.zeros(2485, 3)).check(cora):
            "the teacher's outputs have 3 columns but 'cora' has 7 classes: give one logit per class, in class-id "
            "order.",
        lambda: TeacherOutputs(torch.zeros(2485, 7), torch.full((2485, 2), float("nan"))).check(cora):
            "NaN or inf in the teacher's hidden layer at node(s) 0, 1, 2, 3, 4 (and 2480 more): the student cannot "
            "learn from them; fix the teacher, or drop those nodes from the graph.",
        lambda: read_outputs_file(tmp_path / "empty"):
            f"{tmp_path}/empty has no logits.npy: a folder of teacher outputs holds logits.npy (one row per node) "
            "and optionally hidden.npy.",
        lambda: read_outputs_file(tmp_path / "objdir"):
            f"cannot read the teacher outputs in {tmp_path}/objdir as numeric .npy arrays (Array can't be "
            "memory-mapped: Python objects in dtype.).",
        lambda: read_outputs_file(tmp_path / "nope.npy"): f"no such teacher outputs file or folder: {tmp_path}/nope.npy.",
        lambda: read_outputs_file(tmp_path / "x.txt"):
            "teacher outputs file x.txt: use .npy, .npz, .pt or a folder of .npy files.",
        lambda: read_outputs_file(tmp_path / "pick.npz"):
            f"cannot read the teacher outputs in {tmp_path}/pick.npz: Object arrays cannot be loaded when "
            "allow_pickle=False. g2m reads numbers only (no pickled objects): save numbers with NumPy (np.save, "
            "np.savez) or tensors with torch.",
        lambda: as_teacher(3):
            "teacher=int: pass a teacher name (sage, gcn, gat, appnp, auto, or several joined by +), a trained "
            "torch.nn.Module, its outputs (TeacherOutputs, a tensor/array or a mapping of them) or a path to saved outputs.",
        lambda: trainer_for(ModelTeacher(torch.nn.Linear(1, 1)), resolve_method("vqgraph")):
            "method 'vqgraph' trains its own teacher (its 'vq' trainer: a GNN and a structure-aware tokenizer learnt "
            "together on the graph), so it cannot learn from your model or outputs. Use a method that distills "
            "logits (glnn, ffg2m, pos, adv, rsd with a hidden layer, or a composition), or let g2m train the "
            "teacher (-t sage).",
        lambda: external_teacher(cora, node_split(cora, 0, "tran"), TeacherOutputs(torch.zeros(2485, 7)), lr=1):
            "your teacher is already trained: teacher settings (lr) do not apply to it.",
    }
    for call, message in cases.items():
        assert _error(call) == message


def test_tensors_arrays_and_sparse_outputs_become_dense_float32():
    from g2m.teacher_outputs import _tensor

    x = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    assert _tensor(x, "logits") is x  # float32 as it is: no copy
    for value in (x.double(), x.long(), x.int(), x.numpy(), x.to_sparse(), x.to_sparse_csr()):
        got = _tensor(value, "logits")
        assert got.dtype == torch.float32 and got.layout == torch.strided and torch.equal(got, x)


def test_probability_detection_reads_every_row_in_chunks(monkeypatch):
    import g2m.teacher_outputs as mod
    from g2m.teacher_outputs import _look_like_probabilities

    monkeypatch.setattr(mod, "CHECK_ROWS", 100)
    one_hot = torch.eye(3)[torch.arange(250) % 3]  # exact zeros are probabilities too
    assert _look_like_probabilities(one_hot)
    for bad_row in (0, 240):
        for broken in ("negative", "sum"):
            rows = one_hot.clone()
            if broken == "negative":
                rows[bad_row] = torch.tensor([1.5, -0.5, 0.0])  # sums to 1, one negative
            else:
                rows[bad_row] = torch.tensor([0.5, 0.4, 0.0])
            assert not _look_like_probabilities(rows), (bad_row, broken)
    assert _look_like_probabilities(torch.tensor([[0.3, 0.7 + 5e-4]]))  # rounding in saved files is tolerated
    assert not _look_like_probabilities(torch.tensor([[0.3, 0.7 + 5e-3]]))
    assert not _look_like_probabilities(torch.zeros(0, 3))  # no rows: nothing says probabilities


def test_nan_in_the_first_row_is_found(cora, monkeypatch):
    import g2m.teacher_outputs as mod

    monkeypatch.setattr(mod, "CHECK_ROWS", 100)
    bad = torch.zeros(cora.num_nodes, cora.num_classes)
    bad[0, 0] = float("inf")
    assert "at node(s) 0:" in _error(lambda: TeacherOutputs(bad).check(cora))


def test_outputs_files_record_where_they_came_from_and_how_they_were_read(tmp_path):
    from g2m.utils.io import file_sha256

    probs = torch.tensor([[0.2, 0.8], [0.6, 0.4]])
    np.save(tmp_path / "p.npy", probs.numpy())
    out = TeacherOutputs.load(tmp_path / "p.npy", "probabilities")
    assert out.source == {"kind": "outputs", "outputs_are": "probabilities", "path": str((tmp_path / "p.npy").resolve()),
                          "sha256": {"p.npy": file_sha256(tmp_path / "p.npy")}}
    assert torch.allclose(out.logits.softmax(-1), probs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(TeacherOutputs.load(tmp_path / "p.npy", "logits").logits, probs)
    with pytest.warns(G2MWarning):
        TeacherOutputs.load(tmp_path / "p.npy")  # auto by default
    with pytest.raises(ConfigError, match="no pickled objects"):
        np.savez(tmp_path / "q.npz", logits=np.array([Payload()], dtype=object))
        TeacherOutputs.load(tmp_path / "q.npz")
    with pytest.raises(ConfigError, match="cannot read the teacher outputs in .*t.pt: .*no pickled objects"):
        (tmp_path / "t.pt").write_bytes(b"truncated")
        TeacherOutputs.load(tmp_path / "t.pt")


def test_as_teacher_passes_how_outputs_are_read_to_every_kind(cora, tmp_path, monkeypatch):
    probs = torch.tensor([[0.2, 0.8]])
    np.save(tmp_path / "p.npy", probs.numpy())
    model = torch.nn.Linear(2, 2)
    got = as_teacher(model, "logits")
    assert isinstance(got, ModelTeacher) and got.model is model and got.outputs_are == "logits"
    assert got.source == {"kind": "module", "class": "torch.nn.modules.linear.Linear", "outputs_are": "logits"}
    for given in (tmp_path / "p.npy", str(tmp_path / "p.npy"), {"logits": probs}, probs, probs.numpy()):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "logits" said: no detection, no warning
            out = as_teacher(given, "logits")
        assert isinstance(out, TeacherOutputs) and torch.equal(out.logits, probs) and out.source["outputs_are"] == "logits"
    outputs = TeacherOutputs(probs)
    assert as_teacher(outputs) is outputs and as_teacher(got) is got
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sage").mkdir()  # a folder named like a teacher: the name wins
    assert as_teacher("sage") == "sage"


class _Fixed(torch.nn.Module):
    """Returns what it was built with (its class name shows in messages)."""

    def __init__(self, out):
        super().__init__()
        self.out = out

    def forward(self, x, edge_index):
        return self.out


def test_what_a_module_may_return(monkeypatch):
    x, ei = torch.zeros(2, 3), torch.tensor([[0, 1], [1, 0]])
    two_rows = torch.tensor([[2.0, -1.0], [0.5, 3.0]])
    logits, hidden = ModelTeacher(_Fixed(two_rows).eval()).outputs(x, ei)  # a tensor of 2 rows is not a pair
    assert torch.equal(logits, two_rows) and hidden is None
    logits, hidden = ModelTeacher(_Fixed([two_rows, two_rows * 2]).eval()).outputs(x, ei)  # a list pair works too
    assert torch.equal(hidden, two_rows * 2)
    for out in ((two_rows,), (two_rows, two_rows, two_rows)):
        assert "returned tuple: forward(x, edge_index) must return the logits, or a pair" in _error(
            lambda: ModelTeacher(_Fixed(out).eval()).outputs(x, ei))
    assert _error(lambda: ModelTeacher(_Fixed((two_rows, torch.zeros(2))).eval()).outputs(x, ei)) == \
        "the teacher's hidden layer must be 2-D (one row per node), got shape [2]."
    with pytest.warns(G2MWarning, match=r"your teacher \(_Fixed\) was in training mode"):
        ModelTeacher(_Fixed(two_rows).train()).outputs(x, ei)
    probs = torch.tensor([[0.25, 0.75], [0.5, 0.5]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.equal(ModelTeacher(_Fixed(probs).eval(), "logits").outputs(x, ei)[0], probs)
    with pytest.warns(G2MWarning, match="reads them as probabilities"):
        ModelTeacher(_Fixed(probs).eval()).outputs(x, ei)

    class Fails(torch.nn.Module):
        def forward(self, x, edge_index):
            raise RuntimeError("shapes do not match")

    assert _error(lambda: ModelTeacher(Fails().eval()).outputs(x, ei)) == (
        "calling your teacher as model(x, edge_index) failed (RuntimeError: shapes do not match). g2m calls it with "
        "x: float32 [2, 3] and edge_index: int64 [2, 2] (undirected, no self-loops) on the model's device; a model "
        "with another signature needs a small wrapper module whose forward(x, edge_index) calls it.")


def test_the_external_trainer_records_the_teacher_and_keeps_rows_in_step(cora, trained):
    with_hidden = GCN(cora.num_features, cora.num_classes, return_hidden=True)
    with_hidden.load_state_dict(trained.state_dict())
    teacher = ModelTeacher(with_hidden.eval())
    split = node_split(cora, 0, "ind")
    run = external_teacher(cora, split, teacher)
    obs, _ = split.observed_graph(cora.data)
    with torch.no_grad():
        assert torch.equal(run.hidden, with_hidden(obs.x, obs.edge_index)[1])
    assert run.model is with_hidden and run.name == "user-model" and run.config == {"source": teacher.source}
    outputs = TeacherOutputs(logits_of(trained, cora), source={"kind": "outputs", "path": "x"})
    with pytest.warns(G2MWarning):
        run = external_teacher(cora, split, outputs)  # inductive, no hidden layer
    assert run.hidden is None and run.model is None and run.name == "user-outputs"
    assert run.config == {"source": {"kind": "outputs", "path": "x"}}
    assert set(run.metrics) == {"val", "test", "test_ind"}
    wrong = _Fixed(torch.zeros(2485 - split.test_ind.numel(), 3)).eval()
    assert "but 'cora' has 7 classes" in _error(lambda: external_teacher(cora, split, ModelTeacher(wrong)))


def test_defaults_labels_and_the_exact_warnings(cora, trained, monkeypatch):
    probs = torch.tensor([[0.25, 0.75], [0.5, 0.5]])
    with pytest.warns(G2MWarning) as caught:
        as_logits(probs)  # auto by default
        TeacherOutputs.of(probs)  # auto by default
    assert [str(w.message) for w in caught] == 2 * [
        "every row of the teacher's outputs is non-negative and sums to 1, so g2m reads them as probabilities (and "
        "distills from their logarithm). If they are logits, say so: outputs_are='logits' (--outputs-are logits)."]
    out = TeacherOutputs(np.array([[1.0, 2.0]]), np.array([[3.0]]))  # arrays become float32 tensors, in place
    assert out.logits.dtype == torch.float32 and isinstance(out.hidden, torch.Tensor)
    assert _error(lambda: TeacherOutputs(torch.zeros(3))) == \
        "the teacher's logits must be 2-D (one row per node), got shape [3]."
    assert _error(lambda: TeacherOutputs(torch.zeros(2, 2), torch.zeros(2))) == \
        "the teacher's hidden layer must be 2-D (one row per node), got shape [2]."
    x, ei = torch.zeros(2, 3), torch.tensor([[0, 1], [1, 0]])
    assert _error(lambda: ModelTeacher(_Fixed(torch.zeros(2)).eval()).outputs(x, ei)) == \
        "the teacher's logits must be 2-D (one row per node), got shape [2]."
    with pytest.warns(G2MWarning) as caught:
        ModelTeacher(_Fixed(torch.tensor([[2.0, -1.0], [0.5, 3.0]])).train()).outputs(x, ei)
    assert str(caught[0].message) == (
        "your teacher (_Fixed) was in training mode: g2m computes its outputs in eval mode (dropout off, normalisation "
        "statistics fixed) and puts it back in training mode after.")
    split = node_split(cora, 0, "ind")
    with pytest.warns(G2MWarning) as caught:
        run = external_teacher(cora, split, TeacherOutputs(logits_of(trained, cora)))
    assert str(caught[0].message) == (
        "inductive run from saved teacher outputs: g2m uses only the observed nodes' rows, but cannot tell whether "
        "they were computed with the held-out nodes in the graph; if they were, the inductive numbers are "
        "optimistic. For a strict inductive run pass the model (g2m computes its outputs on the observed graph).")
    assert run.split is split
    assert _error(lambda: external_teacher(cora, split, TeacherOutputs(torch.zeros(2485, 7)), lr=1, fan_out=2)) == \
        "your teacher is already trained: teacher settings (fan_out, lr) do not apply to it."


def test_nan_rows_are_listed_five_at_most_with_the_rest_counted(cora, monkeypatch):
    import g2m.teacher_outputs as mod

    for count, tail in ((5, ""), (6, " (and 1 more)")):
        bad = torch.zeros(cora.num_nodes, cora.num_classes)
        bad[10:10 + count, 0] = float("nan")
        shown = ", ".join(str(i) for i in range(10, 15))
        assert f"at node(s) {shown}{tail}: the student" in _error(lambda: TeacherOutputs(bad).check(cora))
    monkeypatch.setattr(mod, "CHECK_ROWS", 100)
    bad = torch.zeros(cora.num_nodes, cora.num_classes)
    bad[250, 0] = bad[260, 1] = float("nan")
    assert "at node(s) 250, 260: the student" in _error(lambda: TeacherOutputs(bad).check(cora))  # one chunk, both


def test_an_unreadable_file_is_named_even_when_its_error_has_no_text(tmp_path, monkeypatch):
    np.save(tmp_path / "l.npy", np.zeros((2, 2), dtype=np.float32))

    def silent(*args, **kwargs):
        raise ValueError("")

    monkeypatch.setattr(np, "load", silent)
    assert _error(lambda: read_outputs_file(tmp_path / "l.npy")) == (
        f"cannot read the teacher outputs in {tmp_path / 'l.npy'}: ValueError. g2m reads numbers only (no pickled "
        "objects): save numbers with NumPy (np.save, np.savez) or tensors with torch.")


def test_teacher_names_say_whose_teacher_it_is():
    from g2m.teacher_outputs import teacher_name

    assert teacher_name("gat") == "gat"
    assert teacher_name(ModelTeacher(torch.nn.Linear(1, 1))) == "user-model"
    assert teacher_name(TeacherOutputs(torch.zeros(2, 2))) == "user-outputs"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_a_module_on_a_gpu_gives_the_cpu_outputs_on_the_training_device(cora):
    """A user's model on the GPU is called with its inputs moved there and returns CPU outputs; the external
    trainer puts the teacher's logits and hidden layer on the training device (a CPU-only run cannot see this)."""
    import copy

    torch.manual_seed(0)
    model = GCN(cora.num_features, cora.num_classes, return_hidden=True).eval()
    on_gpu = copy.deepcopy(model).cuda()
    x, ei = cora.data.x, cora.data.edge_index
    want = ModelTeacher(model).outputs(x, ei)
    got = ModelTeacher(on_gpu).outputs(x, ei)
    for a, b in zip(got, want):
        assert a.device.type == "cpu"
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    split = node_split(cora, 0, "ind")
    run, ref = external_teacher(cora, split, ModelTeacher(on_gpu), "cuda"), external_teacher(cora, split,
                                                                                            ModelTeacher(model))
    assert run.logits.device.type == run.hidden.device.type == "cuda"
    torch.testing.assert_close(run.logits.cpu(), ref.logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(run.hidden.cpu(), ref.hidden, atol=1e-4, rtol=1e-4)
    assert set(run.metrics) == {"val", "test", "test_ind"}
