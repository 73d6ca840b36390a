"""Several teachers for one student: the best on validation (``auto``) or their average (``sage+appnp+gat``).

Training a few teachers is cheap next to what a deployed student saves, and the student stays the same MLP,
so inference costs nothing more. A `TeacherCommittee` names such a teacher:

- ``auto``: every built-in family (``sage``, ``gcn``, ``gat``, ``appnp``) is trained on the split and the one
  with the best **validation** accuracy is distilled, chosen anew for every seed and setting (test accuracy
  never decides; a tie goes to the family listed first);
- ``a+b+...`` (two or more families): the members are trained and the student learns from their average, the
  log of the mean of their class probabilities (so a softmax of it is the members' mean prediction; the
  student's temperature then applies to it as to one teacher's logits).

Both are trained by the ``"committee"`` teacher trainer; each member is trained exactly as it would be alone
(same seed, same settings), so ``auto`` distills the very teacher ``-t <chosen>`` would. Every member's
validation and test accuracy and training time are kept in the teacher's extra metrics (``metrics.json``:
``teacher_candidates``; for ``auto`` also ``chosen_<family>``, 1 where it was chosen, so its mean is the share of
runs that chose it). An average has no hidden layer (methods that need one, such as ``rsd``, refuse it) and no
single network, so no teacher checkpoint is written for it. Methods that train their own teacher (VQGraph's
tokenizer) take one family, not a committee.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import torch
from torch import Tensor
from torch_geometric import seed_everything

from g2m.config import teacher_setting_keys
from g2m.datasets.base import NodeDataset
from g2m.datasets.splits import NodeSplit
from g2m.errors import ConfigError
from g2m.teacher import TEACHER_TRAINERS, TeacherRun, full_graph_logits, train_teacher
from g2m.training import accuracy

COMMITTEE = "committee"  # the teacher trainer of a committee
AUTO = "auto"
RULES = ("best-validation", "mean")


@dataclass(frozen=True)
class TeacherCommittee:
    """Teacher families trained side by side; ``rule`` says what the student learns from."""

    members: tuple[str, ...]
    rule: str

    def __post_init__(self) -> None:
        from g2m.models import TEACHERS

        for member in self.members:
            TEACHERS.get(member)  # the standard unknown-name error
        if len(set(self.members)) != len(self.members) or len(self.members) < 2:
            raise ConfigError(f"teacher {'+'.join(self.members)!r}: a committee needs two or more different "
                              "families (e.g. sage+appnp+gat).")
        if self.rule not in RULES:
            raise ConfigError(f"committee rule {self.rule!r}: use one of {', '.join(RULES)}.")

    @property
    def name(self) -> str:
        """``auto``, or the members joined by ``+``: what ``-t`` takes and ``config.json`` records."""
        return AUTO if self.rule == "best-validation" else "+".join(self.members)

    def setting_keys(self, trainers=("standard",)) -> frozenset[str]:
        """The teacher settings every member takes (given settings apply to each member)."""
        return frozenset.intersection(*(teacher_setting_keys(m, trainers) for m in self.members))


def parse_committee(name: str) -> TeacherCommittee | None:
    """The committee ``name`` spells (``auto`` or ``a+b+...``), or ``None`` for anything else."""
    from g2m.models import TEACHERS

    if name == AUTO:
        return TeacherCommittee(tuple(TEACHERS.names()), "best-validation")
    if "+" in name:
        return TeacherCommittee(tuple(part.strip() for part in name.split("+")), "mean")
    return None


def mean_of_probabilities(logits: list[Tensor]) -> Tensor:
    """``log(mean_i softmax(logits_i))``: logits whose softmax is the members' mean prediction (rows that
    are memory-mapped are read once)."""
    mean = torch.stack([torch.as_tensor(t).float().cpu().softmax(-1) for t in logits]).mean(0)
    return mean.clamp_min(torch.finfo(mean.dtype).tiny).log()


@TEACHER_TRAINERS.register(COMMITTEE)
def committee_teacher(dataset: NodeDataset, split: NodeSplit, model: TeacherCommittee,
                      device: str | torch.device = "cpu", **overrides) -> TeacherRun:
    """Train every member on ``split`` (each from the split's seed, as alone) and combine them by ``model.rule``.

    Metrics (percent) are the combined teacher's: the chosen member's, or the average's ``val``, ``test`` and,
    in the inductive setting, ``test_ind`` (the members' full-graph outputs averaged)."""
    start = time.perf_counter()
    runs: dict[str, TeacherRun] = {}
    for member in model.members:
        seed_everything(split.seed)
        runs[member] = train_teacher(dataset, split, member, device=device, **overrides)
    extra = {f"{key}_{m}": float(r.metrics[key]) for m, r in runs.items() for key in ("val", "test")}
    extra.update({f"seconds_{m}": r.seconds for m, r in runs.items()})
    config = {"committee": model.name, "rule": model.rule, "members": {m: r.config for m, r in runs.items()}}
    if model.rule == "best-validation":
        chosen = max(model.members, key=lambda m: runs[m].metrics["val"])  # max keeps the first of equals
        extra.update({f"chosen_{m}": float(m == chosen) for m in model.members})
        return replace(runs[chosen], config={**runs[chosen].config, **config, "chosen": chosen},
                       extra_metrics=extra, seconds=time.perf_counter() - start)
    logits = mean_of_probabilities([r.logits for r in runs.values()])
    y = dataset.data.y
    local = split.local_ids(dataset.data.num_nodes)
    metrics = {"val": accuracy(logits[local[split.val]], y[split.val]),
               "test": accuracy(logits[local[split.test]], y[split.test])}
    if split.test_ind is not None:
        full = mean_of_probabilities([full_graph_logits(r.model, r.config, dataset.data, device) for r in runs.values()])
        metrics["test_ind"] = accuracy(full[split.test_ind], y[split.test_ind])
    return TeacherRun(model=None, name=model.name, config=config, split=split, logits=logits.to(device),
                      hidden=None, metrics=metrics, seconds=time.perf_counter() - start, extra_metrics=extra)
