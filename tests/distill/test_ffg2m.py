"""FF-G2M loss terms: hand-computed values, gradients, minibatch/chunking and the inductive edge set."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from g2m.datasets import load_dataset, node_split
from g2m.distill import ffg2m
from g2m.distill.losses import LOSSES, LossInput
from g2m.errors import ConfigError

# Path graph 0 - 1 - 2, both directions.
PATH_EDGES = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])


def make_input(logits, teacher, edge_index=PATH_EDGES, nodes=None, tau=1.0, **extras) -> LossInput:
    n = teacher.size(0)
    nodes = torch.arange(n) if nodes is None else nodes
    return LossInput(nodes=nodes, student_logits=logits, student_hidden=None, teacher={"logits": teacher},
                     labels=torch.zeros(n, dtype=torch.long), train_mask=torch.zeros(n, dtype=torch.bool),
                     temperature=tau, edge_index=edge_index, **extras)


def np_softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_kl(p, q):
    return float((p * (np.log(p) - np.log(q))).sum(-1).mean())


def reference(student, teacher, edges, tau):
    """NumPy LFD/HFD straight from the definitions (pairs listed explicitly, loops over edges)."""
    s, t = student.detach().numpy().astype(np.float64), teacher.numpy().astype(np.float64)
    pairs = [(i, j) for i, j in edges.t().tolist() if i != j]
    lfd_pairs = pairs + [(i, i) for i in range(len(s))]
    lfd = np_kl(np.stack([np_softmax(t[j] / tau) for i, j in lfd_pairs]),
                np.stack([np_softmax(s[i] / tau) for i, j in lfd_pairs])) * tau ** 2
    hfd = np_kl(np.stack([np_softmax(np.abs(t[i] - t[j]) / tau) for i, j in pairs]),
                np.stack([np_softmax(np.abs(s[i] - s[j]) / tau) for i, j in pairs])) * tau ** 2
    return lfd, hfd


def test_hand_computed_path_graph():
    # Student uniform (all-zero logits); teacher node 1 is (3/4, 1/4), nodes 0 and 2 uniform.
    student = torch.zeros(3, 2)
    teacher = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0], [0.0, 0.0]])
    c = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)  # KL((3/4, 1/4) ‖ (1/2, 1/2))
    inp = make_input(student, teacher)
    # LFD pairs (student i, teacher j): (0,1) (1,0) (1,2) (2,1) + self (0,0) (1,1) (2,2); teacher at 1 in 3 of 7.
    assert LOSSES.get("lfd")()(inp).item() == pytest.approx(3 * c / 7, rel=1e-5)
    # HFD: every edge has |t_i - t_j| = (ln 3, 0) → (3/4, 1/4); student differences are 0 → uniform.
    assert LOSSES.get("hfd")()(inp).item() == pytest.approx(c, rel=1e-5)


@pytest.mark.parametrize("tau", [1.0, 1.5])
def test_matches_numpy_reference_on_four_nodes(tau):
    g = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    edges = torch.tensor([[0, 1, 1, 2, 2, 3, 0, 3, 2], [1, 0, 2, 1, 3, 2, 3, 0, 2]])  # incl. a self-loop (2,2)
    inp = make_input(student, teacher, edges, tau=tau)
    lfd_ref, hfd_ref = reference(student, teacher, edges, tau)
    assert LOSSES.get("lfd")()(inp).item() == pytest.approx(lfd_ref, rel=1e-5)
    assert LOSSES.get("hfd")()(inp).item() == pytest.approx(hfd_ref, rel=1e-5)
    # Chunked evaluation (checkpointed chunks of 2 pairs) gives the same values.
    chunked = make_input(student, teacher, edges, tau=tau, edge_chunk=2)
    assert LOSSES.get("lfd")()(chunked).item() == pytest.approx(lfd_ref, rel=1e-5)
    assert LOSSES.get("hfd")()(chunked).item() == pytest.approx(hfd_ref, rel=1e-5)


@pytest.mark.parametrize("chunk", [ffg2m.EDGE_CHUNK, 3])
def test_gradient_flows_only_into_student(chunk):
    g = torch.Generator().manual_seed(1)
    student = torch.randn(3, 4, generator=g, requires_grad=True)
    teacher = torch.randn(3, 4, generator=g, requires_grad=True)
    inp = make_input(student, teacher, edge_chunk=chunk)
    (LOSSES.get("lfd")()(inp) + LOSSES.get("hfd")()(inp)).backward()
    assert teacher.grad is None
    assert student.grad is not None and float(student.grad.abs().sum()) > 0


def test_minibatch_uses_edges_from_batch_and_student_on_neighbours():
    torch.manual_seed(0)
    net = torch.nn.Linear(5, 3)
    x = torch.randn(4, 5)
    teacher = torch.randn(4, 3)
    edges = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    batch = torch.tensor([2, 0])  # node 2's neighbours 1 and 3 are outside the batch
    inp = make_input(net(x[batch]), teacher, edges, nodes=batch, student=net, x=x)
    full = net(x).detach()
    s, t = full.numpy().astype(np.float64), teacher.numpy().astype(np.float64)
    pairs = [(0, 1), (2, 1), (2, 3)]  # edges whose source is in the batch
    lfd_pairs = pairs + [(2, 2), (0, 0)]
    lfd_ref = np_kl(np.stack([np_softmax(t[j]) for i, j in lfd_pairs]), np.stack([np_softmax(s[i]) for i, j in lfd_pairs]))
    hfd_ref = np_kl(np.stack([np_softmax(np.abs(t[i] - t[j])) for i, j in pairs]),
                    np.stack([np_softmax(np.abs(s[i] - s[j])) for i, j in pairs]))
    assert LOSSES.get("lfd")()(inp).item() == pytest.approx(lfd_ref, rel=1e-5)
    assert LOSSES.get("hfd")()(inp).item() == pytest.approx(hfd_ref, rel=1e-5)
    with pytest.raises(ConfigError, match="minibatch"):
        LOSSES.get("hfd")()(make_input(net(x[batch]), teacher, edges, nodes=batch))


def test_bad_temperature_is_a_config_error():
    with pytest.raises(ConfigError, match="temperature"):
        LOSSES.get("lfd")()(make_input(torch.zeros(3, 2), torch.zeros(3, 2), tau=0.0))


def test_inductive_split_never_uses_held_out_edges(monkeypatch):
    """Spy on the terms during real student training: every pair lies inside the observed graph."""
    from g2m.distill import student as student_mod
    from g2m.teacher import TeacherRun

    ds = load_dataset("cora")
    split = node_split(ds, 0, "ind")
    held = set(split.test_ind.tolist())
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    real = {name: LOSSES.get(name) for name in ("lfd", "hfd")}

    def spy(name):
        class Spy(real[name]):
            def forward(self, inp):
                seen.append(ffg2m.batch_edges(inp))
                return super().forward(inp)
        return Spy

    for name in real:
        monkeypatch.setitem(LOSSES._items, name, spy(name))
    n_obs = split.observed.numel()
    fake = TeacherRun(model=torch.nn.Identity(), name="fake", config={}, split=split,
                      logits=torch.randn(n_obs, ds.num_classes), hidden=torch.randn(n_obs, 4))
    student_mod.train_student(ds, split, "ffg2m", fake, max_epochs=1, patience=1)
    assert len(seen) == 2
    src, dst = seen[0]
    glob_src, glob_dst = split.observed[src], split.observed[dst]
    assert not (set(glob_src.tolist()) | set(glob_dst.tolist())) & held
    # Exactly the full graph's edges with both endpoints observed (self-loops excluded).
    ei = ds.data.edge_index
    observed = torch.zeros(ds.num_nodes, dtype=torch.bool)
    observed[split.observed] = True
    keep = observed[ei[0]] & observed[ei[1]] & (ei[0] != ei[1])
    assert src.numel() == int(keep.sum()) < int((ei[0] != ei[1]).sum())
    assert set(zip(glob_src.tolist(), glob_dst.tolist())) == set(zip(ei[0, keep].tolist(), ei[1, keep].tolist()))


# --- direct calls of the term functions (issue 17 survivors) -----------------------------------------------
def _kl(p, q):
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))


def test_term_functions_by_hand_with_default_temperature():
    # two nodes, two classes; student row 0 is (1/2, 1/2), row 1 is (3/4, 1/4); teacher rows the other way round
    student = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])
    teacher = torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]])
    src, dst = torch.tensor([0, 1]), torch.tensor([1, 0])
    # LFD pairs (student 0, teacher 1) and (student 1, teacher 0) agree: KL 0; (0, 0) and (1, 1) do not
    assert ffg2m.low_frequency_kl(student, src, teacher, dst).item() == pytest.approx(0.0, abs=1e-6)
    lfd = (_kl([0.75, 0.25], [0.5, 0.5]) + _kl([0.5, 0.5], [0.75, 0.25])) / 2  # mean over pairs, τ = 1 by default
    assert ffg2m.low_frequency_kl(student, src, teacher, src).item() == pytest.approx(lfd, rel=1e-5)
    src1, dst1 = torch.tensor([0]), torch.tensor([0])  # one pair: student 0 vs teacher 0
    one = _kl([0.75, 0.25], [0.5, 0.5])
    assert ffg2m.low_frequency_kl(student, src1, teacher, dst1).item() == pytest.approx(one, rel=1e-5)
    agg, const = ffg2m.low_frequency_targets(teacher, src1, dst1, 2)  # default τ = 1
    assert torch.allclose(agg, torch.tensor([[0.75, 0.25], [0.0, 0.0]]))
    assert float(const) == pytest.approx(0.75 * math.log(0.75) + 0.25 * math.log(0.25), rel=1e-5)
    # three nodes, two classes (rows ≠ classes): the aggregate has one row per student node
    s3 = torch.tensor([[0.0, 0.0], [0.0, 0.0], [math.log(3.0), 0.0]])
    lfd3 = ffg2m.low_frequency_kl(s3, torch.tensor([2]), teacher, torch.tensor([1]))
    assert lfd3.item() == pytest.approx(_kl([0.5, 0.5], [0.75, 0.25]), rel=1e-5)
    # HFD, one pair (0, 1): |t_0 − t_1| = (ln 3, 0) → (3/4, 1/4); |s_0 − s_1| = (ln 3, 0) as well → KL 0 …
    zero = ffg2m.high_frequency_kl(student, src[:1], dst[:1], teacher, src[:1], dst[:1])
    assert zero.item() == pytest.approx(0.0, abs=1e-6)
    # … and against a flat student the KL of (3/4, 1/4) ‖ (1/2, 1/2), with τ = 1 by default
    flat = torch.zeros(2, 2)
    hfd = ffg2m.high_frequency_kl(flat, src[:1], dst[:1], teacher, src[:1], dst[:1])
    assert hfd.item() == pytest.approx(_kl([0.75, 0.25], [0.5, 0.5]), rel=1e-5)
    p_t, const = ffg2m.high_frequency_targets(teacher, src[:1], dst[:1])
    assert torch.allclose(p_t, torch.tensor([[0.75, 0.25]]))
    # both directions: two pairs with the same KL, the mean (not the sum) over pairs
    both = ffg2m.high_frequency_kl(flat, src, dst, teacher, src, dst)
    assert both.item() == pytest.approx(_kl([0.75, 0.25], [0.5, 0.5]), rel=1e-5)
    # τ = 2: the KL of the softened distributions, times τ²
    soft = 1 / (1 + 3 ** -0.5)
    assert ffg2m.high_frequency_kl(flat, src, dst, teacher, src, dst, tau=2.0).item() == pytest.approx(
        4 * _kl([soft, 1 - soft], [0.5, 0.5]), rel=1e-5)


def test_no_pairs_give_a_zero_loss_with_a_zero_gradient():
    student = torch.randn(3, 2, requires_grad=True)
    none = torch.zeros(0, dtype=torch.long)
    lfd = ffg2m.low_frequency_kl(student, none, torch.randn(3, 2), none)
    hfd = ffg2m.high_frequency_kl(student, none, none, torch.randn(3, 2), none, none)
    assert lfd.shape == hfd.shape == () and float(lfd) == 0.0 and float(hfd) == 0.0
    lfd.backward()
    assert torch.equal(student.grad, torch.zeros(3, 2))
    # a graph without edges (full batch, precomputed empty targets): HFD is 0, not 0/0
    inp = make_input(torch.randn(3, 2), torch.randn(3, 2), edge_index=torch.zeros(2, 0, dtype=torch.long))
    assert float(LOSSES.get("hfd")()(inp)) == 0.0


def test_chunk_sizes_of_one_and_below():
    g = torch.Generator().manual_seed(4)
    student, teacher = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    src, dst = torch.tensor([0, 1, 2, 3, 1]), torch.tensor([1, 2, 3, 0, 3])
    whole = ffg2m.high_frequency_kl(student, src, dst, teacher, src, dst, 1.3)
    ones = ffg2m.high_frequency_kl(student, src, dst, teacher, src, dst, 1.3, chunk_size=1)
    assert ones.item() == pytest.approx(whole.item(), rel=1e-6)  # one pair per chunk is valid
    agg1, c1 = ffg2m.low_frequency_targets(teacher, src, dst, 4, 1.3, chunk_size=1)
    agg, c = ffg2m.low_frequency_targets(teacher, src, dst, 4, 1.3)
    assert torch.allclose(agg1, agg) and float(c1) == pytest.approx(float(c), rel=1e-6)
    for call in (lambda: ffg2m.high_frequency_kl(student, src, dst, teacher, src, dst, chunk_size=0),
                 lambda: ffg2m.low_frequency_kl(student, src, teacher, dst, chunk_size=0),
                 lambda: ffg2m.low_frequency_targets(teacher, src, dst, 4, chunk_size=-1),
                 lambda: LOSSES.get("lfd")()(make_input(student[:3], teacher[:3], edge_chunk=0)),
                 lambda: LOSSES.get("hfd")()(make_input(student[:3], teacher[:3], edge_chunk=0))):
        with pytest.raises(ConfigError, match=r"^edge chunk size must be positive, got (0|-1)\.$"):
            call()


def test_chunked_hfd_gradient_equals_the_unchunked_gradient():
    g = torch.Generator().manual_seed(5)
    s1 = torch.randn(4, 3, generator=g, requires_grad=True)
    s2 = s1.detach().clone().requires_grad_(True)
    teacher = torch.randn(4, 3, generator=g)
    src, dst = torch.tensor([0, 1, 2, 3, 1]), torch.tensor([1, 2, 3, 0, 3])
    ffg2m.high_frequency_kl(s1, src, dst, teacher, src, dst).backward()
    ffg2m.high_frequency_kl(s2, src, dst, teacher, src, dst, chunk_size=2).backward()  # checkpointed chunks
    assert s1.grad.abs().sum() > 0 and torch.allclose(s1.grad, s2.grad, atol=1e-6)


def test_precomputed_targets_are_used_when_the_pairs_fit_in_one_chunk():
    """``targets`` is what the loss is computed from (the teacher is not read again); pairs over one chunk are
    recomputed from the teacher."""
    g = torch.Generator().manual_seed(6)
    student, teacher, other = (torch.randn(4, 3, generator=g) for _ in range(3))
    src, dst = torch.tensor([0, 1, 2]), torch.tensor([1, 2, 3])
    tgt = ffg2m.low_frequency_targets(other, src, dst, 4)
    assert ffg2m.low_frequency_kl(student, src, teacher, dst, targets=tgt).item() == pytest.approx(
        ffg2m.low_frequency_kl(student, src, other, dst).item(), rel=1e-6)
    for n in (1, 3):  # one pair, and exactly one full chunk
        s, d = src[:n], dst[:n]
        tgt = ffg2m.high_frequency_targets(other, s, d)
        used = ffg2m.high_frequency_kl(student, s, d, teacher, s, d, chunk_size=3, targets=tgt)
        assert used.item() == pytest.approx(ffg2m.high_frequency_kl(student, s, d, other, s, d).item(), rel=1e-6)
    tgt = ffg2m.high_frequency_targets(other, src, dst)
    recomputed = ffg2m.high_frequency_kl(student, src, dst, teacher, src, dst, chunk_size=2, targets=tgt)
    assert recomputed.item() == pytest.approx(ffg2m.high_frequency_kl(student, src, dst, teacher, src, dst).item(),
                                              rel=1e-6)


def test_full_batch_caches_pairs_and_targets_minibatch_does_not():
    g = torch.Generator().manual_seed(7)
    student, teacher = torch.randn(3, 2, generator=g), torch.randn(3, 2, generator=g)  # 3 nodes, 2 classes
    cache = {}
    inp = make_input(student, teacher, cache=cache)
    first = (LOSSES.get("lfd")()(inp).item(), LOSSES.get("hfd")()(inp).item())
    assert set(cache) == {"batch_order", "lfd_pairs", "lfd_targets_1.0", "edges", "hfd_targets_1.0"}
    cache["hfd_targets_1.0"] = ffg2m.high_frequency_targets(torch.zeros(3, 2), *cache["edges"], 1.0)
    assert LOSSES.get("hfd")()(inp).item() != pytest.approx(first[1], rel=1e-3)  # read from the cache
    assert LOSSES.get("lfd")()(inp).item() == pytest.approx(first[0], rel=1e-6)
    # a minibatch has pairs of its own: nothing is cached (the next batch would reuse this one's pairs)
    mini = {}
    net = torch.nn.Linear(2, 2)
    x = torch.randn(3, 2, generator=g)
    batch = torch.tensor([0, 1])
    for name in ("lfd", "hfd"):
        LOSSES.get(name)()(make_input(net(x[batch]), teacher, nodes=batch, cache=mini, student=net, x=x))
    assert mini == {}


def test_a_full_batch_in_another_order_is_not_read_from_the_cache():
    """A batch size above the node count gives one batch of every node, shuffled each epoch: the cached pairs of the
    first order would pair the wrong rows."""
    g = torch.Generator().manual_seed(3)
    student, teacher = torch.randn(3, 2, generator=g), torch.randn(3, 2, generator=g)
    cache = {}
    for name in ("lfd", "hfd"):
        LOSSES.get(name)()(make_input(student, teacher, cache=cache))
    order = torch.tensor([2, 0, 1])
    for name in ("lfd", "hfd"):
        shuffled = make_input(student[order], teacher, nodes=order, cache=cache)
        fresh = make_input(student[order], teacher, nodes=order)
        assert LOSSES.get(name)()(shuffled).item() == pytest.approx(LOSSES.get(name)()(fresh).item(), rel=1e-6)
    other = {}  # an equal order (another tensor) reads the cache: plant another teacher's targets there
    LOSSES.get("lfd")()(make_input(student, torch.randn(3, 2, generator=g), cache=other))
    cache["lfd_targets_1.0"] = other["lfd_targets_1.0"]
    same = make_input(student, teacher, nodes=torch.arange(3), cache=cache)
    assert LOSSES.get("lfd")()(same).item() != pytest.approx(LOSSES.get("lfd")()(make_input(student, teacher)).item(),
                                                             rel=1e-3)


def test_missing_edge_index_is_a_config_error():
    inp = make_input(torch.zeros(3, 2), torch.zeros(3, 2))
    inp.edge_index = None
    for name in ("lfd", "hfd"):
        with pytest.raises(ConfigError, match=r"^FF-G2M needs the observed graph: LossInput\.edge_index is missing"):
            LOSSES.get(name)()(inp)


def test_terms_are_made_on_the_device_of_their_inputs():
    """The meta device stands in for a GPU: a tensor made on the default device (CPU) fails or shows."""
    m = "meta"
    student, teacher = torch.randn(4, 3, device=m), torch.randn(4, 3, device=m)
    src, dst = torch.tensor([0, 1, 2], device=m), torch.tensor([1, 2, 3], device=m)
    none = src[:0]
    assert ffg2m.high_frequency_kl(student, none, none, teacher, none, none).device.type == m
    assert ffg2m.high_frequency_kl(student, src, dst, teacher, src, dst).device.type == m
    assert ffg2m.high_frequency_kl(student, src, dst, teacher, src, dst, chunk_size=2).device.type == m
    agg, const = ffg2m.low_frequency_targets(teacher, src, dst, 4, chunk_size=2)
    assert agg.device.type == const.device.type == m
    inp = make_input(student, teacher, nodes=torch.tensor([2, 0], device=m))
    assert ffg2m._positions(inp, 4).device.type == m


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_terms_on_a_gpu_equal_the_cpu_values():
    """Every index and position tensor must be made on the inputs' device (a CPU tensor written into a
    GPU one fails); a CPU-only run cannot see this."""
    g = torch.Generator().manual_seed(8)
    student, teacher = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    edges = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    for extra in ({}, {"edge_chunk": 2}):
        cpu = make_input(student, teacher, edges, **extra)
        gpu = make_input(student.cuda(), teacher.cuda(), edges.cuda(), nodes=torch.arange(4).cuda(), **extra)
        for name in ("lfd", "hfd"):
            assert LOSSES.get(name)()(gpu).item() == pytest.approx(LOSSES.get(name)()(cpu).item(), rel=1e-5)
    # a minibatch whose neighbours 1 and 3 are outside it: the student runs on them, placed after the batch rows
    net = torch.nn.Linear(3, 3)
    x = torch.randn(4, 3, generator=g)
    batch = torch.tensor([2, 0])
    cpu = make_input(net(x[batch]), teacher, edges, nodes=batch, student=net, x=x)
    net_gpu = torch.nn.Linear(3, 3).cuda()
    net_gpu.load_state_dict(net.state_dict())
    gpu = make_input(net_gpu(x[batch].cuda()), teacher.cuda(), edges.cuda(), nodes=batch.cuda(), student=net_gpu,
                     x=x.cuda())
    for name in ("lfd", "hfd"):
        assert LOSSES.get(name)()(gpu).item() == pytest.approx(LOSSES.get(name)()(cpu).item(), rel=1e-5)


def _counting(monkeypatch, name, calls):
    real = getattr(ffg2m, name)

    def counted(*args, **kwargs):
        calls[name] = calls.get(name, 0) + 1
        return real(*args, **kwargs)

    monkeypatch.setattr(ffg2m, name, counted)


def test_full_batch_computes_the_teacher_side_once_per_run_and_hfd_targets_only_within_one_chunk(monkeypatch):
    g = torch.Generator().manual_seed(9)
    student, teacher = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    edges = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])  # 6 pairs
    lfd_ref, hfd_ref = reference(student, teacher, edges, 1.0)
    calls: dict[str, int] = {}
    for name in ("low_frequency_targets", "high_frequency_targets"):
        _counting(monkeypatch, name, calls)
    inp = make_input(student, teacher, edges, cache={})
    for _ in range(3):  # three steps of one full-batch run: the teacher side once, then from the cache
        assert LOSSES.get("lfd")()(inp).item() == pytest.approx(lfd_ref, rel=1e-5)
        assert LOSSES.get("hfd")()(inp).item() == pytest.approx(hfd_ref, rel=1e-5)
    assert calls == {"low_frequency_targets": 1, "high_frequency_targets": 1}
    # HFD's per-pair targets only when the pairs fit in one chunk (6 ≤ 6); above it (6 > 5) never materialised
    for chunk, made in ((6, 1), (5, 0)):
        calls.clear()
        inp = make_input(student, teacher, edges, edge_chunk=chunk)
        assert LOSSES.get("hfd")()(inp).item() == pytest.approx(hfd_ref, rel=1e-5)
        assert calls.get("high_frequency_targets", 0) == made


def test_minibatch_hfd_with_as_many_nodes_as_classes_runs_the_student_on_outside_neighbours():
    torch.manual_seed(1)
    net = torch.nn.Linear(5, 2)  # 2 classes, and a batch of 2 of the 4 nodes: still a minibatch
    x, teacher = torch.randn(4, 5), torch.randn(4, 2)
    edges = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    batch = torch.tensor([2, 0])  # node 2's neighbours 1 and 3 are outside the batch
    s, t = net(x).detach().numpy().astype(np.float64), teacher.numpy().astype(np.float64)
    pairs = [(0, 1), (2, 1), (2, 3)]
    hfd_ref = np_kl(np.stack([np_softmax(np.abs(t[i] - t[j])) for i, j in pairs]),
                    np.stack([np_softmax(np.abs(s[i] - s[j])) for i, j in pairs]))
    inp = make_input(net(x[batch]), teacher, edges, nodes=batch, student=net, x=x)
    assert LOSSES.get("hfd")()(inp).item() == pytest.approx(hfd_ref, rel=1e-5)


def test_minibatch_hfd_with_every_neighbour_in_the_batch_needs_no_student():
    g = torch.Generator().manual_seed(10)
    teacher = torch.randn(4, 3, generator=g)
    edges = torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]])  # two separate edges 0-1 and 2-3
    batch = torch.tensor([1, 0])  # node 1 is batch row 0; its only neighbour 0 is in the batch as well
    logits = torch.randn(2, 3, generator=g)
    s, t = logits.numpy().astype(np.float64), teacher.numpy().astype(np.float64)
    # pairs (1, 0) and (0, 1) in batch rows (0, 1) and (1, 0): no LossInput.student / .x needed
    hfd_ref = np_kl(np.stack([np_softmax(np.abs(t[1] - t[0])), np_softmax(np.abs(t[0] - t[1]))]),
                    np.stack([np_softmax(np.abs(s[0] - s[1])), np_softmax(np.abs(s[1] - s[0]))]))
    assert LOSSES.get("hfd")()(make_input(logits, teacher, edges, nodes=batch)).item() == pytest.approx(hfd_ref, rel=1e-5)


def test_minibatch_hfd_needs_both_the_student_and_its_features_for_outside_neighbours():
    net, x, teacher = torch.nn.Linear(5, 3), torch.randn(4, 5), torch.randn(4, 3)
    edges = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    batch = torch.tensor([2, 0])
    for extras in ({"student": net}, {"x": x}, {}):
        with pytest.raises(ConfigError, match=r"^minibatch FF-G2M needs LossInput\.student and LossInput\.x for "
                                              r"neighbour logits\.$"):
            LOSSES.get("hfd")()(make_input(net(x[batch]), teacher, edges, nodes=batch, **extras))


@pytest.mark.parametrize("chunk_size", [ffg2m.EDGE_CHUNK, 6000])  # one chunk (precomputed targets), two
def test_hfd_gradient_over_real_edges_is_reproducible(same_gradient_every_time, chunk_size):
    src, dst = load_dataset("cora").data.edge_index
    g = torch.Generator().manual_seed(7)
    n = int(src.max()) + 1
    student, teacher = torch.randn(n, 7, generator=g), torch.randn(n, 7, generator=g)
    targets = ffg2m.high_frequency_targets(teacher, src, dst) if chunk_size == ffg2m.EDGE_CHUNK else None
    same_gradient_every_time(lambda s: ffg2m.high_frequency_kl(s, src, dst, teacher, src, dst, 1.0, chunk_size, targets),
                             student)
