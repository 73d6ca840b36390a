"""Property-based tests (hypothesis): random graphs and malformed inputs give a valid result or the
documented error, never a crash; tree ids are invariant under relabelling the nodes."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_geometric.data import Data
from torch_geometric.utils import contains_self_loops, is_undirected

from g2m.condense.trees import tree_labels
from g2m.datasets import from_data
from g2m.datasets.splits import cpf_split, random_split
from g2m.errors import DatasetError

FAST = settings(max_examples=40, deadline=None)


@st.composite
def user_graphs(draw):
    """A graph as a user might hand it over: sometimes with bad ids, NaNs, negative or missing labels."""
    n = draw(st.integers(0, 25))
    m = draw(st.integers(0, 60))
    lo, hi = draw(st.sampled_from([(0, max(n - 1, 0)), (-2, n + 2)]))
    ei = torch.tensor(draw(st.lists(st.tuples(st.integers(lo, hi), st.integers(lo, hi)), min_size=m, max_size=m)),
                      dtype=torch.long).view(-1, 2).t()
    x = torch.tensor(draw(st.lists(st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False, width=32), min_size=3 * n,
                                   max_size=3 * n)), dtype=torch.float32).view(n, 3)
    n_labels = draw(st.sampled_from([n, max(n - 1, 0), n + 1]))
    y = torch.tensor(draw(st.lists(st.integers(-1, 3), min_size=n_labels, max_size=n_labels)), dtype=torch.long)
    return Data(x=x, edge_index=ei, y=y)


@FAST
@given(user_graphs())
def test_user_graph_is_valid_or_a_dataset_error(data):
    try:
        ds = from_data(data)
    except DatasetError:
        return
    n = ds.num_nodes
    ei = ds.data.edge_index
    assert n == data.x.size(0) and ds.data.y.numel() == n
    assert torch.isfinite(ds.data.x).all()
    if ei.numel():
        assert 0 <= int(ei.min()) and int(ei.max()) < n
    assert is_undirected(ei, num_nodes=n) and not contains_self_loops(ei)
    assert ei.size(1) == torch.unique(ei, dim=1).size(1)  # no duplicate edges
    assert int(ds.data.y.min()) >= 0 and int(ds.data.y.max()) == ds.num_classes - 1


@FAST
@given(st.lists(st.integers(1, 80), min_size=1, max_size=5), st.integers(0, 2**31 - 1))
def test_random_split_partitions_or_explains(counts, seed):
    y = torch.tensor(np.repeat(np.arange(len(counts)), counts))
    try:
        train, val, test = random_split(y, seed)
    except DatasetError as exc:
        assert min(counts) < 5 and "at least 5 nodes per class" in str(exc)
        return
    parts = torch.cat([train, val, test])
    assert parts.numel() == y.numel() == parts.unique().numel()
    for c in range(len(counts)):  # stratified: every class in every part
        for part in (train, val, test):
            assert (y[part] == c).any()


@FAST
@given(st.lists(st.integers(1, 120), min_size=1, max_size=4), st.integers(0, 2**31 - 1))
def test_cpf_split_is_exact_or_explains(counts, seed):
    y = torch.tensor(np.repeat(np.arange(len(counts)), counts))
    try:
        train, val, test = cpf_split(y, seed)
    except DatasetError as exc:
        assert min(counts) <= 50 and "needs more than 50" in str(exc)
        return
    assert torch.equal(torch.bincount(y[train], minlength=len(counts)), torch.full((len(counts),), 20))
    assert torch.equal(torch.bincount(y[val], minlength=len(counts)), torch.full((len(counts),), 30))
    assert torch.cat([train, val, test]).unique().numel() == y.numel()


@st.composite
def labelled_graphs(draw):
    n = draw(st.integers(1, 12))
    edges = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=30))
    edges = [(a, b) for a, b in edges if a != b]
    ei = np.array(edges + [(b, a) for a, b in edges], dtype=np.int64).reshape(-1, 2).T
    labels = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), dtype=np.int64)
    perm = np.array(draw(st.permutations(range(n))), dtype=np.int64)
    return labels, ei, perm


@FAST
@given(labelled_graphs(), st.integers(1, 3))
def test_tree_ids_are_invariant_under_relabelling(graph, depth):
    """The graph and a copy with its nodes renumbered, hashed in one call: node v and its image share an id."""
    labels, ei, perm = graph
    n = len(labels)
    inv = np.argsort(perm)
    copy_labels = labels[inv]            # node perm[v] of the copy is node v of the original
    copy_ei = perm[ei] + n
    union_ei = np.concatenate([ei, copy_ei], axis=1) if ei.size else np.zeros((2, 0), dtype=np.int64)
    out = tree_labels(np.concatenate([labels, copy_labels]), union_ei, depth)
    for level in out:
        assert np.array_equal(level[:n], level[n + perm])
    for shallow, deep in zip(out, out[1:]):  # deeper trees refine shallower ones
        for tree in np.unique(deep):
            assert len(np.unique(shallow[deep == tree])) == 1


# --- the CLI on corrupted run folders: a clear error or a correct answer, never a traceback ---

_RUN_CACHE: dict = {}
CORRUPTIBLE = ("run.json", "config.json", "metrics.json", "seeds/seed0.json", "seeds/seed1.json",
               "checkpoints/student-glnn-tran-seed0.pt", "checkpoints/teacher-tran-seed1.pt")


def _finished_run():
    """A finished two-seed glnn run on cora (few epochs), made once per session."""
    if "run" not in _RUN_CACHE:
        import tempfile
        from pathlib import Path

        import g2m

        out = Path(tempfile.mkdtemp()) / "run"
        g2m.distill("cora", seeds=2, setting="tran", output=out, teacher_params={"max_epochs": 3},
                    student_params={"max_epochs": 3})
        _RUN_CACHE["run"] = out
    return _RUN_CACHE["run"]


@settings(max_examples=15, deadline=None)
@given(name=st.sampled_from(CORRUPTIBLE),
       damage=st.sampled_from(["truncate", "garbage", "delete", "empty-json", "folder"]),
       keep=st.integers(0, 200))
def test_the_cli_on_a_corrupted_run_folder_answers_or_refuses_clearly(name, damage, keep):
    import shutil
    import tempfile
    from pathlib import Path

    from typer.testing import CliRunner

    from g2m.cli import app
    from g2m.errors import G2MError

    run = Path(tempfile.mkdtemp()) / "run"
    shutil.copytree(_finished_run(), run)
    target = run / name
    data = target.read_bytes()
    if damage == "truncate":
        target.write_bytes(data[:keep])
    elif damage == "garbage":
        target.write_bytes(bytes(np.random.default_rng(keep).integers(0, 256, keep + 1, dtype=np.uint8)))
    elif damage == "delete":
        target.unlink()
    elif damage == "empty-json":
        target.write_text("{}")
    else:
        target.unlink()
        target.mkdir()
    for args in (["evaluate", str(run)],
                 ["distill", "-d", "cora", "--seeds", "2", "--setting", "tran", "-p", "teacher.max_epochs=3",
                  "-p", "student.max_epochs=3", "-o", str(run), "--resume"],
                 ["rerun", str(run), "-o", str(run.parent / "again"), "--overwrite"]):
        result = CliRunner().invoke(app, args)
        if result.exit_code != 0:  # refused: g2m's own error, or an OS error (the CLI's entry point prints both as
            # one line: tests/utils/test_io.py), never another exception
            assert isinstance(result.exception, (G2MError, OSError, SystemExit)), (name, damage, args[0],
                                                                                   repr(result.exception))
    shutil.rmtree(run.parent)
