"""VQGraph's teacher trainer (g2m/distill/vq_teacher.py): losses, settings, phases, label source, minibatches."""

from __future__ import annotations

import time

import pytest
import torch
from torch_geometric import seed_everything

from g2m.datasets import load_dataset, node_split
from g2m.distill.vq_teacher import structure_loss, train_vq_teacher
from g2m.errors import ConfigError
from g2m.models import build_teacher
from g2m.models.vq import VectorQuantizer
from g2m.models.vq_tokenizer import VQTokenizerGNN, build_vq_model
from g2m.teacher import train_teacher


@pytest.fixture(scope="module")
def cora():
    return load_dataset("cora")  # bundled


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
        (dict(model="gat", hidden_channels=10, heads=3, **cold),  # what only the network itself can refuse
         "invalid gat teacher settings: hidden_channels (10) must be divisible by heads (3)"),
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
    # every keyword its network was built with, for the checkpoint (tests/test_checkpoints.py reloads them)
    assert t.model_kwargs == {"hidden_channels": 8, "num_layers": 2, "dropout": 0.5, "K": 10, "alpha": 0.1,
                              "codebook_size": 4, "code_dim": 2, "code_metric": "euclidean", "code_layer": "embedding"}


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


def test_structure_loss_gradient_is_reproducible(cora, same_gradient_every_time):
    """The decoder reads every edge's two endpoints: their gradients must sum in the same order every run (a
    plain ``s[pairs[0]]`` gather does not, on two threads)."""
    torch.manual_seed(0)
    model = VQTokenizerGNN(build_teacher("sage", cora.num_features, cora.num_classes), cora.num_features, 16, 64)
    q = torch.randn(cora.num_nodes, 64, generator=torch.Generator().manual_seed(1))

    def loss(qq):
        torch.manual_seed(2)  # the same sampled non-edges every time
        return structure_loss(model, qq, cora.data.edge_index, cora.num_nodes)

    same_gradient_every_time(loss, q)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_vq_teacher_trains_on_a_gpu():
    """With ``device="cuda"`` the plain teacher, the tokenizer, its inputs and its outputs are all on the GPU, in
    one pass (the plain teacher's labels) and chunked with minibatches; the held-out nodes are read from the full
    graph (a CPU-only run cannot see any of this)."""
    from g2m.datasets.splits import NodeSplit

    ds = _tiny_graph()
    observed = torch.cat([torch.arange(45), torch.tensor([59])])
    split = NodeSplit(train=torch.arange(6), val=torch.arange(6, 15), test=observed[15:], observed=observed,
                      test_ind=torch.arange(45, 59), setting="ind")
    tiny = dict(hidden_channels=8, codebook_size=8, code_dim=2, max_epochs=2, patience=2, vq_epochs=2)
    one_pass = dict(inference_chunk_size=0, warm_start=True, label_source="plain")
    chunked = dict(inference_chunk_size=16, tokenizer_batch_size=10, tokenizer_fan_out=2, warm_start=False,
                   label_source="quantized")
    for how in (one_pass, chunked):
        seed_everything(0)
        t = train_vq_teacher(ds, split, "sage", device="cuda", **tiny, **how)
        assert next(t.model.parameters()).device.type == "cuda"
        assert t.logits.device.type == t.hidden.device.type == "cuda" and t.logits.shape == (46, 3)
        assert [t.extra_knowledge[k].device.type for k in ("code_z", "codes", "codebook")] == 3 * ["cuda"]
        assert set(t.metrics) == {"val", "test", "test_ind"}
        assert all(0.0 <= v <= 100.0 for v in t.metrics.values())
        assert t.extra_metrics["plain_labels"] == float(how["label_source"] == "plain")
