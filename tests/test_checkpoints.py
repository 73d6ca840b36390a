"""Checkpoints rebuild the network that was trained: every teacher family and method, through `evaluate_run`."""

from __future__ import annotations

import pytest
import torch

import g2m

from g2m.checkpoints import evaluate_run, load_model

FAST_TEACHER = {"max_epochs": 3, "patience": 3}
FAST_STUDENT = {"max_epochs": 3, "patience": 3}
FAST_VQ = {**FAST_TEACHER, "codebook_size": 16, "code_dim": 8, "vq_epochs": 3, "vq_patience": 3}


def _round_trip(tmp_path, teacher, method, teacher_overrides):
    out = tmp_path / f"{teacher}-{method}"
    result = g2m.distill("cora", teacher=teacher, method=method, seeds=[0], setting="ind", device="cpu", output=out,
                         teacher_params=teacher_overrides, student_params=FAST_STUDENT)
    again = evaluate_run(out, device="cpu")["models"]
    return result, again, out


@pytest.mark.parametrize("teacher", ["sage", "gcn", "gat", "appnp"])
def test_every_teacher_family_reloads_as_trained(tmp_path, teacher):
    result, again, _ = _round_trip(tmp_path, teacher, "glnn", FAST_TEACHER)
    for setting in ("inductive", "production"):
        assert again[f"teacher ({teacher})"][setting] == result["teacher"][setting]
        assert again["student (glnn)"][setting] == result["student"][setting]


@pytest.mark.parametrize("method", ["mlp", "glnn+pos", "ffg2m"])
def test_every_student_method_reloads_as_trained(tmp_path, method):
    result, again, _ = _round_trip(tmp_path, "sage", method, FAST_TEACHER)
    assert again[f"student ({method})"]["inductive"] == result["student"]["inductive"]


def test_a_three_layer_vq_teacher_quantizing_its_first_layer_reloads_as_trained(tmp_path):
    """code_layer="first" is part of the network: a checkpoint without it reloads as code_layer="embedding"."""
    overrides = {**FAST_VQ, "num_layers": 3, "code_layer": "first"}
    result, again, out = _round_trip(tmp_path, "sage", "vqgraph", overrides)
    model, ckpt = load_model(out / "checkpoints" / "teacher-vq-ind-seed0.pt")
    assert ckpt["kwargs"]["code_layer"] == "first" and model.code_layer == "first"
    assert ckpt["kwargs"]["num_layers"] == 3 and len(model.gnn.convs) == 3
    for setting in ("inductive", "production"):
        assert again["teacher (sage, vq)"][setting] == result["teacher"][setting]
    # the same weights read as the default code layer give other logits: the round trip above can fail
    wrong = dict(ckpt["kwargs"], code_layer="embedding")
    from g2m.models.vq_tokenizer import build_vq_model

    other = build_vq_model(ckpt["in_channels"], ckpt["out_channels"], "sage", **wrong)
    other.load_state_dict(ckpt["state_dict"])
    other.eval()
    x = torch.eye(ckpt["in_channels"])[:50]
    edges = torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]])
    with torch.no_grad():
        assert not torch.allclose(model(x, edges), other(x, edges))


def test_a_checkpoint_evaluated_on_another_graph_of_the_same_width_is_refused(tmp_path):
    """cora (CPF) and a relabelled copy have the same widths: only the recorded dataset tells them apart."""
    import dataclasses

    from g2m.checkpoints import check_fits, dataset_fingerprint, save_checkpoint
    from g2m.errors import ConfigError
    from g2m.models import StudentMLP

    cora = g2m.load_dataset("cora")
    model = StudentMLP(cora.num_features, 8, cora.num_classes)
    path = save_checkpoint(tmp_path / "student-glnn-tran-seed0.pt", model, "student", "glnn",
                           {"hidden_channels": 8}, cora, 0, "tran")
    _, ckpt = load_model(path)
    assert ckpt["dataset"] == dataset_fingerprint(cora) and ckpt["dataset"]["num_nodes"] == 2485
    config = {"methods": {"glnn": {}}}
    check_fits(path, ckpt, cora, config)  # its own dataset: fine
    data = cora.data.clone()
    data.y = data.y.roll(1)
    other = dataclasses.replace(cora, name="cora-shuffled", data=data)
    with pytest.raises(ConfigError, match="was trained on 'cora' \\(2485 nodes\\), not on this run's 'cora-shuffled'"):
        check_fits(path, ckpt, other, config)
    del ckpt["dataset"]  # a checkpoint from before the fingerprint: widths only, as then
    check_fits(path, ckpt, other, config)
