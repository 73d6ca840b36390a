"""The multi-seed pipeline: worker processes give the same numbers as one process."""

from __future__ import annotations

import pytest
import torch

from g2m.pipeline import run_node_experiment
from g2m.spec import NodeRunSpec


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_jobs_do_not_change_results(one_thread):
    kw = dict(teacher="sage", methods=["glnn"], seeds=[0, 1], setting="both", device="cpu",
              teacher_overrides={"max_epochs": 20}, student_overrides={"max_epochs": 20}, save_checkpoints=False)
    steps: list[str] = []
    serial = run_node_experiment(NodeRunSpec("cora", **kw))
    parallel = run_node_experiment(NodeRunSpec("cora", jobs=2, **kw), on_step=steps.append)
    for who in ("teachers", "students"):
        assert serial[who] == parallel[who]
    assert parallel["splits"] == serial["splits"]
    assert len(steps) == 2 * 2 * 2  # (teacher + student) x settings x seeds, each reported once
    assert parallel["timings"]["jobs"] == 2


@pytest.mark.parametrize("teacher", ["gcn", "gat", "appnp", "sage+gcn"])
def test_every_teacher_family_teaches_every_distilling_method(teacher):
    """glnn, FF-G2M's edge terms and NOSMOG's positions read only the teacher's outputs: any family (or an
    average of families) teaches them, in both settings."""
    spec = NodeRunSpec("cora", teacher=teacher, methods=["glnn+ffg2m+pos"], seeds=[0], setting="both",
                       teacher_overrides={"max_epochs": 10}, save_checkpoints=False,
                       student_overrides={"max_epochs": 10, "position_dim": 8, "walk_length": 10, "walks_per_node": 1})
    result = run_node_experiment(spec)
    student = result["students"]["glnn+ffg2m+pos"]
    assert result["teacher_model"] == teacher
    for setting in ("transductive", "inductive", "production"):
        assert 0 < student[setting]["mean"] <= 100, (teacher, setting)
