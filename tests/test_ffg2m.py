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
                     temperature=tau, extras={"edge_index": edge_index, **extras})


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
    assert LOSSES.get("lfd")(inp).item() == pytest.approx(3 * c / 7, rel=1e-5)
    # HFD: every edge has |t_i - t_j| = (ln 3, 0) → (3/4, 1/4); student differences are 0 → uniform.
    assert LOSSES.get("hfd")(inp).item() == pytest.approx(c, rel=1e-5)


@pytest.mark.parametrize("tau", [1.0, 1.5])
def test_matches_numpy_reference_on_four_nodes(tau):
    g = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    edges = torch.tensor([[0, 1, 1, 2, 2, 3, 0, 3, 2], [1, 0, 2, 1, 3, 2, 3, 0, 2]])  # incl. a self-loop (2,2)
    inp = make_input(student, teacher, edges, tau=tau)
    lfd_ref, hfd_ref = reference(student, teacher, edges, tau)
    assert LOSSES.get("lfd")(inp).item() == pytest.approx(lfd_ref, rel=1e-5)
    assert LOSSES.get("hfd")(inp).item() == pytest.approx(hfd_ref, rel=1e-5)
    # Chunked evaluation (checkpointed chunks of 2 pairs) gives the same values.
    chunked = make_input(student, teacher, edges, tau=tau, edge_chunk=2)
    assert LOSSES.get("lfd")(chunked).item() == pytest.approx(lfd_ref, rel=1e-5)
    assert LOSSES.get("hfd")(chunked).item() == pytest.approx(hfd_ref, rel=1e-5)


@pytest.mark.parametrize("chunk", [ffg2m.EDGE_CHUNK, 3])
def test_gradient_flows_only_into_student(chunk):
    g = torch.Generator().manual_seed(1)
    student = torch.randn(3, 4, generator=g, requires_grad=True)
    teacher = torch.randn(3, 4, generator=g, requires_grad=True)
    inp = make_input(student, teacher, edge_chunk=chunk)
    (LOSSES.get("lfd")(inp) + LOSSES.get("hfd")(inp)).backward()
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
    assert LOSSES.get("lfd")(inp).item() == pytest.approx(lfd_ref, rel=1e-5)
    assert LOSSES.get("hfd")(inp).item() == pytest.approx(hfd_ref, rel=1e-5)
    with pytest.raises(ConfigError, match="minibatch"):
        LOSSES.get("hfd")(make_input(net(x[batch]), teacher, edges, nodes=batch))


def test_bad_temperature_is_a_config_error():
    with pytest.raises(ConfigError, match="temperature"):
        LOSSES.get("lfd")(make_input(torch.zeros(3, 2), torch.zeros(3, 2), tau=0.0))


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
        def term(inp):
            seen.append(ffg2m.batch_edges(inp))
            return real[name](inp)
        return term

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
