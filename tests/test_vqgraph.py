"""VQGraph: quantizer behaviour, sparse structure loss, node-id alignment of soft-code targets, a cora run."""

from __future__ import annotations

import time

import pytest
import torch
from torch_geometric import seed_everything

from g2m.datasets import load_dataset, node_split
from g2m.distill import LossInput, train_student
from g2m.models.vq_tokenizer import VQTokenizerGNN, build_vq_model
from g2m.distill.vq_teacher import structure_loss, train_vq_teacher
from g2m.distill.vqgraph import soft_code_kl
from g2m.errors import ConfigError
from g2m.models import StudentMLP, build_teacher
from g2m.models.vq import VectorQuantizer, code_similarity, kmeans, soft_code_assignment
from g2m.teacher import train_teacher

FAST = dict(max_epochs=30, patience=10)


@pytest.fixture(scope="module")
def cora():
    return load_dataset("cora")  # bundled


def test_assignment_is_nearest_code():
    torch.manual_seed(0)
    vq = VectorQuantizer(16, 4, kmeans_init=False).eval()
    z = torch.randn(100, 4)
    _, codes, _ = vq(z)
    brute = torch.cdist(z, vq.codebook).argmin(-1)
    assert torch.equal(codes, brute)
    assert torch.allclose(code_similarity(z, vq.codebook), -torch.cdist(z, vq.codebook) ** 2, atol=1e-4)


def test_straight_through_and_commitment():
    vq = VectorQuantizer(4, 3, kmeans_init=False).eval()
    z = torch.randn(10, 3, requires_grad=True)
    q, codes, commit = vq(z)
    assert torch.allclose(q, vq.codebook[codes])
    (q.sum() + commit).backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_ema_update_moves_codes_towards_assigned_vectors():
    vq = VectorQuantizer(2, 2, decay=0.5, kmeans_init=False, revive_every=0)
    vq.codebook.copy_(torch.tensor([[0.0, 0.0], [10.0, 10.0]]))
    vq.ema_sum.copy_(vq.codebook * vq.ema_count[:, None])
    z = torch.tensor([[1.0, 1.0], [1.2, 0.8], [9.0, 9.0]])
    before = vq.codebook.clone()
    vq.train()
    for _ in range(20):
        vq(z)
    target = torch.tensor([[1.1, 0.9], [9.0, 9.0]])
    assert ((vq.codebook - target).norm(dim=1) < (before - target).norm(dim=1)).all()
    assert torch.allclose(vq.codebook, target, atol=1e-2)


def test_kmeans_init_from_data():
    torch.manual_seed(0)
    centres = torch.tensor([[5.0, 0.0], [-5.0, 0.0], [0.0, 5.0]])
    z = torch.cat([c + 0.1 * torch.randn(50, 2) for c in centres])
    vq = VectorQuantizer(3, 2).train()
    vq(z)
    # every true centre has a code within 0.5 of it
    d = torch.cdist(centres, vq.codebook).min(dim=1).values
    assert (d < 0.5).all(), d
    assert kmeans(z, 3).shape == (3, 2)


def test_dead_code_revival():
    torch.manual_seed(0)
    vq = VectorQuantizer(8, 2, decay=0.5, kmeans_init=False, dead_threshold=0.05, revive_every=5)
    vq.codebook.copy_(torch.tensor([[0.0, 0.0]] + [[100.0, 100.0]] * 7))
    vq.ema_sum.copy_(vq.codebook * vq.ema_count[:, None])
    z = torch.randn(64, 2)
    vq.train()
    for _ in range(5):
        vq(z)
    assert vq.revived == 7
    # revived codes sit on data and now win assignments
    assert (vq.codebook.abs() < 10).all()
    assert vq.usage(vq.assign(z))["used_codes"] > 1


def test_structure_loss_is_sparse_on_a_huge_graph():
    n = 200_000  # a dense N×N float matrix would take 160 GB
    model = VQTokenizerGNN(build_teacher("sage", 8, 3, hidden_channels=16), 8, codebook_size=8, code_dim=8)
    q = torch.randn(n, 8, requires_grad=True)
    edge_index = torch.randint(n, (2, 1000))
    start = time.perf_counter()
    loss = structure_loss(model, q, edge_index, n, neg_ratio=2)
    loss.backward()
    assert time.perf_counter() - start < 5.0
    assert torch.isfinite(loss) and q.grad is not None
    assert int((q.grad.abs().sum(1) > 0).sum()) <= 3 * 2 * 1000  # only endpoints of sampled pairs


def test_soft_code_targets_follow_node_ids_under_shuffling():
    torch.manual_seed(0)
    n, k, d = 50, 6, 4
    codebook = torch.randn(k, d)
    code_z = torch.randn(n, d)
    teacher = {"code_z": code_z, "codebook": codebook, "logits": torch.randn(n, 3)}
    perm = torch.randperm(n)[:20]
    inp = LossInput(nodes=perm, student_logits=torch.randn(20, 3), student_hidden=code_z[perm], teacher=teacher,
                    labels=torch.zeros(n, dtype=torch.long), train_mask=torch.zeros(n, dtype=torch.bool),
                    )
    assert float(soft_code_kl(inp, code_temperature=0.5)) < 1e-5  # student == teacher for the same node ids
    wrong = LossInput(**{**inp.__dict__, "student_hidden": code_z[:20]})  # rows by batch position
    assert float(soft_code_kl(wrong, code_temperature=0.5)) > 1e-2
    targets = soft_code_assignment(code_z[perm], codebook, 0.5)
    assert torch.allclose(targets.sum(-1), torch.ones(20))


@pytest.mark.slow
def test_vqgraph_minibatch_student_and_errors(cora):
    split = node_split(cora, 0, "tran")
    seed_everything(0)
    t = train_vq_teacher(cora, split, "sage", codebook_size=32, code_dim=16, max_epochs=5, patience=5, vq_epochs=5)
    assert bool(t.model.quantizer.initialised)
    assert t.extra_knowledge["code_z"].shape == (split.observed.numel(), 16)
    assert t.extra_knowledge["codebook"].shape == (32, 16)
    codes = t.extra_knowledge["codes"]  # usage is reported for exactly these codes
    assert t.extra_metrics["used_codes"] == codes.unique().numel()
    assert t.extra_metrics["code_counts"] == torch.bincount(codes, minlength=32).tolist()
    s = train_student(cora, split, "vqgraph", t, batch_size=512, max_epochs=3, patience=3)
    assert set(s.config["terms"]) == {"soft_label_kl", "soft_code_kl"} and "code_temperature" in s.config
    assert isinstance(s.model, StudentMLP)  # the code projection is trained alongside, not saved with it
    assert set(s.model.state_dict()) == set(StudentMLP(cora.num_features, 128, cora.num_classes).state_dict())
    with pytest.raises(ConfigError):
        train_vq_teacher(cora, split, "sage", codebook_size=0)
    std = train_teacher(cora, split, "sage", max_epochs=2, patience=2)
    with pytest.raises(ConfigError, match="VQ teacher"):
        train_student(cora, split, "vqgraph", std, max_epochs=2)


@pytest.mark.slow
@pytest.mark.parametrize("teacher", ["gcn", "gat", "appnp"])
def test_every_teacher_can_be_tokenized(cora, teacher):
    split = node_split(cora, 0, "ind")
    seed_everything(0)
    t = train_vq_teacher(cora, split, teacher, codebook_size=16, code_dim=8, max_epochs=2, patience=2, vq_epochs=2)
    assert {"val", "test", "test_ind"} <= set(t.metrics)
    kw = {k: t.config[k] for k in ("hidden_channels", "num_layers", "dropout", "heads", "attn_dropout", "K", "alpha",
                                   "codebook_size", "code_dim") if k in t.config}
    rebuilt = build_vq_model(cora.num_features, cora.num_classes, teacher, **kw)
    rebuilt.load_state_dict(t.model.state_dict())  # `g2m evaluate` can rebuild it


@pytest.mark.slow
def test_short_cora_run_vqgraph_beats_plain_mlp(cora):
    split = node_split(cora, 0, "tran")
    seed_everything(0)
    t = train_vq_teacher(cora, split, "sage", max_epochs=60, patience=20, vq_epochs=30, vq_patience=15)
    seed_everything(0)
    vq = train_student(cora, split, "vqgraph", t, max_epochs=150, patience=30)
    seed_everything(0)
    mlp = train_student(cora, split, "mlp", max_epochs=150, patience=30)
    assert vq.metrics["test"] > mlp.metrics["test"] + 10.0, (vq.metrics, mlp.metrics)


# --- fast code search and soft-code loss (issue 11) ----------------------------------------------------
def test_chunked_nearest_code_equals_brute_force():
    from g2m.models.vq import nearest_code

    gen = torch.Generator().manual_seed(0)
    z, codebook = torch.randn(1037, 16, generator=gen), torch.randn(300, 16, generator=gen)
    brute = torch.cdist(z, codebook).argmin(-1)
    for chunk in (1, 100, 512, 5000):
        assert torch.equal(nearest_code(z, codebook, chunk=chunk), brute)


def _reference_soft_code_kl(h, code_z, codebook, tau):
    """The paper's formula written plainly: KL(p_t ‖ p_s), p = softmax(−‖z − c‖² / τ)."""
    log_s = torch.log_softmax(-torch.cdist(h, codebook) ** 2 / tau, -1)
    log_t = torch.log_softmax(-torch.cdist(code_z, codebook) ** 2 / tau, -1).detach()
    return (log_t.exp() * (log_t - log_s)).sum(-1).mean()


@pytest.mark.parametrize("cached", [False, True])
def test_fast_soft_code_kl_equals_the_reference_formula(cached):
    from g2m.distill.losses import LossInput
    from g2m.distill.vqgraph import soft_code_kl

    gen = torch.Generator().manual_seed(1)
    n, k, d, tau = 50, 40, 8, 0.7
    code_z, codebook = torch.randn(n, d, generator=gen), torch.randn(k, d, generator=gen)
    nodes = torch.tensor([3, 17, 4, 42, 0])
    h1 = torch.randn(len(nodes), d, generator=gen, requires_grad=True)
    h2 = h1.detach().clone().requires_grad_(True)
    cache = {} if cached else None
    inp = LossInput(nodes=nodes, student_logits=torch.zeros(len(nodes), 3), student_hidden=h1,
                    teacher={"codebook": codebook, "code_z": code_z}, labels=torch.zeros(n, dtype=torch.long),
                    train_mask=torch.zeros(n, dtype=torch.bool),
                    cache=cache)
    fast = soft_code_kl(inp, code_temperature=tau)
    ref = _reference_soft_code_kl(h2, code_z[nodes], codebook, tau)
    assert fast.item() == pytest.approx(ref.item(), rel=1e-4, abs=1e-5)
    fast.backward()
    ref.backward()
    assert torch.allclose(h1.grad, h2.grad, atol=1e-5)
    if cached:
        assert len(cache) == 1  # teacher targets computed once for all nodes
        again = soft_code_kl(inp, code_temperature=tau)
        assert again.item() == pytest.approx(fast.item(), rel=1e-6)
    # the loss is KL(teacher ‖ student), not the reverse
    rev = (torch.log_softmax(-torch.cdist(h2, codebook) ** 2 / tau, -1).exp()
           * (torch.log_softmax(-torch.cdist(h2, codebook) ** 2 / tau, -1)
              - torch.log_softmax(-torch.cdist(code_z[nodes], codebook) ** 2 / tau, -1))).sum(-1).mean()
    assert abs(rev.item() - fast.item()) > 1e-3


def test_cosine_codebook_keeps_unit_codes_and_picks_the_most_similar():
    torch.manual_seed(0)
    vq = VectorQuantizer(16, 4, decay=0.5, metric="cosine", revive_every=0)
    z = torch.randn(200, 4) * torch.rand(200, 1) * 10  # lengths vary; only directions matter
    q, codes, _ = vq(z)
    assert torch.allclose(vq.codebook.norm(dim=-1), torch.ones(16), atol=1e-5)  # renormalised after EMA
    sims = torch.nn.functional.normalize(z, dim=-1) @ vq.codebook.t()
    assert torch.equal(vq.assign(z), sims.argmax(-1))
    assert torch.equal(vq.assign(3.0 * z), vq.assign(z))  # scale-invariant, unlike the Euclidean codebook
    assert torch.allclose(q.norm(dim=-1), torch.ones(200), atol=1e-5)
    with pytest.raises(ValueError, match="metric must be one of"):
        VectorQuantizer(4, 4, metric="manhattan")


@pytest.mark.slow
def test_cosine_vqgraph_teacher_and_student_use_unit_vectors(cora):
    split = node_split(cora, 0, "tran")
    seed_everything(0)
    t = train_vq_teacher(cora, split, "sage", codebook_size=16, code_dim=8, code_metric="cosine", max_epochs=3,
                         patience=3, vq_epochs=3)
    assert bool(t.extra_knowledge["code_unit_norm"])
    assert torch.allclose(t.extra_knowledge["code_z"].norm(dim=-1), torch.ones(split.observed.numel()), atol=1e-4)
    s = train_student(cora, split, "vqgraph", t, batch_size=512, max_epochs=2, patience=2)
    assert s.config["terms"]["soft_code_kl"] > 0
    with pytest.raises(ConfigError, match="code_metric"):
        train_vq_teacher(cora, split, "sage", code_metric="l1", max_epochs=1)


def test_soft_code_kl_normalises_the_student_for_a_cosine_codebook():
    from g2m.distill.losses import LossInput
    from g2m.distill.vqgraph import soft_code_kl

    gen = torch.Generator().manual_seed(2)
    code_z = torch.nn.functional.normalize(torch.randn(30, 6, generator=gen), dim=-1)
    codebook = torch.nn.functional.normalize(torch.randn(12, 6, generator=gen), dim=-1)
    h = torch.randn(5, 6, generator=gen)

    def loss(hidden, unit):
        teacher = {"code_z": code_z, "codebook": codebook, "code_unit_norm": torch.tensor(unit)}
        return float(soft_code_kl(LossInput(nodes=torch.arange(5), student_logits=torch.zeros(5, 2),
                                            student_hidden=hidden, teacher=teacher, labels=torch.zeros(30).long(),
                                            train_mask=torch.zeros(30, dtype=torch.bool)),
                                   code_temperature=0.5))

    assert loss(h, True) == pytest.approx(loss(4.0 * h, True), rel=1e-5)  # only the direction counts
    assert loss(h, False) != pytest.approx(loss(4.0 * h, False), rel=1e-3)


# --- tokenizer options, label source, collapse guard (issue 11) -------------------------------------------
@pytest.mark.parametrize("mode, q_val, p_val, expected", [
    ("auto", 80.0, 81.0, "quantized"),   # exactly one point below: still the quantized teacher
    ("auto", 79.9, 81.0, "plain"),       # more than one point below
    ("auto", 82.0, 81.0, "quantized"),
    ("auto", 70.0, None, "quantized"),   # no plain teacher to compare with
    ("plain", 90.0, 81.0, "plain"),
    ("quantized", 10.0, 81.0, "quantized"),
])
def test_label_source_rule(mode, q_val, p_val, expected):
    from g2m.distill.vq_teacher import choose_label_source

    assert choose_label_source(mode, q_val, p_val, 1.0) == expected


@pytest.mark.slow
def test_plain_labels_warm_start_and_the_same_plain_teacher(cora):
    split = node_split(cora, 0, "tran")
    seed_everything(0)
    short = dict(max_epochs=10, patience=10)
    plain = train_teacher(cora, split, "sage", **short)  # what the "standard" trainer makes for this seed
    runs = {}
    for source, warm in (("plain", True), ("quantized", True), ("quantized", False)):
        seed_everything(0)
        runs[source, warm] = train_vq_teacher(cora, split, "sage", codebook_size=16, code_dim=8, warmup=False,
                                              vq_epochs=1, label_source=source, warm_start=warm, **short)
    t = runs["plain", True]
    assert torch.equal(t.logits, plain.logits)  # the student learns the plain teacher's labels …
    assert t.extra_metrics["plain_labels"] == 1.0 and t.extra_metrics["plain_val"] == plain.metrics["val"]
    assert t.extra_knowledge["codes"].shape == (split.observed.numel(),)  # … and the tokenizer's codes
    q = runs["quantized", True]
    assert q.extra_metrics["plain_labels"] == 0.0 and not torch.equal(q.logits, plain.logits)
    with torch.no_grad():
        assert torch.allclose(q.logits, q.model(_obs_x(cora, split), _obs_edges(cora, split)), atol=1e-4)
    # warm start: one tokenizer epoch from the plain teacher's weights stays next to them (Adam, lr 0.01)
    w_plain = plain.model.convs[0].lin_l.weight if hasattr(plain.model.convs[0], "lin_l") else None
    w_plain = w_plain if w_plain is not None else next(plain.model.convs[0].parameters())
    w_warm = _same_param(q.model.gnn, plain.model, w_plain)
    w_cold = _same_param(runs["quantized", False].model.gnn, plain.model, w_plain)
    assert (w_warm - w_plain).abs().max() < 0.05 < (w_cold - w_plain).abs().max()
    assert "plain_val" not in runs["quantized", False].extra_metrics  # no plain teacher was trained


def _obs_x(ds, split):
    from g2m.graph_inputs import as_model_input

    return as_model_input(split.observed_graph(ds.data)[0].x)


def _obs_edges(ds, split):
    return split.observed_graph(ds.data)[0].edge_index


def _same_param(module, reference, param):
    name = next(n for n, p in reference.named_parameters() if p is param)
    return dict(module.named_parameters())[name].detach()


def test_code_layer_first_quantizes_the_first_layer_output(cora):
    torch.manual_seed(0)
    gnn = build_teacher("sage", cora.num_features, cora.num_classes, hidden_channels=16, num_layers=3)
    x, ei = cora.data.x, cora.data.edge_index
    for layer, expected in (("first", lambda: gnn.hidden_layers(x, ei, 0, 1)), ("embedding", lambda: gnn.encode(x, ei))):
        net = VQTokenizerGNN(gnn, cora.num_features, codebook_size=8, code_dim=4, code_layer=layer).eval()
        seen = {}
        net.pre.register_forward_hook(lambda mod, inp, out: seen.update(h=inp[0]))  # returns None: output kept
        net.quantizer.init_codebook(torch.randn(50, 4))
        with torch.no_grad():
            net.tokenize(x, ei)
            assert torch.allclose(seen["h"], expected(), atol=1e-5), layer
    with pytest.raises(ConfigError, match="code_layer"):
        VQTokenizerGNN(gnn, cora.num_features, code_layer="last")


def test_tokenizer_minibatches_cover_every_node_and_label_only_training_nodes(cora):
    from g2m.distill.vq_teacher import _tokenizer_batches
    from g2m.graph_inputs import graph_input

    split = node_split(cora, 0, "tran")
    obs, local = split.observed_graph(cora.data)
    gnn = build_teacher("sage", cora.num_features, cora.num_classes, hidden_channels=8)
    train_idx = local[split.train]
    epoch = _tokenizer_batches(gnn, obs.x, obs.edge_index, train_idx, obs.y, fan_out=3, batch_size=300,
                               graph=graph_input(gnn, obs.edge_index, obs.num_nodes))
    labelled = []
    for xb, gb, eb, ce_pos, ce_y in epoch():
        assert xb.size(0) >= ce_pos.numel() and (eb.max() < xb.size(0) if eb.numel() else True)
        assert torch.bincount(eb[1], minlength=xb.size(0)).max() <= 3  # fan-out per node
        labelled.append(ce_y)
    assert torch.cat(labelled).sort().values.tolist() == obs.y[train_idx].sort().values.tolist()
    (full,) = list(_tokenizer_batches(gnn, obs.x, obs.edge_index, train_idx, obs.y, 3, 0, None)())
    assert torch.bincount(full[2][1], minlength=obs.num_nodes).max() <= 3 and torch.equal(full[3], train_idx)


@pytest.mark.slow
def test_minibatch_tokenizer_trains_and_reports_both_teachers(cora):
    split = node_split(cora, 0, "tran")
    seed_everything(0)
    t = train_vq_teacher(cora, split, "sage", codebook_size=32, code_dim=8, tokenizer_batch_size=512,
                         tokenizer_fan_out=5, vq_epochs=2, max_epochs=2, patience=2)
    assert {"quantized_val", "quantized_test", "plain_val", "plain_test", "plain_labels"} <= set(t.extra_metrics)
    assert t.extra_metrics["quantized_val"] == t.metrics["val"]
    with pytest.raises(ConfigError, match="tokenizer_batch_size"):
        train_vq_teacher(cora, split, "sage", tokenizer_batch_size=-1)
    with pytest.raises(ConfigError, match="label_source"):
        train_vq_teacher(cora, split, "sage", label_source="teacher")


@pytest.mark.slow
def test_codebook_usage_stays_above_a_floor(cora):
    """Collapse guard: a short tokenizer run on cora keeps many of its 64 codes in use."""
    split = node_split(cora, 0, "tran")
    seed_everything(0)
    t = train_vq_teacher(cora, split, "sage", codebook_size=64, code_dim=16, max_epochs=40, patience=10,
                         vq_epochs=20, vq_patience=20)
    assert t.extra_metrics["used_codes"] >= 32 and t.extra_metrics["perplexity"] >= 16, t.extra_metrics


# --- hand-computed quantizer and tokenizer losses (issue 17 survivors) ------------------------------------
def test_one_ema_step_by_hand():
    vq = VectorQuantizer(2, 1, decay=0.8, eps=0.0, kmeans_init=False, revive_every=0)
    vq.codebook.copy_(torch.tensor([[0.0], [10.0]]))
    vq.ema_count.copy_(torch.tensor([1.0, 1.0]))
    vq.ema_sum.copy_(torch.tensor([[0.0], [10.0]]))
    vq.train()
    vq(torch.tensor([[1.0], [3.0], [9.0]]))  # codes 0, 0, 1
    # count: 0.8·1 + 0.2·2 = 1.2 and 0.8·1 + 0.2·1 = 1.0; sum: 0.8·0 + 0.2·4 = 0.8 and 0.8·10 + 0.2·9 = 9.8
    assert torch.allclose(vq.ema_count, torch.tensor([1.2, 1.0]))
    assert torch.allclose(vq.ema_sum, torch.tensor([[0.8], [9.8]]))
    assert torch.allclose(vq.codebook, torch.tensor([[0.8 / 1.2], [9.8]]))


def test_commitment_gradient_reaches_the_encoder_only():
    vq = VectorQuantizer(2, 2, beta=0.25, kmeans_init=False).eval()
    vq.codebook.copy_(torch.tensor([[0.0, 0.0], [4.0, 4.0]]))
    z = torch.tensor([[1.0, 0.0], [3.0, 5.0]], requires_grad=True)
    _, codes, commit = vq(z)
    assert codes.tolist() == [0, 1]
    # 0.25 · mean((z − q)²) = 0.25 · (1 + 0 + 1 + 1) / 4
    assert float(commit) == pytest.approx(0.25 * 3 / 4)
    commit.backward()
    q = vq.codebook[codes]
    assert torch.allclose(z.grad, 0.25 * 2 * (z.detach() - q) / 4)  # d/dz of beta·mse(z, sg(q))
    assert not vq.codebook.requires_grad  # codes move by EMA only


def test_structure_loss_by_hand_on_three_nodes():
    model = VQTokenizerGNN(build_teacher("sage", 2, 2, hidden_channels=4), 2, codebook_size=2, code_dim=2)
    with torch.no_grad():
        model.structure_decoder.weight.copy_(torch.eye(2))
        model.structure_decoder.bias.zero_()
    q = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    edges = torch.tensor([[0], [1]])  # nodes 0 and 1 (same code) are linked
    torch.manual_seed(3)
    loss = structure_loss(model, q, edges, 3)
    torch.manual_seed(3)
    neg = torch.randint(3, (2, 1))
    pos_score = torch.tensor(1.0 / 2 ** 0.5)
    neg_score = (q[neg[0]] * q[neg[1]]).sum() / 2 ** 0.5
    expected = 0.5 * (torch.nn.functional.softplus(-pos_score) + torch.nn.functional.softplus(neg_score))
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)  # edges labelled 1, non-edges 0


def test_usage_by_hand():
    vq = VectorQuantizer(4, 2, kmeans_init=False)
    usage = vq.usage(torch.tensor([0, 0, 1, 1]))
    assert usage["perplexity"] == pytest.approx(2.0) and usage["used_codes"] == 2 and usage["dead_codes"] == 2
    assert vq.usage(torch.tensor([0, 1, 2, 3]))["perplexity"] == pytest.approx(4.0)


# --- quantizer functions by hand, defaults and argument checks (issue 17, vq.py survivors) ---------------
def test_code_logits_and_soft_assignment_by_hand():
    from g2m.models.vq import code_logits

    z = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    codebook = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    sq = torch.tensor([[1.0, 1.0, 5.0], [4.0, 2.0, 0.0]])  # ‖z − c‖² per row and code
    # code_logits drops −‖z‖² (1 and 4 per row): logits = −‖z − c‖² + ‖z‖², default temperature 1
    assert torch.allclose(code_logits(z, codebook), -sq + torch.tensor([[1.0], [4.0]]))
    assert torch.allclose(code_logits(z, codebook, 0.5), 2.0 * (-sq + torch.tensor([[1.0], [4.0]])))
    expected = torch.softmax(-sq, -1)  # default temperature 1
    assert torch.allclose(soft_code_assignment(z, codebook), expected)
    expected_half = torch.softmax(-sq / 0.5, -1)  # the temperature divides the squared distances
    assert torch.allclose(soft_code_assignment(z, codebook, 0.5), expected_half)
    assert not torch.allclose(expected_half, expected, atol=1e-2)
    # log=True gives the log-probabilities over the codes of each row
    assert torch.allclose(soft_code_assignment(z, codebook, 0.5, log=True), expected_half.log(), atol=1e-6)
    assert torch.allclose(soft_code_assignment(z, codebook, log=True).exp().sum(-1), torch.ones(2))


def test_nearest_code_stays_on_the_input_device_and_computes_each_chunk_once(monkeypatch):
    from g2m.models.vq import nearest_code

    z, codebook = torch.randn(7, 3, device="meta"), torch.randn(4, 3, device="meta")
    assert nearest_code(z, codebook).device.type == "meta"  # the output is made on z's device
    calls = []
    real = torch.addmm
    monkeypatch.setattr(torch, "addmm", lambda *a, **k: calls.append(a[1].size(0)) or real(*a, **k))
    z, codebook = torch.randn(1100, 3), torch.randn(4, 3)
    assert torch.equal(nearest_code(z, codebook), torch.cdist(z, codebook).argmin(-1))
    assert calls == [512, 512, 76]  # default chunk of 512 rows, each row scored once
    calls.clear()
    nearest_code(z, codebook, chunk=600)
    assert calls == [600, 500]


def test_quantizer_defaults_beta_and_random_codebook_scale():
    torch.manual_seed(0)
    vq = VectorQuantizer(256, 64, kmeans_init=False).eval()
    # the random codebook has unit mean squared norm (randn / √d), on the scale of normalised encoder outputs
    assert 0.9 < float((vq.codebook ** 2).sum(-1).mean()) < 1.1
    vq.codebook.copy_(torch.zeros(256, 64))
    z = torch.ones(3, 64)
    _, _, commit = vq(z)
    assert float(commit) == pytest.approx(0.25)  # default beta 0.25 · mean((1 − 0)²)


def test_default_revival_schedule_and_threshold():
    vq = VectorQuantizer(2, 1, kmeans_init=False).train()  # decay 0.99, dead below 0.01, check every 10 updates
    vq.codebook.copy_(torch.tensor([[0.0], [50.0]]))
    vq.ema_sum.copy_(torch.tensor([[0.0], [50.0]]))
    vq.ema_count.copy_(torch.tensor([0.5, 0.5]))  # code 0: never assigned below, stays above 0.5·0.99¹⁰ ≈ 0.45
    z = torch.full((4, 1), 50.0)
    for _ in range(9):
        vq(z)
    assert vq.revived == 0 and int(vq.num_updates) == 9
    vq.ema_count[0] = 0.001  # now dead: revived on the 10th update
    vq(z)
    assert vq.revived == 1 and float(vq.codebook[0]) == 50.0
    vq.ema_count[0] = 0.5  # alive (≥ 0.01) although below 1, and never assigned: never revived
    vq.codebook[0], vq.ema_sum[0] = -50.0, -25.0
    for _ in range(10):
        vq(z)
    assert vq.revived == 1


def test_quantizer_argument_checks():
    VectorQuantizer(1, 1)  # one code of one dimension is valid
    for codes, dim in ((0, 4), (4, 0), (0, 0)):
        with pytest.raises(ValueError, match="^num_codes and embedding_dim must be positive$"):
            VectorQuantizer(codes, dim)
    with pytest.raises(ValueError, match="metric must be one of euclidean, cosine, got 'l1'"):
        VectorQuantizer(4, 4, metric="l1")
    VectorQuantizer(4, 4, decay=0.0)  # no memory: the codebook jumps to the batch means
    for decay in (1.0, 1.5, -0.1):
        with pytest.raises(ValueError, match=r"decay must be in \[0, 1\)"):
            VectorQuantizer(4, 4, decay=decay)
    vq = VectorQuantizer(4, 4, kmeans_init=False)
    for bad in (torch.randn(5, 3), torch.randn(2, 3, 4), torch.randn(4)):
        with pytest.raises(ValueError, match=r"expected \[N, 4\] inputs, got \(" + ", ".join(map(str, bad.shape))):
            vq(bad)


def test_cosine_quantizer_normalises_inputs_row_by_row():
    vq = VectorQuantizer(2, 2, beta=1.0, kmeans_init=False, metric="cosine").eval()
    vq.codebook.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    z = torch.tensor([[3.0, 4.0], [0.0, 2.0]])
    assert torch.allclose(vq.prepare(z), torch.tensor([[0.6, 0.8], [0.0, 1.0]]))
    _, codes, commit = vq(z)
    assert codes.tolist() == [1, 1]
    # commitment on the unit vectors: mean((0.6 − 0)², (0.8 − 1)², 0, 0) = 0.1
    assert float(commit) == pytest.approx(0.1)


# --- tokenizer construction, tokenize outputs, structure loss, target cache (issue 17, vqgraph.py survivors) ---
class _FlatGNN(torch.nn.Module):
    """A GNN-like module with an encode/classify split but no layer-by-layer interface and no num_layers."""

    hidden_channels = 6

    def __init__(self, num_layers=None):
        super().__init__()
        self.enc, self.cls = torch.nn.Linear(4, 6), torch.nn.Linear(6, 3)
        if num_layers is not None:
            self.num_layers = num_layers

    def encode(self, x, edge_index):
        return self.enc(x)

    def classify(self, h, edge_index):
        return self.cls(h)


def test_tokenizer_defaults_and_forwarded_quantizer_options():
    gnn = build_teacher("sage", 4, 3, hidden_channels=8)
    vq = VQTokenizerGNN(gnn, 4).quantizer
    assert (vq.num_codes, vq.embedding_dim, vq.decay, vq.beta, vq.dead_threshold, vq.revive_every, vq.metric) == \
        (512, 64, 0.95, 0.25, 1e-2, 10, "euclidean")
    net = VQTokenizerGNN(gnn, 4, codebook_size=5, code_dim=3, ema_decay=0.5, commitment=0.7, dead_threshold=0.2,
                         revive_every=3, code_metric="cosine")
    vq = net.quantizer
    assert (vq.num_codes, vq.embedding_dim, vq.decay, vq.beta, vq.dead_threshold, vq.revive_every, vq.metric) == \
        (5, 3, 0.5, 0.7, 0.2, 3, "cosine")
    assert (net.feature_decoder.in_features, net.feature_decoder.out_features) == (3, 4)  # code → input features
    assert net.split_at is None and net.code_layer == "embedding"


def test_tokenizer_construction_errors_and_code_layer_rule():
    with pytest.raises(ConfigError, match=r"^Linear has no encode/classify split; the VQ tokenizer needs one\.$"):
        VQTokenizerGNN(torch.nn.Linear(4, 3), 4)
    half = torch.nn.Linear(4, 3)
    half.encode = lambda x, ei: x  # encode without classify is not enough
    with pytest.raises(ConfigError, match="encode/classify"):
        VQTokenizerGNN(half, 4)
    with pytest.raises(ConfigError, match=r"^code_layer must be one of embedding, first, got 'last'\.$"):
        VQTokenizerGNN(_FlatGNN(), 4, code_layer="last")
    # "first" differs from "embedding" only with more than two layers
    assert VQTokenizerGNN(build_teacher("sage", 4, 3, hidden_channels=8), 4, code_layer="first").split_at is None
    assert VQTokenizerGNN(build_teacher("sage", 4, 3, hidden_channels=8, num_layers=3), 4,
                          code_layer="first").split_at == 1
    # a GNN without num_layers counts as two layers; without a layer-by-layer interface it still works on "embedding"
    for layer in ("embedding", "first"):
        net = VQTokenizerGNN(_FlatGNN(), 4, codebook_size=4, code_dim=2, code_layer=layer).eval()
        assert net.split_at is None
        net.quantizer.init_codebook(torch.randn(20, 2))
        assert net.tokenize(torch.randn(5, 4), torch.zeros(2, 0, dtype=torch.long))["logits"].shape == (5, 3)
    with pytest.raises(ConfigError, match=r"^code_layer 'first' needs a layer-by-layer GNN; _FlatGNN is not one\.$"):
        VQTokenizerGNN(_FlatGNN(num_layers=3), 4, code_layer="first")


def test_tokenize_outputs_with_and_without_quantization():
    torch.manual_seed(0)
    net = VQTokenizerGNN(build_teacher("sage", 4, 3, hidden_channels=8), 4, codebook_size=6, code_dim=2).eval()
    net.quantizer.init_codebook(torch.randn(30, 2))
    x, ei = torch.randn(7, 4), torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    out = net.tokenize(x, ei)  # quantized by default
    assert set(out) == {"z", "q", "codes", "commit", "logits"}
    assert out["z"].shape == (7, 2) and out["logits"].shape == (7, 3) and out["codes"].shape == (7,)
    assert torch.allclose(out["q"], net.codebook[out["codes"]]) and float(out["commit"]) > 0
    before = net.codebook.clone()
    net.train()
    plain = net.tokenize(x, ei, quantize=False)  # warm-up: z itself, no codes, no commitment, codebook untouched
    assert torch.equal(plain["q"], plain["z"]) and torch.equal(net.codebook, before)
    assert plain["codes"].dtype == torch.long and plain["codes"].tolist() == [0] * 7
    assert float(plain["commit"]) == 0.0 and plain["commit"].requires_grad
    assert plain["logits"].shape == (7, 3)


def test_structure_loss_edge_cases_and_subsampling(monkeypatch):
    model = VQTokenizerGNN(build_teacher("sage", 2, 2, hidden_channels=4), 2, codebook_size=2, code_dim=2)
    q = torch.randn(5, 2, requires_grad=True)
    empty = structure_loss(model, q, torch.zeros(2, 0, dtype=torch.long), 5)  # no edges: 0, not NaN
    assert float(empty) == 0.0
    empty.backward()
    assert torch.equal(q.grad, torch.zeros(5, 2))
    edges = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    seen = []
    real = model.edge_logits
    monkeypatch.setattr(model, "edge_logits", lambda qq, pairs: seen.append(pairs) or real(qq, pairs))
    structure_loss(model, q, edges, 5)  # default: every edge, one negative per edge
    assert torch.equal(seen[-1][:, :4], edges) and seen[-1].size(1) == 8
    structure_loss(model, q, edges, 5, neg_ratio=2, max_edges=3)  # three of the four edges, two negatives each
    pos = seen[-1][:, :3]
    assert seen[-1].size(1) == 9 and len({tuple(e) for e in pos.t().tolist()} & set(map(tuple, edges.t().tolist()))) == 3
    torch.manual_seed(5)
    all_edges = structure_loss(model, q, edges, 5)
    torch.manual_seed(5)
    assert float(structure_loss(model, q, edges, 5, max_edges=4)) == pytest.approx(float(all_edges))  # nothing to drop


def test_full_batch_tokenizer_epoch_resamples_onto_a_csr_graph():
    from g2m.distill.vq_teacher import _tokenizer_batches
    from g2m.graph_inputs import graph_input

    gnn = build_teacher("sage", 3, 2, hidden_channels=4)
    pairs = [(0, 1), (1, 2), (2, 3), (3, 0), (0, 2)]
    ei = torch.tensor(pairs + [(b, a) for a, b in pairs]).t()  # node 4 isolated
    x, y, train_idx = torch.randn(5, 3), torch.tensor([0, 1, 0, 1, 0]), torch.tensor([0, 4])
    torch.manual_seed(0)
    (batch,) = list(_tokenizer_batches(gnn, x, ei, train_idx, y, fan_out=1, batch_size=0, graph=None)())
    xb, gb, eb, ce_pos, ce_y = batch
    assert xb is x and torch.equal(ce_pos, train_idx) and torch.equal(ce_y, y[train_idx])
    assert torch.bincount(eb[1], minlength=5).max() <= 1
    assert gb.layout == torch.sparse_csr and gb.shape == (5, 5)
    assert torch.equal(gb.to_dense(), graph_input(gnn, eb, 5).to_dense())
    # minibatches: each batch is its seeds' computation subgraph, not the whole graph
    chain = torch.tensor([[i for i in range(9)] + [i + 1 for i in range(9)], [i + 1 for i in range(9)] + list(range(9))])
    sizes = [b[0].size(0) for b in _tokenizer_batches(gnn, torch.randn(10, 3), chain, torch.arange(10),
                                                      torch.zeros(10, dtype=torch.long), 0, 1, None)()]
    assert len(sizes) == 10 and max(sizes) <= 5  # two hops around one node of a path


def test_teacher_targets_are_cached_by_size_temperature_and_tensors(monkeypatch):
    from g2m.distill import vqgraph

    monkeypatch.setattr(vqgraph, "TEACHER_TARGET_CACHE_FLOATS", 12)
    g = torch.Generator().manual_seed(0)
    codebook = torch.randn(3, 5, generator=g)  # K = 3 codes of dimension 5
    nodes = torch.tensor([1, 0])
    for n, cached in ((4, True), (5, False)):  # N·K = 12 (at the limit: cached) and 15 (above: not)
        code_z = torch.randn(n, 5, generator=g)
        cache = {}
        p, neg = vqgraph.teacher_code_targets(code_z, codebook, 0.5, nodes, cache)
        assert bool(cache) is cached
        assert torch.allclose(p, soft_code_assignment(code_z[nodes], codebook, 0.5))
        assert torch.allclose(neg, (p * p.log()).sum(-1))
    cache = {}
    code_z = torch.randn(4, 5, generator=g)
    first = vqgraph.teacher_code_targets(code_z, codebook, 0.5, nodes, cache)[0]
    other = vqgraph.teacher_code_targets(code_z, codebook, 2.0, nodes, cache)[0]  # another temperature
    assert len(cache) == 2 and torch.allclose(other, soft_code_assignment(code_z[nodes], codebook, 2.0))
    assert not torch.allclose(first, other)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_structure_loss_and_tokenizer_batches_on_a_gpu():
    """Negative pairs, seed permutations, the training-node mask and feature-loss node subsets must be made on
    (or index) the inputs' device (a CPU-only run cannot see this)."""
    from g2m.distill.vq_teacher import _tokenizer_batches, feature_loss

    dev = torch.device("cuda")
    model = VQTokenizerGNN(build_teacher("sage", 3, 2, hidden_channels=4), 3, codebook_size=2, code_dim=2).to(dev)
    edges = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]], device=dev)
    assert torch.isfinite(structure_loss(model, torch.randn(5, 2, device=dev), edges, 5, max_edges=2))
    x = torch.randn(5, 3, device=dev)
    for features in (x, x.to_sparse_csr()):  # node subsets (randperm) and all nodes (arange), dense and CSR rows
        for recon in (2, 0):
            assert torch.isfinite(feature_loss(model, torch.randn(5, 2, device=dev), features, recon))
    batches = _tokenizer_batches(model.gnn, torch.randn(5, 3, device=dev), edges, torch.tensor([0, 3], device=dev),
                                 torch.zeros(5, dtype=torch.long, device=dev), 1, 2, None)
    assert sum(int(b[3].numel()) for b in batches()) == 2


# --- the tokenizer's training loop and its helpers, fast (issue 17: train_vq_teacher had only slow tests) ----
TINY_VQ = dict(codebook_size=8, code_dim=4)


class _NoStep:
    """An optimizer that changes nothing: one `step` call then only reports the loss of the current weights."""

    def zero_grad(self):
        pass

    def step(self):
        pass


def _observed(ds, split):
    from g2m.graph_inputs import as_model_input

    obs, local = split.observed_graph(ds.data)
    train, val, test = (local[i] for i in (split.train, split.val, split.test))
    return as_model_input(obs.x), obs.edge_index, obs.y, train, val, test


def _accuracy(logits, y):
    return float((logits.argmax(-1) == y).float().mean()) * 100.0


def test_check_vq_accepts_boundaries_and_names_each_bad_setting():
    from g2m.config import VQ_DEFAULTS
    from g2m.distill.vq_teacher import _check_vq

    ok = {**VQ_DEFAULTS, "codebook_size": 1, "code_dim": 1, "ema_decay": 0.0, "commitment": 0, "w_feat": 0.0,
          "w_struct": 0.5, "neg_ratio": 1, "code_layer": "first", "label_source": "plain", "tokenizer_fan_out": 0,
          "tokenizer_batch_size": 1}
    _check_vq(ok)  # every boundary value is valid
    _check_vq({**ok, "ema_decay": 0.5, "commitment": 0.5, "w_feat": 0.5, "tokenizer_fan_out": 1,
               "tokenizer_batch_size": 0})
    no_metric = dict(ok)
    del no_metric["code_metric"]  # a config without code_metric is Euclidean
    _check_vq(no_metric)
    _check_vq({**ok, "code_metric": "cosine"})
    bad = [
        ("codebook_size", 0, "codebook_size must be a positive integer, got 0."),
        ("codebook_size", 2.0, "codebook_size must be a positive integer, got 2.0."),
        ("code_dim", 0, "code_dim must be a positive integer, got 0."),
        ("code_dim", 3.0, "code_dim must be a positive integer, got 3.0."),
        ("ema_decay", 1.0, "ema_decay must be in [0, 1), got 1.0."),
        ("ema_decay", 1.5, "ema_decay must be in [0, 1), got 1.5."),
        ("ema_decay", -0.1, "ema_decay must be in [0, 1), got -0.1."),
        ("commitment", -0.5, "commitment must be non-negative, got -0.5."),
        ("w_feat", -1.0, "w_feat must be non-negative, got -1.0."),
        ("w_struct", -2.0, "w_struct must be non-negative, got -2.0."),
        ("code_metric", "l1", "code_metric must be 'euclidean' or 'cosine', got 'l1'."),
        ("neg_ratio", 0, "neg_ratio must be at least 1, got 0."),
        ("code_layer", "last", "code_layer must be one of embedding, first, got 'last'."),
        ("label_source", "teacher", "label_source must be one of auto, quantized, plain, got 'teacher'."),
        ("tokenizer_fan_out", -1, "tokenizer_fan_out must be a non-negative integer (0 = all), got -1."),
        ("tokenizer_fan_out", 1.5, "tokenizer_fan_out must be a non-negative integer (0 = all), got 1.5."),
        ("tokenizer_batch_size", -2, "tokenizer_batch_size must be a non-negative integer (0 = all), got -2."),
        ("tokenizer_batch_size", 2.5, "tokenizer_batch_size must be a non-negative integer (0 = all), got 2.5."),
    ]
    for key, value, message in bad:
        with pytest.raises(ConfigError) as err:
            _check_vq({**ok, key: value})
        assert str(err.value) == message


def test_feature_loss_by_hand_on_dense_and_sparse_features():
    from g2m.distill.vq_teacher import feature_loss

    model = VQTokenizerGNN(build_teacher("sage", 3, 2, hidden_channels=4), 3, codebook_size=2, code_dim=2)
    with torch.no_grad():
        model.feature_decoder.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        model.feature_decoder.bias.zero_()
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [0.0, 0.0], [3.0, 0.0], [0.0, 1.0]])  # 6 nodes, 2 dims
    x = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [3.0, 0.0, 0.0],
                      [0.0, 0.0, 0.0]])
    decoded = q @ model.feature_decoder.weight.t()
    sq = ((decoded - x) ** 2).sum(1)  # decoded rows (q0, q1, q0 + q1) against x, per node
    assert sq.tolist() == [1.0, 4.0, 5.0, 0.0, 9.0, 2.0]
    for recon in (0, 6, 10):  # 0 = all nodes, and so is any count not below N
        for features in (x, x.to_sparse_csr()):
            assert float(feature_loss(model, q, features, recon)) == pytest.approx(21.0 / 18)
    assert float(feature_loss(model, q, x)) == pytest.approx(21.0 / 18)  # by default: all nodes
    for features in (x, x.to_sparse_csr()):
        torch.manual_seed(4)
        loss = feature_loss(model, q, features, recon_nodes=2)
        torch.manual_seed(4)
        idx = torch.randperm(6)[:2]
        assert float(loss) == pytest.approx(float(sq[idx].sum()) / 6)


def test_forward_returns_logits_or_logits_and_code_space_embeddings():
    torch.manual_seed(0)
    net = VQTokenizerGNN(build_teacher("sage", 4, 3, hidden_channels=8), 4, codebook_size=5, code_dim=2).eval()
    net.quantizer.init_codebook(torch.randn(20, 2))
    x, ei = torch.randn(6, 4), torch.tensor([[0, 1, 2, 3, 4], [1, 2, 3, 4, 5]])
    out = net.tokenize(x, ei)
    assert torch.equal(net(x, ei), out["logits"])
    logits, z = net(x, ei, return_hidden=True)
    assert torch.equal(logits, out["logits"]) and torch.equal(z, out["z"]) and z.shape == (6, 2)


def test_build_vq_model_splits_gnn_and_tokenizer_settings():
    net = build_vq_model(5, 3, "sage", hidden_channels=8, num_layers=3, codebook_size=6, code_dim=2,
                         code_metric="cosine")
    assert isinstance(net, VQTokenizerGNN) and net.gnn.hidden_channels == 8 and len(net.gnn.convs) == 3
    assert (net.quantizer.num_codes, net.quantizer.embedding_dim, net.quantizer.metric) == (6, 2, "cosine")
    assert net.in_channels == 5 and net.feature_decoder.out_features == 5
    net.eval().quantizer.init_codebook(torch.randn(10, 2))
    assert net(torch.randn(4, 5), torch.tensor([[0, 1], [1, 2]])).shape == (4, 3)  # 5 features in, 3 classes out
    plain = build_vq_model(5, 3, "gcn", hidden_channels=4)  # no tokenizer settings: the tokenizer's defaults
    assert (plain.codebook_size, plain.code_dim, plain.gnn.hidden_channels) == (512, 64, 4)


def test_code_projection_maps_student_hidden_to_the_code_dimension():
    from g2m.distill.vqgraph import _code_projection

    proj = _code_projection(StudentMLP(4, 7, 3), {"codebook": torch.zeros(5, 3)})
    assert isinstance(proj, torch.nn.Linear) and (proj.in_features, proj.out_features) == (7, 3)
    with pytest.raises(ConfigError) as err:
        _code_projection(StudentMLP(4, 7, 3), {"code_z": torch.zeros(2, 3)})
    assert str(err.value) == "soft_code_kl needs a VQ teacher (trainer 'vq'); use method 'vqgraph'."


def _png_size(path):
    import struct

    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_plot_code_usage_draws_rank_frequency_lines(tmp_path, monkeypatch):
    import matplotlib

    from g2m import utils
    from g2m.distill.vq_plot import plot_code_usage

    saved = []
    real_save = utils.save_figure_atomic
    monkeypatch.setattr(utils, "save_figure_atomic",
                        lambda path, fig, **kw: saved.append((fig, kw)) or real_save(path, fig, **kw))
    run = dict(perplexity=2.6, dead_codes=1, num_codes=4)
    runs = [dict(run, code_counts=[1, 0, 5, 2])] + [dict(run, perplexity=float(i), code_counts=[3, 1])
                                                   for i in range(1, 6)]
    raw = {"tran": runs + [dict(run)], "ind": []}  # a run without code counts draws nothing
    path = tmp_path / "a" / "b" / "usage.png"  # missing parent folders are made
    backend = matplotlib.get_backend()
    assert plot_code_usage(raw, str(path)) == path and path.is_file()
    assert matplotlib.get_backend() == backend  # the process's backend is left alone
    assert _png_size(path) == (1000, 350)  # 5 inches per setting x 3.5, 100 dpi
    fig, kw = saved[-1]
    assert kw == {"dpi": 100} and fig.canvas.manager is None  # not a pyplot figure: nothing left open
    assert len(fig.axes) == 2
    ax, empty = fig.axes
    lines = ax.get_lines()
    assert len(lines) == 6  # the run without code counts adds none
    assert list(lines[0].get_xdata()) == [1, 2, 3] and list(lines[0].get_ydata()) == [5, 2, 1]  # used codes only
    assert list(lines[1].get_xdata()) == [1, 2] and list(lines[1].get_ydata()) == [3, 1]
    assert {line.get_linewidth() for line in lines} == {1.0}
    assert [line.get_label() for line in lines[:5]] == ["run 0: ppl 3, dead 1"] + [f"run {i}: ppl {i}, dead 1"
                                                                                 for i in range(1, 5)]
    assert lines[5].get_label().startswith("_")  # only the first five runs are named in the legend
    assert (ax.get_xscale(), ax.get_yscale(), ax.get_xlabel(), ax.get_ylabel()) == \
        ("log", "log", "code rank", "nodes assigned")
    assert ax.get_title() == "codebook usage (tran, K=4)" and empty.get_title() == "codebook usage (ind, K=?)"
    assert [t.get_text() for t in ax.get_legend().get_texts()][0] == "run 0: ppl 3, dead 1"
    assert {t.get_fontsize() for t in ax.get_legend().get_texts()} == {7.0}
    # one setting, into a folder that exists: a 5 x 3.5 inch figure
    one = tmp_path / "one.png"
    plot_code_usage({"tran": [dict(run, code_counts=[2, 2])]}, one)
    assert _png_size(one) == (500, 350) and len(saved[-1][0].axes) == 1


def test_tokenizer_training_phases_objective_and_knowledge(cora, monkeypatch):
    """One tiny cold-start run, watched from outside: warm-up (no quantization), k-means on the warmed-up
    embeddings, then joint training; each phase's loss is CE + commitment + w_feat·MSE + w_struct·BCE, its
    validation is of the classifier that phase trains; the returned knowledge is the final tokenizer's."""
    from g2m import config
    from g2m.distill import vq_teacher
    from g2m.distill.vq_teacher import feature_loss
    from g2m.graph_inputs import graph_input

    # dataset defaults count: the teacher's hidden width and the code dimension come from them here
    monkeypatch.setitem(config.TEACHER_DATASET_DEFAULTS, ("cora", "sage"), dict(hidden_channels=12))
    monkeypatch.setitem(config.VQ_DATASET_DEFAULTS, "cora", dict(code_dim=3))
    split = node_split(cora, 0, "tran")
    x, ei, y, train, val, test = _observed(cora, split)
    n = y.numel()
    weights = dict(w_feat=0.5, w_struct=2.0, neg_ratio=2, max_edges=2000, recon_nodes=500)

    def expected(net, graph, quantize):
        out = net.tokenize(x, graph, quantize=quantize)
        loss = out["commit"] + torch.nn.functional.cross_entropy(out["logits"][train], y[train])
        loss = loss + 0.5 * feature_loss(net, out["q"], x, 500)
        return float(loss + 2.0 * structure_loss(net, out["q"], ei, n, 2, 2000))

    calls, inits = [], []
    real_fit, real_init = vq_teacher.fit, VectorQuantizer.init_codebook

    def fit_spy(net, step, validate, **kw):
        graph = graph_input(net.gnn, ei, n)
        net.eval()
        seen = dict(kw, net=net)
        torch.manual_seed(7)
        seen["step_loss"] = step(_NoStep())
        net.zero_grad(set_to_none=True)
        seen["val"] = validate()
        with torch.no_grad():
            for quantize in (False, True):
                torch.manual_seed(7)
                seen["loss", quantize] = expected(net, graph, quantize)
                seen["val", quantize] = _accuracy(net.tokenize(x, graph, quantize=quantize)["logits"][val], y[val])
        calls.append(seen)
        seen["result"] = real_fit(net, step, validate, **kw)
        with torch.no_grad():
            seen["z_after"] = net.tokenize(x, graph, quantize=False)["z"]
            seen["val_after"] = validate()
        return seen["result"]

    def init_spy(quantizer, z):
        inits.append(dict(fits_before=len(calls), z=z.clone()))
        real_init(quantizer, z)
        inits[-1]["codebook"] = quantizer.codebook.clone()

    monkeypatch.setattr(vq_teacher, "fit", fit_spy)
    monkeypatch.setattr(VectorQuantizer, "init_codebook", init_spy)
    seed_everything(0)
    start = time.perf_counter()
    t = train_vq_teacher(cora, split, codebook_size=8, warm_start=False, label_source="quantized",  # sage on the CPU
                         max_epochs=10, patience=3, vq_epochs=3, vq_patience=2, lr=0.02, weight_decay=1e-4,
                         dropout=0.0, ties="earliest", ema_decay=0.5, commitment=2.0, dead_threshold=0.02,
                         revive_every=3,
                         **weights)
    wall = time.perf_counter() - start
    net = t.model
    assert isinstance(net, VQTokenizerGNN) and net.gnn.hidden_channels == 12  # cold start: built from the config
    q = net.quantizer
    assert (q.num_codes, q.embedding_dim, q.decay, q.beta, q.dead_threshold, q.revive_every, q.metric) == \
        (8, 3, 0.5, 2.0, 0.02, 3, "euclidean")
    # two phases, each with the run's optimiser settings and its own epochs and patience
    common = dict(lr=0.02, weight_decay=1e-4, ties="earliest")
    assert [{k: c[k] for k in ("lr", "weight_decay", "ties", "max_epochs", "patience", "name")} for c in calls] == [
        dict(common, max_epochs=10, patience=3, name="VQ tokenizer (warm-up)"),
        dict(common, max_epochs=3, patience=2, name="VQ tokenizer")]
    assert all(c["net"] is net for c in calls) and t.fit is calls[1]["result"]
    warm, joint = calls
    # warm-up: the loss and validation of the unquantized classifier (no commitment, z itself decoded) ...
    assert warm["step_loss"] == pytest.approx(warm["loss", False], abs=1e-5)
    assert abs(warm["step_loss"] - warm["loss", True]) > 1e-4
    assert warm["val"] == warm["val", False]
    # ... then k-means once, on every observed node's warmed-up embedding, before joint training
    assert [i["fits_before"] for i in inits] == [1]
    assert inits[0]["z"].shape == (n, 3) and torch.allclose(inits[0]["z"], warm["z_after"], atol=1e-6)
    # joint training: the quantized classifier's loss and validation
    assert joint["step_loss"] == pytest.approx(joint["loss", True], abs=1e-5)
    assert abs(joint["step_loss"] - joint["loss", False]) > 1e-4
    assert joint["val"] == joint["val", True] and joint["val", True] != joint["val", False]
    assert not torch.allclose(t.extra_knowledge["codebook"], inits[0]["codebook"])  # EMA moved the codes
    # the result: the selected epoch's quantized tokenizer on the observed graph
    graph = graph_input(net.gnn, ei, n)
    with torch.no_grad():
        out = net.tokenize(x, graph)
    assert t.fit.best_val == joint["val_after"] == t.metrics["val"]
    assert t.metrics == {"val": _accuracy(out["logits"][val], y[val]), "test": _accuracy(out["logits"][test], y[test])}
    assert torch.allclose(t.logits, out["logits"], atol=1e-5) and t.logits.shape == (n, cora.num_classes)
    k = t.extra_knowledge
    assert set(k) == {"code_z", "codes", "codebook", "code_unit_norm"}
    assert torch.allclose(k["code_z"], out["z"], atol=1e-6) and torch.equal(t.hidden, k["code_z"])
    assert torch.equal(k["codes"], out["codes"]) and k["codes"].shape == (n,)
    assert int(k["codes"].min()) >= 0 and int(k["codes"].max()) < 8
    assert torch.equal(k["codebook"], net.codebook) and k["codebook"].shape == (8, 3)
    assert not bool(k["code_unit_norm"])
    m = t.extra_metrics
    counts = torch.bincount(k["codes"], minlength=8)
    assert m["code_counts"] == counts.tolist() and sum(m["code_counts"]) == n
    assert m["used_codes"] == int((counts > 0).sum()) and m["dead_codes"] == 8 - m["used_codes"]
    assert m["num_codes"] == 8
    assert (m["quantized_val"], m["quantized_test"], m["plain_labels"]) == (t.metrics["val"], t.metrics["test"], 0.0)
    assert "plain_val" not in m and "plain_test" not in m  # no plain teacher was trained
    assert t.name == "sage" and t.split is split and 0 < t.seconds <= wall
    assert (t.config["hidden_channels"], t.config["dropout"], t.config["codebook_size"], t.config["code_dim"],
            t.config["lr"], t.config["w_struct"], t.config["vq_epochs"]) == (12, 0.0, 8, 3, 0.02, 2.0, 3)


def test_label_source_warm_start_and_the_plain_teacher(cora, monkeypatch):
    """(GCN here.) The plain teacher is the "standard" trainer's for the same model, seed and settings;
    ``warm_start`` starts the tokenizer's GNN from it; ``label_source`` (here "auto" with a margin that always
    prefers it) picks whose logits the students learn."""
    from g2m.distill import vq_teacher

    split = node_split(cora, 0, "tran")
    x, ei, y, *_ = _observed(cora, split)
    short = dict(hidden_channels=16, max_epochs=2, patience=2)
    tiny = dict(TINY_VQ, warmup=False, vq_epochs=1, **short)
    seed_everything(0)
    plain = train_teacher(cora, split, "gcn", **short)
    inner = []  # the plain teacher each tokenizer run trains, with a copy of its weights as it was made

    def plain_spy(*args, **kwargs):
        run = train_teacher(*args, **kwargs)
        inner.append((run, {k: v.clone() for k, v in run.model.state_dict().items()}))
        return run

    monkeypatch.setattr(vq_teacher, "train_teacher", plain_spy)
    seed_everything(0)
    auto = train_vq_teacher(cora, split, "gcn", label_source="auto", label_margin=-1000.0, warm_start=False, **tiny)
    seed_everything(0)
    warm = train_vq_teacher(cora, split, "gcn", label_source="quantized", warm_start=True, **tiny)
    for t in (auto, warm):  # both trained the plain teacher first, and report it
        assert (t.extra_metrics["plain_val"], t.extra_metrics["plain_test"]) == (plain.metrics["val"],
                                                                                  plain.metrics["test"])
        assert t.extra_metrics["quantized_val"] == t.metrics["val"]
    # auto with this margin: the plain teacher's logits; the codes are still the tokenizer's
    assert auto.extra_metrics["plain_labels"] == 1.0 and torch.equal(auto.logits, plain.logits)
    assert auto.extra_knowledge["codes"].shape == (y.numel(),)
    # quantized: the tokenizer's own logits
    assert warm.extra_metrics["plain_labels"] == 0.0 and not torch.allclose(warm.logits, plain.logits, atol=1e-3)
    with torch.no_grad():
        assert torch.allclose(warm.logits, warm.model(x, ei), atol=1e-4)

    @torch.no_grad()
    def farthest(gnn):  # largest parameter distance from the plain teacher (same architecture)
        ref = dict(plain.model.named_parameters())
        return max(float((p - ref[name]).abs().max()) for name, p in gnn.named_parameters())

    # one Adam epoch (lr 0.01) from the plain teacher's weights stays next to them; a cold start does not
    assert farthest(warm.model.gnn) < 0.02 < 0.1 < farthest(auto.model.gnn)
    # the tokenizer trains a copy: the plain teacher's own weights are neither shared nor changed
    assert len(inner) == 2
    run, made = inner[1]
    tokenizer_storage = {p.data_ptr() for p in warm.model.parameters()}
    assert not any(p.data_ptr() in tokenizer_storage for p in run.model.parameters())
    assert all(torch.equal(v, made[k]) for k, v in run.model.state_dict().items())
    # without warm-up the quantizer is still used from the first epoch: k-means on the first batch, validation
    # (and so model selection) on the quantized classifier
    assert bool(warm.model.quantizer.initialised) and warm.fit.best_val == warm.metrics["val"]


def test_inductive_minibatch_cosine_tokenizer(cora, monkeypatch):
    """Sampled subgraph minibatches (tokenizer_batch_size, tokenizer_fan_out), a cosine codebook and the
    first-layer code position; in the inductive setting ``test_ind`` is measured on the full graph."""
    import math

    from g2m.distill import vq_teacher
    from g2m.graph_inputs import as_model_input

    split = node_split(cora, 0, "ind")
    x, ei, y, train, val, test = _observed(cora, split)
    n = y.numel()
    seen, real = [], vq_teacher._tokenizer_batches

    def batches_spy(gnn, xs, edges, train_idx, ys, fan_out, batch_size, graph):
        epoch = real(gnn, xs, edges, train_idx, ys, fan_out, batch_size, graph)
        seen.append(dict(fan_out=fan_out, batch_size=batch_size, train=train_idx, sizes=[], indeg=[]))

        def watched():
            for batch in epoch():
                seen[-1]["sizes"].append(batch[0].size(0))
                seen[-1]["indeg"].append(int(torch.bincount(batch[2][1], minlength=batch[0].size(0)).max()))
                yield batch
        return watched

    monkeypatch.setattr(vq_teacher, "_tokenizer_batches", batches_spy)
    seed_everything(0)
    t = train_vq_teacher(cora, split, "sage", codebook_size=8, code_dim=4, code_metric="cosine",
                         code_layer="first", num_layers=3, hidden_channels=8, warm_start=False,
                         label_source="quantized", tokenizer_batch_size=800, tokenizer_fan_out=3, max_epochs=1,
                         patience=1, vq_epochs=1)
    (s,) = seen
    assert (s["fan_out"], s["batch_size"]) == (3, 800) and torch.equal(s["train"], train)
    assert len(s["sizes"]) == 2 * math.ceil(n / 800)  # two epochs (warm-up, joint) of seed batches
    assert max(s["sizes"]) < n and max(s["indeg"]) <= 3  # sampled computation subgraphs
    assert t.model.split_at == 1 and t.model.quantizer.metric == "cosine"
    k = t.extra_knowledge
    assert bool(k["code_unit_norm"]) and torch.allclose(k["code_z"].norm(dim=-1), torch.ones(n), atol=1e-5)
    assert torch.allclose(k["codebook"].norm(dim=-1), torch.ones(8), atol=1e-5)
    # metrics: observed val/test on the observed graph, test_ind on the full graph
    data = cora.data
    with torch.no_grad():
        obs_logits = t.model(x, ei)
        full_logits = t.model(as_model_input(data.x), data.edge_index)
    assert set(t.metrics) == {"val", "test", "test_ind"}
    assert t.metrics["val"] == _accuracy(obs_logits[val], y[val])
    assert t.metrics["test"] == _accuracy(obs_logits[test], y[test])
    assert t.metrics["test_ind"] == _accuracy(full_logits[split.test_ind], data.y[split.test_ind])
    assert t.logits.shape == (n, cora.num_classes) and n < data.num_nodes  # rows: observed nodes only


def test_vq_trainer_settings_errors_and_appnp(cora):
    from g2m.teacher import TEACHER_BUILDERS, TEACHER_TRAINERS

    assert TEACHER_TRAINERS.get("vq") is train_vq_teacher and TEACHER_BUILDERS.get("vq") is build_vq_model
    split = node_split(cora, 0, "tran")
    cold = dict(warm_start=False, label_source="quantized")
    errors = [
        (dict(model="nope"), "unknown teacher 'nope'; choose one of: sage, gcn, gat, appnp."),
        (dict(codebook_size=0), "codebook_size must be a positive integer, got 0."),
        (dict(model="appnp", tokenizer_batch_size=16),
         "appnp propagates over the whole graph (e.g. APPNP): leave tokenizer_batch_size at 0."),
        (dict(num_layers=0, **cold), "sage teacher setting num_layers=0: layers, a positive integer."),
    ]
    for kw, message in errors:
        with pytest.raises(ConfigError) as err:
            train_vq_teacher(cora, split, **{"model": "sage", **kw})
        assert str(err.value) == message
    # APPNP propagates over the whole graph: full-batch tokenizer training works
    seed_everything(0)
    t = train_vq_teacher(cora, split, "appnp", hidden_channels=8, codebook_size=4, code_dim=2, warmup=False,
                         vq_epochs=1, max_epochs=1, patience=1, **cold)
    assert t.name == "appnp" and t.logits.shape == (cora.num_nodes, cora.num_classes)
    assert set(t.metrics) == {"val", "test"}


def _tiny_graph():
    """60 nodes, 3 classes, a ring inside each class over nodes 0-58; node 59 (the last) has no edges."""
    from torch_geometric.data import Data
    from torch_geometric.utils import coalesce

    from g2m.datasets.base import NodeDataset

    n, c = 60, 3
    y = torch.arange(n) % c
    x = torch.nn.functional.one_hot(y, c).float() + 0.3 * torch.randn(n, c, generator=torch.Generator().manual_seed(0))
    pairs = []
    for cls in range(c):
        ring = list(range(cls, n - 1, c))
        pairs += [(a, b) for a, b in zip(ring, ring[1:] + ring[:1])]
    ei = coalesce(torch.tensor(pairs + [(b, a) for a, b in pairs]).t())
    return NodeDataset(name="tiny", data=Data(x=x, edge_index=ei, y=y), num_classes=c)


def test_tokenizer_on_a_tiny_graph_with_unlabelled_batches_and_an_isolated_last_node():
    """Inductive, minibatched: most seed batches hold no training node (their loss has no label term), the last
    observed node and the last node of the full graph are isolated (graphs keep every node), and with more
    codes than nodes some codes (here the last) stay unused yet are counted."""
    from g2m.datasets.splits import NodeSplit

    ds = _tiny_graph()
    observed = torch.cat([torch.arange(45), torch.tensor([59])])
    split = NodeSplit(train=torch.tensor([0, 1, 2]), val=torch.arange(3, 15), test=observed[15:],
                      observed=observed, test_ind=torch.arange(45, 59), setting="ind")
    seed_everything(0)
    t = train_vq_teacher(ds, split, "sage", hidden_channels=8, codebook_size=64, code_dim=2, warm_start=False,
                         label_source="quantized", tokenizer_batch_size=10, tokenizer_fan_out=2, max_epochs=2,
                         patience=2, vq_epochs=2)
    assert all(torch.isfinite(torch.tensor(v)) for v in t.metrics.values()) and set(t.metrics) == {"val", "test",
                                                                                                  "test_ind"}
    with torch.no_grad():
        full = t.model(ds.data.x, ds.data.edge_index)
    assert full.shape == (60, 3) and t.logits.shape == (46, 3)
    assert t.metrics["test_ind"] == _accuracy(full[split.test_ind], ds.data.y[split.test_ind])
    counts = t.extra_metrics["code_counts"]
    assert len(counts) == 64 and sum(counts) == 46 and counts[-1] == 0


def test_soft_code_kl_projection_default_temperature_unit_rows_and_errors():
    """The student's code vectors: its hidden layer through the term's projection (when it has one), unit
    rows for a cosine codebook; code temperature 3 by default; each missing input named."""
    from g2m.distill.losses import LOSSES
    from g2m.distill.vqgraph import SoftCodeKL

    gen = torch.Generator().manual_seed(3)
    code_z, codebook = torch.randn(8, 3, generator=gen), torch.randn(5, 3, generator=gen)
    nodes, hidden = torch.tensor([6, 1, 3, 0]), torch.randn(4, 5, generator=gen)
    proj = torch.nn.Linear(5, 3)

    def inp(teacher=None, student_hidden=hidden):
        return LossInput(nodes=nodes, student_logits=torch.zeros(4, 2), student_hidden=student_hidden,
                         teacher={"code_z": code_z, "codebook": codebook} if teacher is None else teacher,
                         labels=torch.zeros(8, dtype=torch.long), train_mask=torch.zeros(8, dtype=torch.bool))

    with torch.no_grad():
        h = proj(hidden)
        assert float(soft_code_kl(inp(), proj)) == pytest.approx(  # τ = 3 by default
            float(_reference_soft_code_kl(h, code_z[nodes], codebook, 3.0)), rel=1e-5)
        assert float(SoftCodeKL(proj)(inp())) == pytest.approx(
            float(_reference_soft_code_kl(h, code_z[nodes], codebook, 3.0)), rel=1e-5)
        cosine = {"code_z": code_z, "codebook": codebook, "code_unit_norm": torch.tensor(True)}
        unit = torch.nn.functional.normalize(h, dim=-1)  # rows, not columns, of the projected student
        assert float(soft_code_kl(inp(cosine), proj, 0.5)) == pytest.approx(
            float(_reference_soft_code_kl(unit, code_z[nodes], codebook, 0.5)), rel=1e-5)
    # built for a run: a projection from the student's hidden width to the code width, the run's temperature
    student = type("S", (), {"hidden_channels": 5})()
    term = LOSSES.get("soft_code_kl").build(student, {"codebook": codebook}, {"code_temperature": 0.5})
    assert (term.projection.in_features, term.projection.out_features, term.code_temperature) == (5, 3, 0.5)
    assert LOSSES.get("soft_code_kl").build(student, {"codebook": codebook}, {}).code_temperature == 3.0
    with pytest.raises(ConfigError, match="soft_code_kl needs a VQ teacher"):
        LOSSES.get("soft_code_kl").build(student, {"logits": code_z}, {})
    # without the projection the student's own width must match the codebook's
    with pytest.raises(ConfigError, match=r"^student code dim 5 != codebook dim 3\.$"):
        soft_code_kl(inp())
    for teacher in ({"code_z": code_z}, {"codebook": codebook}, {}):
        with pytest.raises(ConfigError, match=r"^soft_code_kl needs a VQ teacher \(trainer 'vq'\); use method "
                                              r"'vqgraph'\.$"):
            soft_code_kl(inp(teacher))
    with pytest.raises(ConfigError, match=r"^soft_code_kl needs the student's hidden representation\.$"):
        soft_code_kl(inp(student_hidden=None))
    for bad in (0.0, -1.0):
        with pytest.raises(ConfigError, match=rf"^code_temperature must be positive, got {bad}\.$"):
            soft_code_kl(inp(), proj, bad)


# --- the quantizer's no_grad functions, measured since the mutation run rewrites their decorators ---------------
def test_kmeans_seeds_distinct_rows_follows_its_generator_and_moves_one_member_clusters():
    x = torch.arange(8.0).unsqueeze(1)
    for n in (8, 5):  # n ≥ K: K distinct rows as seeds (no duplicate centre), with n == K as well
        seeds = kmeans(x[:n], n if n == 8 else 3, iters=0, generator=torch.Generator().manual_seed(0))
        assert seeds.unique(dim=0).size(0) == seeds.size(0)
    # the generator alone decides the seeds: the global random state does not matter
    torch.manual_seed(1)
    a = kmeans(x, 3, iters=0, generator=torch.Generator().manual_seed(7))
    torch.manual_seed(2)
    assert torch.equal(a, kmeans(x, 3, iters=0, generator=torch.Generator().manual_seed(7)))
    few = x[:2]  # fewer rows than clusters: seeds drawn with replacement, from the generator too
    torch.manual_seed(1)
    b = kmeans(few, 5, iters=0, generator=torch.Generator().manual_seed(7))
    torch.manual_seed(2)
    assert torch.equal(b, kmeans(few, 5, iters=0, generator=torch.Generator().manual_seed(7)))
    # points 0, 1, 10 seeded at 0 and 1: {0} and {1, 10} → centres 0 and 5.5; then {0, 1} and {10} → 0.5 and 10
    # (a cluster of one member moves onto it)
    pts = torch.tensor([[0.0], [1.0], [10.0]])
    seed = next(s for s in range(100)
                if set(torch.randperm(3, generator=torch.Generator().manual_seed(s))[:2].tolist()) == {0, 1})
    centres = kmeans(pts, 2, iters=3, generator=torch.Generator().manual_seed(seed))
    assert sorted(centres.flatten().tolist()) == pytest.approx([0.5, 10.0])


def test_init_codebook_uses_the_configured_iterations_and_counts_every_code(monkeypatch):
    from g2m.models import vq as vq_mod

    centres = torch.tensor([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0], [100.0, 100.0]])  # the last code gets no vector
    seen = []
    monkeypatch.setattr(vq_mod, "kmeans", lambda z, k, iters=10, generator=None: seen.append(iters) or centres)
    vq = VectorQuantizer(4, 2, kmeans_iters=3)
    vq.init_codebook(torch.tensor([[0.0, 0.0], [1.0, 1.0], [1.0, 1.0], [5.0, 5.0]]))
    assert seen == [3]
    assert torch.equal(vq.codebook, centres)
    assert torch.equal(vq.ema_count, torch.tensor([1.0, 2.0, 1.0, 1.0]))  # counts 1, 2, 1, 0 → at least 1
    assert torch.equal(vq.ema_sum, centres * torch.tensor([[1.0], [2.0], [1.0], [1.0]]))
    assert bool(vq.initialised)


def test_one_ema_step_with_laplace_smoothing_by_hand():
    vq = VectorQuantizer(2, 1, decay=0.5, eps=0.5, kmeans_init=False, revive_every=0)
    vq.codebook.copy_(torch.tensor([[0.0], [10.0]]))
    vq.ema_count.copy_(torch.tensor([1.0, 1.0]))
    vq.ema_sum.copy_(torch.tensor([[0.0], [10.0]]))
    vq.ema_update(torch.tensor([[2.0], [4.0]]), torch.tensor([0, 0]))
    # counts 0.5 + 1 = 1.5 and 0.5; sums 0 + 3 = 3 and 5; n = 2: smoothed (c + ε) / (n + Kε) · n = 2/3·2, 1/3·2
    assert torch.allclose(vq.ema_count, torch.tensor([1.5, 0.5]))
    assert torch.allclose(vq.codebook, torch.tensor([[3.0 / (4.0 / 3.0)], [5.0 / (2.0 / 3.0)]]))


def test_revive_dead_codes_boundaries_by_hand():
    vq = VectorQuantizer(3, 4, kmeans_init=False, dead_threshold=0.5)
    vq.ema_count.copy_(torch.tensor([0.5, 2.0, 3.0]))  # exactly at the threshold: not dead
    assert vq.revive_dead_codes(torch.randn(6, 4)) == 0 and vq.revived == 0
    vq.ema_count.copy_(torch.tensor([0.1, 0.2, 3.0]))
    assert vq.revive_dead_codes(torch.zeros(0, 4)) == 0  # no vectors to revive them with
    torch.manual_seed(0)
    row = torch.tensor([[1.0, 2.0, 3.0, 4.0]])  # a single vector: every dead code becomes it
    assert vq.revive_dead_codes(row) == 2
    assert torch.equal(vq.codebook[:2], row.expand(2, 4)) and torch.equal(vq.ema_sum[:2], row.expand(2, 4))
    assert torch.equal(vq.ema_count, torch.tensor([1.0, 1.0, 3.0]))
    vq.ema_count[2] = 0.0
    assert vq.revive_dead_codes(row) == 1 and vq.revived == 3  # counted over calls


def test_usage_with_one_vector_and_codes_used_once():
    vq = VectorQuantizer(4, 2, kmeans_init=False)
    one = vq.usage(torch.tensor([2]))
    assert one == {"perplexity": pytest.approx(1.0), "used_codes": 1, "dead_codes": 3, "num_codes": 4,
                   "revived_codes": 0}
    assert vq.usage(torch.tensor([0, 1, 1]))["used_codes"] == 2
