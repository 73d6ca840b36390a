"""NOSMOG's additions: DeepWalk position features (observed and unseen nodes), the representation-similarity
term and adversarial feature augmentation, each checked by hand on toy inputs, and their composition."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from g2m.datasets import load_dataset, node_split
from g2m.distill import student as student_mod
from g2m.distill.losses import LOSSES, LossInput, kl_with_temperature
from g2m.distill.methods import resolve_method
from g2m.distill.nosmog import RSD_MAX_NODES, adversarial_delta, similarity_loss
from g2m.distill.position import (all_positions, deepwalk, random_walks, skipgram_loss, skipgram_pairs,
                                  unseen_positions)
from g2m.errors import ConfigError
from g2m.training import FitResult

# ----------------------------------------------------------------------------------------- position features


def path_graph(n: int) -> torch.Tensor:
    src = torch.arange(n - 1)
    return torch.stack([torch.cat([src, src + 1]), torch.cat([src + 1, src])])


def test_random_walks_follow_edges_and_start_at_every_node():
    ei = path_graph(5)
    ei = torch.cat([ei, torch.tensor([[5], [5]])[:, :0]], dim=1)  # node 5: isolated
    walks = random_walks(ei, 6, walk_length=8, walks_per_node=3, generator=torch.Generator().manual_seed(0))
    assert walks.shape == (18, 8)
    assert walks[:, 0].tolist() == list(range(6)) * 3
    adjacent = {(int(a), int(b)) for a, b in ei.T}
    for walk in walks[walks[:, 0] != 5]:
        assert all((int(a), int(b)) in adjacent for a, b in zip(walk[:-1], walk[1:]))
    assert (walks[walks[:, 0] == 5] == 5).all()  # an isolated node's walk stays put


def test_random_walks_choose_neighbours_uniformly():
    # a star: from the centre, each of the 4 leaves is equally likely
    ei = torch.tensor([[0, 0, 0, 0, 1, 2, 3, 4], [1, 2, 3, 4, 0, 0, 0, 0]])
    walks = random_walks(ei, 5, walk_length=2, walks_per_node=4000, generator=torch.Generator().manual_seed(1))
    first = walks[walks[:, 0] == 0, 1]
    freq = torch.bincount(first, minlength=5)[1:].float() / first.numel()
    assert torch.allclose(freq, torch.full((4,), 0.25), atol=0.03)


def test_skipgram_pairs_are_the_window_in_both_orders():
    walks = torch.tensor([[10, 11, 12, 13]])
    centre, context = skipgram_pairs(walks, window=2)
    pairs = sorted(zip(centre.tolist(), context.tolist()))
    expected = sorted([(10, 11), (11, 12), (12, 13), (10, 12), (11, 13)]
                      + [(11, 10), (12, 11), (13, 12), (12, 10), (13, 11)])
    assert pairs == expected


def test_skipgram_loss_by_hand():
    u, v, w = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.5, -1.0]]), torch.tensor([[2.0, 0.0]])
    pos, neg = (u * v).sum(), (u * w).sum()  # -1.5 and 2
    expected = -(torch.log(torch.sigmoid(pos)) + torch.log(torch.sigmoid(-neg)))
    assert skipgram_loss(u, v, w).item() == pytest.approx(expected.item(), rel=1e-6)


def test_deepwalk_separates_two_communities_and_is_seeded():
    # two 6-cliques joined by nothing: same-clique positions are closer than cross-clique ones
    clique = torch.combinations(torch.arange(6)).T
    ei = torch.cat([clique, clique + 6], dim=1)
    kw = dict(position_dim=8, walk_length=10, walks_per_node=20, window=3, position_epochs=5, position_lr=0.05)
    pos = deepwalk(ei, 12, seed=3, **kw)
    assert pos.shape == (12, 8)
    assert torch.allclose(pos.mean(0), torch.zeros(8), atol=1e-5)
    assert torch.allclose(pos.std(0), torch.ones(8), atol=1e-4)
    sim = F.normalize(pos, dim=-1) @ F.normalize(pos, dim=-1).T
    same = torch.block_diag(torch.ones(6, 6), torch.ones(6, 6)).bool() & ~torch.eye(12, dtype=torch.bool)
    cross = ~torch.block_diag(torch.ones(6, 6), torch.ones(6, 6)).bool()
    assert sim[same].mean() > sim[cross].mean() + 0.5
    assert torch.equal(pos, deepwalk(ei, 12, seed=3, **kw))
    assert not torch.equal(pos, deepwalk(ei, 12, seed=4, **kw))


def test_deepwalk_refuses_bad_settings():
    with pytest.raises(ConfigError, match="walk_length"):
        deepwalk(path_graph(4), 4, walk_length=1)
    with pytest.raises(ConfigError, match="position_dim"):
        deepwalk(path_graph(4), 4, position_dim=0)


def test_unseen_positions_are_the_mean_of_known_neighbours():
    known = torch.tensor([[1.0, 0.0], [3.0, 2.0], [5.0, 4.0], [100.0, 100.0], [7.0, 7.0]])
    is_known = torch.tensor([True, True, True, False, False])
    # node 3 (unseen): neighbours 0, 1 (known) and 4 (unseen, ignored); node 4: only unseen neighbour 3
    ei = torch.tensor([[0, 1, 4, 3, 3, 3, 2], [3, 3, 3, 0, 1, 4, 1]])
    out = unseen_positions(known, is_known, ei, torch.tensor([3, 4]))
    assert out.tolist() == [[2.0, 1.0], [0.0, 0.0]]


def test_all_positions_keep_observed_rows_and_fill_held_out_ones():
    observed = torch.tensor([[1.0], [2.0], [4.0]])
    local = torch.tensor([0, -1, 1, 2, -1])  # nodes 1 and 4 are held out
    ei = torch.tensor([[0, 2, 3, 1], [1, 1, 4, 4]])  # 1 <- 0, 2 ; 4 <- 3, 1 (1 is held out: ignored)
    full = all_positions(observed, local, ei)
    assert full.view(-1).tolist() == [1.0, 1.5, 2.0, 4.0, 4.0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_positions_on_a_gpu():
    """Walks, skip-gram embeddings and unseen nodes' positions are made on the graph's device (a CPU-only run
    cannot see this): DeepWalk runs there with a generator of that device, and the gather-means equal the CPU's."""
    from g2m.distill.position import train_skipgram

    ei = path_graph(5).cuda()
    adjacent = {(int(a), int(b)) for a, b in ei.T}
    for gen in (None, torch.Generator(device="cuda").manual_seed(0)):
        walks = random_walks(ei, 5, walk_length=4, walks_per_node=2, generator=gen)
        assert walks.device.type == "cuda" and walks[:, 0].tolist() == list(range(5)) * 2
        assert all((int(a), int(b)) in adjacent for walk in walks for a, b in zip(walk[:-1], walk[1:]))
    emb = train_skipgram(walks, 5, 3, window=2, epochs=2, lr=0.05, batch_walks=4,
                         generator=torch.Generator(device="cuda").manual_seed(1))
    assert emb.device.type == "cuda" and emb.shape == (5, 3) and bool(emb.isfinite().all())
    kw = dict(position_dim=4, walk_length=5, walks_per_node=3, window=2)
    pos = deepwalk(ei, 5, seed=2, **kw)
    assert pos.device.type == "cuda" and pos.shape == (5, 4) and bool(pos.isfinite().all())
    known = torch.tensor([[1.0, 0.0], [3.0, 2.0], [5.0, 4.0], [100.0, 100.0], [7.0, 7.0]])
    is_known = torch.tensor([True, True, True, False, False])
    edges = torch.tensor([[0, 1, 4, 3, 3, 3, 2], [3, 3, 3, 0, 1, 4, 1]])
    unseen = unseen_positions(known.cuda(), is_known.cuda(), edges.cuda(), torch.tensor([3, 4]).cuda())
    assert unseen.device.type == "cuda" and unseen.tolist() == [[2.0, 1.0], [0.0, 0.0]]
    observed, local = torch.tensor([[1.0], [2.0], [4.0]]), torch.tensor([0, -1, 1, 2, -1])
    edges = torch.tensor([[0, 2, 3, 1], [1, 1, 4, 4]])
    full = all_positions(observed.cuda(), local.cuda(), edges.cuda())
    assert full.device.type == "cuda" and full.view(-1).tolist() == [1.0, 1.5, 2.0, 4.0, 4.0]


# ------------------------------------------------------------------------------------- rsd and adversarial


def test_similarity_loss_by_hand_and_gradient_only_to_the_student():
    s = torch.tensor([[2.0, 0.0], [0.0, 3.0]], requires_grad=True)  # cosine similarities: identity
    t = torch.tensor([[1.0, 0.0], [5.0, 0.0]], requires_grad=True)  # all ones
    loss = similarity_loss(s, t)
    assert loss.item() == pytest.approx(0.5)  # off-diagonals differ by 1: 2 of 4 entries
    loss.backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert t.grad is None
    assert similarity_loss(t.detach() * 3, t.detach()).item() == pytest.approx(0.0, abs=1e-7)


def loss_input(n=6, classes=3, hidden=4, seed=0, **extras):
    g = torch.Generator().manual_seed(seed)
    return LossInput(nodes=torch.arange(n), student_logits=torch.randn(n, classes, generator=g),
                     student_hidden=torch.randn(n, hidden, generator=g, requires_grad=True),
                     teacher={"logits": torch.randn(n, classes, generator=g),
                              "hidden": torch.randn(n, 5, generator=g)},
                     labels=torch.zeros(n, dtype=torch.long), train_mask=torch.zeros(n, dtype=torch.bool),
                     temperature=1.0, **extras)


def test_rsd_term_projects_the_student_and_reads_the_batch_rows():
    proj = torch.nn.Linear(4, 5)
    inp = loss_input()
    inp.nodes = torch.tensor([5, 0, 3])
    inp.student_hidden = inp.student_hidden[:3]
    expected = similarity_loss(proj(inp.student_hidden), inp.teacher["hidden"][torch.tensor([5, 0, 3])])
    term = LOSSES.get("rsd")(proj)
    assert term(inp).item() == pytest.approx(expected.item(), rel=1e-6)
    assert list(term.parameters()) == list(proj.parameters())  # the projection trains with the student


def test_rsd_projection_has_the_teacher_width_and_large_batches_are_subsampled(monkeypatch):
    student = type("S", (), {"hidden_channels": 7})()
    proj = LOSSES.get("rsd").build(student, {"hidden": torch.zeros(3, 11)}, {}).projection
    assert (proj.in_features, proj.out_features) == (7, 11)
    with pytest.raises(ConfigError, match="hidden"):
        LOSSES.get("rsd").build(student, {"logits": torch.zeros(3, 2)}, {})
    # a batch above RSD_MAX_NODES: a random subset of rows, the same rows on both sides (identical
    # representations give zero on any subset; a student/teacher row mismatch would not)
    inp = loss_input(n=RSD_MAX_NODES + 10, hidden=5)
    inp.student_hidden = inp.teacher["hidden"].clone() * 2
    torch.manual_seed(0)
    assert LOSSES.get("rsd")()(inp).item() == pytest.approx(0.0, abs=1e-6)
    from g2m.distill import nosmog

    seen = []
    monkeypatch.setattr(nosmog, "similarity_loss", lambda s, t: seen.append((s.shape[0], t.shape[0])) or
                        similarity_loss(s, t))
    LOSSES.get("rsd")()(inp)
    assert seen == [(RSD_MAX_NODES, RSD_MAX_NODES)]


class Linear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)

    def forward(self, x):
        return self.lin(x)


def test_adversarial_delta_stays_in_the_ball_raises_the_loss_and_leaves_student_gradients_alone():
    torch.manual_seed(0)
    net = Linear()
    x = torch.randn(32, 3)
    target = torch.randn(32, 2) * 3
    delta = adversarial_delta(net, x, target, eps=0.1, steps=3)
    assert delta.abs().max() <= 0.1 + 1e-7
    assert all(p.grad is None for p in net.parameters())
    clean = kl_with_temperature(net(x), target, 1.0).item()
    attacked = kl_with_temperature(net(x + delta), target, 1.0).item()
    torch.manual_seed(1)
    random = kl_with_temperature(net(x + (torch.rand_like(x) * 2 - 1) * 0.1), target, 1.0).item()
    assert attacked > clean and attacked > random
    # most coordinates end on the boundary (steps of eps/2 from a random start, clamped)
    assert (delta.abs() > 0.1 - 1e-6).float().mean() > 0.5
    assert torch.count_nonzero(adversarial_delta(net, x, target, eps=0.0, steps=2)) == 0
    with pytest.raises(ConfigError, match="adv_eps"):
        adversarial_delta(net, x, target, eps=-1.0, steps=1)


def test_adversarial_kl_defaults_are_nosmogs_radius_and_steps(monkeypatch):
    from g2m.distill import nosmog

    seen = []
    monkeypatch.setattr(nosmog, "adversarial_delta", lambda student, x, target, eps, steps, tau=1.0:
                        seen.append((eps, steps)) or torch.zeros_like(x))
    nosmog.adversarial_kl(loss_input(classes=2, student=Linear(), x=torch.randn(6, 3)))
    assert seen == [(0.05, 3)]


def test_adversarial_kl_with_zero_radius_is_the_soft_label_kl_and_trains_through_the_perturbed_input():
    torch.manual_seed(0)
    net = Linear()
    x = torch.randn(6, 3)
    inp = loss_input(classes=2, student=net, x=x)
    inp.nodes = torch.tensor([4, 1])
    expected = kl_with_temperature(net(x[[4, 1]]), inp.teacher["logits"][[4, 1]], 1.0)
    value = LOSSES.get("adversarial_kl").build(net, {}, {"adv_eps": 0.0, "adv_steps": 2})(inp)
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)
    value.backward()
    assert net.lin.weight.grad is not None and net.lin.weight.grad.abs().sum() > 0
    torch.manual_seed(0)
    assert LOSSES.get("adversarial_kl").build(net, {}, {"adv_eps": 0.5, "adv_steps": 2})(inp).item() > expected.item()


# ------------------------------------------------------------------------------------------------- methods


def test_methods_compose_terms_and_inputs():
    m = resolve_method("glnn+pos+rsd+adv")
    assert m.terms == {"soft_label_kl": 1.0, "rsd": 1.0, "adversarial_kl": 1.0}
    assert m.inputs == ("position",)
    assert resolve_method("mlp+pos").needs_teacher is False
    with pytest.raises(ConfigError, match="cannot be composed"):
        resolve_method("mlp+glnn")


@pytest.fixture(scope="module")
def cora_ind(cora_with_fake_teacher):
    return cora_with_fake_teacher("ind")


def test_position_aware_student_reads_features_and_positions(monkeypatch, cora_ind):
    ds, split, teacher = cora_ind
    seen = {}

    def two_epochs(model, step, validate, **kw):
        step(torch.optim.Adam(model.parameters(), lr=0.01))
        return FitResult(best_epoch=0, best_val=float(validate()), epochs_run=1)

    real_eval = student_mod.evaluate_student

    def spy(net, dataset, sp, device, positions=None):
        seen["positions"] = positions
        return real_eval(net, dataset, sp, device, positions)

    monkeypatch.setattr(student_mod, "fit", two_epochs)
    monkeypatch.setattr(student_mod, "evaluate_student", spy)
    torch.manual_seed(0)
    run = student_mod.train_student(ds, split, "glnn+pos", teacher, position_dim=8, walks_per_node=1,
                                    walk_length=5)
    assert run.model.in_channels == ds.num_features + 8
    assert run.positions.shape == (split.observed.numel(), 8)
    assert torch.equal(run.observed, split.observed)
    assert seen["positions"] is run.positions
    assert {"val", "test", "test_ind"} <= set(run.metrics)
    assert run.config["position_dim"] == 8


def test_rsd_and_adv_terms_train_a_student_with_their_default_weights(monkeypatch, cora_ind):
    ds, split, teacher = cora_ind
    monkeypatch.setattr(student_mod, "fit", lambda model, step, validate, **kw: (
        step(torch.optim.SGD(model.parameters(), lr=0.0)), FitResult(0, 0.0, 1))[1])
    run = student_mod.train_student(ds, split, "glnn+rsd+adv", teacher, batch_size=0)
    assert run.config["terms"] == {"soft_label_kl": 1.0, "rsd": 0.1, "adversarial_kl": 0.1}
    assert run.config["adv_eps"] == 0.05 and run.config["adv_steps"] == 3


# ------------------------------------------------------------------------------- checkpoints and prediction


@pytest.fixture(scope="module")
def pos_run(tmp_path_factory):
    """A tiny position-aware run (``mlp+pos``: no teacher) on bundled cora, inductive seed 0, checkpoints kept."""
    import g2m

    out = tmp_path_factory.mktemp("posrun")
    g2m.distill("cora", method="mlp+pos", seeds=1, setting="ind", output=out,
                student_params={"max_epochs": 5, "patience": 5, "position_dim": 8, "walks_per_node": 1,
                                "walk_length": 10})
    return out


def test_position_aware_checkpoint_predicts_new_nodes_from_their_edges(pos_run, tmp_path):
    from typer.testing import CliRunner

    from g2m.checkpoints import evaluate_run, load_model
    from g2m.cli import app
    from g2m.distill.student import with_positions
    from g2m.predict import load_student

    ckpt_path = pos_run / "checkpoints" / "student-mlp+pos-ind-seed0.pt"
    model, ckpt = load_model(ckpt_path)
    ds = load_dataset("cora")
    assert ckpt["in_channels"] == ds.num_features + 8 and ckpt["num_features"] == ds.num_features
    assert ckpt["positions"].shape == (ckpt["observed"].numel(), 8)
    student = load_student(ckpt_path)
    x = ds.data.x[:3].numpy()
    with pytest.raises(ConfigError, match="position-aware"):
        student.predict(x)
    # new row 0 links to training nodes a and b, row 1 to nothing, row 2 to a only
    a, b = ckpt["observed"][:2].tolist()
    edges = np.array([[a, b, a], [0, 0, 2]])
    augmented = student.with_positions(x, edges)
    pos = ckpt["positions"]
    np.testing.assert_allclose(augmented[0, -8:], ((pos[0] + pos[1]) / 2).numpy(), rtol=1e-6)
    np.testing.assert_allclose(augmented[1, -8:], np.zeros(8))
    np.testing.assert_allclose(augmented[2, -8:], pos[0].numpy(), rtol=1e-6)
    with torch.no_grad():
        expected = model(with_positions(torch.as_tensor(x), torch.as_tensor(augmented[:, -8:]))).softmax(-1).numpy()
    np.testing.assert_allclose(student.predict_proba(x, edges=edges), expected, atol=1e-5)
    with pytest.raises(ConfigError, match="out of range"):
        student.predict(x, edges=np.array([[a], [3]]))
    # the CLI reads the edges as rows (training node, new row)
    np.save(tmp_path / "x.npy", x)
    np.savetxt(tmp_path / "edges.csv", edges.T, delimiter=",", fmt="%d")
    result = CliRunner().invoke(app, ["predict", str(ckpt_path), "-x", str(tmp_path / "x.npy"), "--edges",
                                      str(tmp_path / "edges.csv"), "-o", str(tmp_path / "p.npy")])
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), expected, atol=1e-5)
    # a run folder re-evaluates its position-aware student as it was evaluated in training
    metrics = json.loads((pos_run / "metrics.json").read_text())
    again = evaluate_run(pos_run, device="cpu")["models"]["student (mlp+pos)"]
    assert again["inductive"]["mean"] == pytest.approx(metrics["student"]["inductive"]["mean"])



def test_speed_benchmark_computes_positions_as_training_evaluated_them(pos_run):
    from g2m.bench.runners import PositionInputs
    from g2m.checkpoints import load_model

    _, ckpt = load_model(pos_run / "checkpoints" / "student-mlp+pos-ind-seed0.pt")
    data = load_dataset("cora").data
    x = data.x.to_dense() if data.x.layout != torch.strided else data.x
    local = torch.full((data.num_nodes,), -1, dtype=torch.long)
    local[ckpt["observed"]] = torch.arange(ckpt["observed"].numel())
    expected = all_positions(ckpt["positions"], local, data.edge_index)
    inputs = PositionInputs(x, ckpt, data.edge_index, data.num_nodes)
    nodes = torch.tensor([int(node_split(load_dataset("cora"), 0, "ind").test_ind[0]), 0, 5, 0])
    got = inputs(nodes)
    assert torch.equal(got[:, :x.size(1)], x[nodes])
    torch.testing.assert_close(got[:, x.size(1):], expected[nodes])
    everything = inputs(torch.arange(data.num_nodes))
    torch.testing.assert_close(everything[:, x.size(1):], expected)


def test_cached_positions_are_deepwalks_and_keyed_by_graph_settings_and_seed():
    from g2m.distill import position

    position._CACHE.clear()
    ei = path_graph(6)
    kw = dict(position_dim=4, walk_length=5, walks_per_node=2)
    first = position.cached_deepwalk(ei, 6, 1, **kw)
    assert torch.equal(first, deepwalk(ei, 6, seed=1, **kw))
    assert position.cached_deepwalk(ei, 6, 1, **kw) is first  # served from the cache
    assert not torch.equal(position.cached_deepwalk(ei, 6, 2, **kw), first)
    assert position.cached_deepwalk(ei, 6, 1, **{**kw, "position_dim": 3}).shape == (6, 3)
    other = ei.clone()
    other[1, 0] = 3  # another graph with the same shape is not served the cached positions
    assert torch.equal(position.cached_deepwalk(other, 6, 1, **kw), deepwalk(other, 6, seed=1, **kw))
    for seed in range(position.CACHE_SIZE + 2):
        position.cached_deepwalk(ei, 6, 100 + seed, **kw)
    assert len(position._CACHE) == position.CACHE_SIZE


def test_similarity_loss_by_hand_on_rows_of_different_lengths():
    s = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]])
    t = torch.tensor([[2.0, 1.0, 0.0], [0.0, 1.0, 1.0], [1.0, -1.0, 2.0]])

    def cosine_matrix(rows):
        return torch.tensor([[float(a @ b / (a.norm() * b.norm())) for b in rows] for a in rows])

    expected = ((cosine_matrix(t) - cosine_matrix(s)) ** 2).mean()  # squared differences, rows normalised
    assert similarity_loss(s, t).item() == pytest.approx(expected.item(), rel=1e-5)


def test_one_pgd_step_by_hand():
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 5)  # 5 classes: with 2, the gradient's signs would not depend on the temperature
    x, target, eps = torch.randn(32, 4), torch.randn(32, 5) * 3, 0.2
    torch.manual_seed(5)
    start = adversarial_delta(net, x, target, eps, steps=0)  # the random start alone (0 steps is allowed)
    d = start.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(kl_with_temperature(net(x + d), target, 1.0), d)
    expected = (start + eps / 2 * grad.sign()).clamp(-eps, eps)
    torch.manual_seed(5)
    assert torch.allclose(adversarial_delta(net, x, target, eps, steps=1), expected)  # default temperature 1
    torch.manual_seed(5)
    assert not torch.allclose(adversarial_delta(net, x, target, eps, steps=1, tau=2.0), expected)


def test_random_start_fills_the_ball_and_coordinates_without_gradient_stay_there():
    torch.manual_seed(0)
    net = Linear()
    with torch.no_grad():
        net.lin.weight[:, 2] = 0.0  # the student ignores feature 2: its gradient is exactly zero
    x, target, eps = torch.randn(4000, 3), torch.randn(4000, 2), 0.1
    torch.manual_seed(1)
    start = adversarial_delta(net, x, target, eps, steps=0)
    assert start.abs().max() <= eps and abs(start.mean().item()) < 0.05 * eps
    assert start.min() < -0.9 * eps and start.max() > 0.9 * eps  # uniform on [-eps, eps]
    torch.manual_seed(1)
    moved = adversarial_delta(net, x, target, eps, steps=3)
    assert torch.equal(moved[:, 2], start[:, 2])
    assert not torch.equal(moved[:, :2], start[:, :2])


def test_rsd_needs_the_teachers_hidden_representations():
    student = type("S", (), {"hidden_channels": 7})()
    with pytest.raises(ConfigError) as info:
        LOSSES.get("rsd").build(student, {"logits": torch.zeros(3, 2)}, {})
    assert str(info.value) == ("rsd needs the teacher's hidden representations, and this teacher has none: pass "
                               "outputs with a hidden layer (hidden=..., hidden.npy) or a model that returns "
                               "(logits, hidden); an average of teachers (-t sage+appnp) has none either: use one "
                               "family or -t auto.")


def test_deepwalk_defaults_are_the_configured_ones_and_every_setting_is_checked_by_name():
    import inspect

    from g2m.distill.position import POSITION_DEFAULTS, position_config

    params = inspect.signature(deepwalk).parameters
    assert {k: params[k].default for k in POSITION_DEFAULTS} == POSITION_DEFAULTS
    # and behaviourally: no settings = the configured ones (110 nodes x 5 walks: more than one batch of walks)
    ring = torch.cat([path_graph(110), torch.tensor([[109, 0], [0, 109]])], dim=1)
    assert torch.equal(deepwalk(ring, 110, seed=0), deepwalk(ring, 110, seed=0, **POSITION_DEFAULTS))
    assert position_config({}) == POSITION_DEFAULTS
    assert position_config({"position_dim": 8, "other": 1}) == {**POSITION_DEFAULTS, "position_dim": 8}
    for name in ("position_dim", "walk_length", "walks_per_node", "window", "position_epochs", "position_batch_walks"):
        with pytest.raises(ConfigError, match=rf"^{name} must be at least 1, got 0"):
            deepwalk(path_graph(4), 4, **{name: 0})
    assert deepwalk(path_graph(4), 4, walk_length=2, position_dim=2).shape == (4, 2)  # the shortest walk


def test_deepwalk_without_a_seed_follows_torch_and_walks_survive_edge_cases():
    kw = dict(position_dim=3, walk_length=4, walks_per_node=2)
    torch.manual_seed(7)
    assert torch.equal(deepwalk(path_graph(5), 5, **kw), deepwalk(path_graph(5), 5, seed=7, **kw))
    empty = torch.zeros(2, 0, dtype=torch.long)
    assert (random_walks(empty, 3, 4, 1) == torch.arange(3).unsqueeze(1)).all()  # no edges: everyone stays
    one = torch.tensor([[0], [1]])  # a single edge 0 -> 1; nodes 1 and 2 have no way out
    walks = random_walks(one, 3, 3, 2)
    assert walks[:, 1].tolist() == [1, 1, 2, 1, 1, 2]


def test_skipgram_pairs_with_a_window_longer_than_the_walk_and_with_no_pairs():
    centre, context = skipgram_pairs(torch.tensor([[1, 2, 3, 4]]), window=5)
    assert len(centre) == 2 * (3 + 2 + 1) and (1, 4) in set(zip(centre.tolist(), context.tolist()))
    centre, context = skipgram_pairs(torch.tensor([[1], [2]]), window=3)  # one-node walks: no pairs
    assert centre.shape == (0,) and context.shape == (0,)


def test_skipgram_training_starts_at_unit_norm_rows_and_touches_every_walk():
    from g2m.distill.position import train_skipgram

    walks = torch.arange(600).view(200, 3)  # 200 disjoint 3-node walks: a node moves only if its walk is used
    gen = torch.Generator().manual_seed(0)
    start = train_skipgram(walks, 600, 16, 1, 0, 0.1, 64, gen)  # no epoch: the initial embeddings
    assert start.pow(2).sum(1).mean().item() == pytest.approx(1.0, abs=0.1)
    trained = train_skipgram(walks, 600, 16, 1, 1, 0.1, 64, torch.Generator().manual_seed(0))
    moved = (trained - start).abs().sum(1) > 0
    assert moved.all()


def test_all_positions_keep_the_observed_dtype():
    full = all_positions(torch.tensor([[1.0], [2.0]], dtype=torch.float64), torch.tensor([0, 1, -1]),
                         torch.tensor([[0], [2]]))
    assert full.dtype == torch.float64 and full.view(-1).tolist() == [1.0, 2.0, 1.0]


def test_rsd_without_the_student_s_hidden_representation_is_a_config_error():
    inp = loss_input()
    inp.student_hidden = None
    with pytest.raises(ConfigError, match=r"^rsd needs the student's hidden representation\.$"):
        LOSSES.get("rsd")()(inp)


def test_adversarial_kl_needs_both_the_student_and_its_features():
    net, x = Linear(), torch.randn(6, 3)
    for extras in ({"student": net}, {"x": x}, {}):
        with pytest.raises(ConfigError, match=r"^adversarial_kl needs the student and its input features "
                                              r"\(LossInput\.student and \.x\)\.$"):
            LOSSES.get("adversarial_kl")()(loss_input(classes=2, **extras))


def test_adversarial_kl_reads_radius_steps_and_temperature_with_nosmog_defaults(monkeypatch):
    from g2m.distill import nosmog

    seen = []

    def spy(student, x, target, eps, steps, tau=1.0):
        seen.append((eps, steps, tau))
        return torch.zeros_like(x)

    monkeypatch.setattr(nosmog, "adversarial_delta", spy)
    net, x = Linear(), torch.randn(6, 3)
    for config in (None, {}, {"adv_eps": 0.2}, {"adv_steps": 1}, {"adv_eps": 0.0, "adv_steps": 0}):
        inp = loss_input(classes=2, student=net, x=x)
        inp.temperature = 2.0
        term = LOSSES.get("adversarial_kl")() if config is None else LOSSES.get("adversarial_kl").build(net, {}, config)
        term(inp)
    # no settings, or settings without them: NOSMOG's eps 0.05 and 3 steps; the batch's temperature, not 1
    assert seen == [(0.05, 3, 2.0), (0.05, 3, 2.0), (0.2, 3, 2.0), (0.05, 1, 2.0), (0.0, 0, 2.0)]
