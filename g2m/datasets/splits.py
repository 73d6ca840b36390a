"""Train/validation/test splits: CPF, fixed (public/official), random, inductive, and graph splits."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from g2m.errors import ConfigError, DatasetError

SETTINGS = ("tran", "ind")
SETTING_ALIASES = {"transductive": "tran", "inductive": "ind"}  # the names of the metrics.json columns


def canonical_setting(setting: str) -> str:
    """``"tran"`` or ``"ind"`` for a setting given by its short or its full name (``"inductive"``)."""
    setting = SETTING_ALIASES.get(setting, setting)
    if setting not in SETTINGS:
        raise ConfigError(f"--setting {setting!r}: use tran (transductive), ind (inductive) or, where both run, both.")
    return setting
# "public" (Planetoid), "official" (OGB) and "masks" (the user's own) are fixed: the same nodes for every seed
FIXED_PROTOCOLS = ("public", "official", "masks")
SPLIT_PROTOCOLS = ("cpf", "random", *FIXED_PROTOCOLS)
SPLIT_PARTS = ("train", "val", "test")


@dataclass
class NodeSplit:
    """Global node ids of each part. In the inductive setting ``test_ind`` holds the held-out test nodes
    and ``test`` the remaining (observed) ones; ``observed`` lists every node seen during training."""

    train: Tensor
    val: Tensor
    test: Tensor
    observed: Tensor
    test_ind: Tensor | None = None
    setting: str = "tran"
    seed: int = 0

    def observed_graph(self, data: Data) -> tuple[Data, Tensor]:
        """The graph training sees: held-out nodes and every edge touching them removed.

        Returns the observed subgraph (nodes renumbered ``0..len(observed)-1`` in the order of
        ``observed``) and a map from global id to local id (``-1`` for held-out nodes).
        """
        local = self.local_ids(data.num_nodes)
        if self.setting == "tran":
            return data, local
        return data.subgraph(self.observed), local

    def local_ids(self, num_nodes: int) -> Tensor:
        """Global node id → row of the observed graph (``-1`` for held-out nodes), on ``observed``'s device."""
        local = torch.full((num_nodes,), -1, dtype=torch.long, device=self.observed.device)
        local[self.observed] = torch.arange(self.observed.numel(), device=self.observed.device)
        return local

    def to_dict(self) -> dict[str, list[int]]:
        out = {k: getattr(self, k).tolist() for k in ("train", "val", "test")}
        if self.test_ind is not None:
            out["test_ind"] = self.test_ind.tolist()
        return out


def cpf_split(y: Tensor, seed: int, train_per_class: int = 20, val_per_class: int = 30):
    """The CPF / GLNN / VQGraph split, node for node as GLNN's code draws it for ``seed``.

    One ``numpy.random.RandomState(seed)``: for each class in order, ``train_per_class`` of its nodes
    (ascending ids) drawn without replacement; then, in a second pass over the classes,
    ``val_per_class`` of the remaining nodes of each class. Every other node is a test node (ascending).
    Train and validation ids keep the draw order, as in the reference files.
    """
    rng = np.random.RandomState(seed)
    labels = y.cpu().numpy()
    need = train_per_class + val_per_class
    members = []
    for c in np.unique(labels):
        nodes = np.flatnonzero(labels == c)
        if len(nodes) <= need:
            raise DatasetError(
                f"class {int(c)} has {len(nodes)} nodes but the CPF split needs more than {need} "
                f"({train_per_class} train + {val_per_class} val + test); use split='random' instead."
            )
        members.append(nodes)
    train = np.concatenate([rng.choice(nodes, train_per_class, replace=False) for nodes in members])
    left = [np.setdiff1d(nodes, train) for nodes in members]  # ascending, train removed
    val = np.concatenate([rng.choice(nodes, val_per_class, replace=False) for nodes in left])
    test_mask = np.ones(len(labels), dtype=bool)
    test_mask[train] = test_mask[val] = False
    return torch.from_numpy(train), torch.from_numpy(val), torch.from_numpy(np.flatnonzero(test_mask))


RANDOM_SPLIT_MIN_PER_CLASS = 5  # 60/20/20 stratified: at least one node of each class in validation and test


def random_split(y: Tensor, seed: int, fractions: tuple[float, float] = (0.6, 0.2)):
    """Stratified random split with the given train and validation fractions; the rest is test."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(y.numel())
    labels = y.cpu().numpy()
    counts = np.bincount(labels)
    small = [(c, int(k)) for c, k in enumerate(counts) if 0 < k < RANDOM_SPLIT_MIN_PER_CLASS]
    if small:
        shown = ", ".join(f"class {c}: {k}" for c, k in small[:10])
        raise DatasetError(
            f"the stratified random split needs at least {RANDOM_SPLIT_MIN_PER_CLASS} nodes per class (some in "
            f"training, validation and test), but {len(small)} classes have fewer ({shown}). Merge or drop those "
            "classes, or label more nodes.")
    train, rest = train_test_split(idx, train_size=fractions[0], stratify=labels, random_state=seed)
    val_share = fractions[1] / (1.0 - fractions[0])
    val, test = train_test_split(rest, train_size=val_share, stratify=labels[rest], random_state=seed)
    return tuple(torch.from_numpy(np.sort(a)) for a in (train, val, test))


def inductive_split(test: Tensor, num_nodes: int, seed: int, fraction: float = 0.2):
    """Hold out ``fraction`` of the test nodes as GLNN does: ``torch.randperm(len(test))`` from a generator
    seeded with ``seed``; its first ``floor(fraction * len(test))`` entries pick positions in the ascending
    test list. Returns ``(test_observed, test_ind, observed)``; ``test_ind`` keeps the draw order."""
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"inductive fraction must be in (0, 1), got {fraction}.")
    test = test.sort().values
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(test.numel(), generator=gen)
    n_ind = int(fraction * test.numel())
    test_ind, test_obs = test[perm[:n_ind]], test[perm[n_ind:]].sort().values
    mask = torch.ones(num_nodes, dtype=torch.bool)
    mask[test_ind] = False
    return test_obs, test_ind, mask.nonzero().view(-1)


def node_split(dataset, seed: int = 0, setting: str = "tran", protocol: str | None = None,
               ind_fraction: float = 0.2) -> NodeSplit:
    """The split of ``dataset`` (a `NodeDataset`) for one seed and setting (``tran`` or ``ind``)."""
    setting = canonical_setting(setting)
    protocol = protocol or dataset.split_protocol
    y = dataset.data.y
    if protocol == "cpf":
        train, val, test = cpf_split(y, seed)
    elif protocol == "random":
        train, val, test = random_split(y, seed)
    elif protocol in FIXED_PROTOCOLS:
        if dataset.fixed_split is None:
            raise ConfigError(f"dataset {dataset.name!r} has no fixed split; use protocol 'cpf' or 'random'.")
        train, val, test = (dataset.fixed_split[k].long() for k in ("train", "val", "test"))
    else:
        raise ConfigError(f"unknown split protocol {protocol!r}; use one of {', '.join(SPLIT_PROTOCOLS)}.")
    n = dataset.num_nodes
    if setting == "tran":
        return NodeSplit(train, val, test, observed=torch.arange(n), setting="tran", seed=seed)
    test_obs, test_ind, observed = inductive_split(test, n, seed, ind_fraction)
    return NodeSplit(train, val, test_obs, observed=observed, test_ind=test_ind, setting="ind", seed=seed)


def split_ids(parts: Mapping[str, Any], num_nodes: int) -> dict[str, Tensor]:
    """A user's split as node ids: ``parts`` maps ``train``/``val``/``test`` to boolean masks of length
    ``num_nodes`` or to node ids (tensors, arrays or lists). Ids keep their order; masks give ascending ids.
    Refused with the reason: a missing or empty part, a mask of the wrong length or shape, ids out of range or
    repeated, a node in two parts."""
    missing = [k for k in SPLIT_PARTS if k not in parts]
    extra = sorted(set(parts) - set(SPLIT_PARTS))
    if missing or extra:
        raise ConfigError(f"a split needs exactly the parts train, val and test; missing {missing or 'none'}, "
                          f"unknown {extra or 'none'}.")
    out: dict[str, Tensor] = {}
    for key in SPLIT_PARTS:
        value = torch.as_tensor(np.asarray(parts[key].cpu() if isinstance(parts[key], Tensor) else parts[key]))
        if value.numel() == 0:
            raise ConfigError(f"the {key} part of the split is empty: give it at least one node.")
        if value.dtype == torch.bool:
            if value.dim() != 1 or value.numel() != num_nodes:
                raise ConfigError(f"the {key} mask has shape {list(value.shape)} but the graph has {num_nodes} nodes: "
                                  "give one boolean per node (a mask with one column per split: pick one, e.g. "
                                  f"data.{key}_mask[:, 0]).")
            value = value.nonzero().view(-1)
        elif value.is_floating_point() or value.dim() != 1:
            raise ConfigError(f"the {key} part must be a boolean mask or a list of integer node ids, got "
                              f"{value.dtype} of shape {list(value.shape)}.")
        value = value.long()
        if value.numel() == 0:  # a mask with no node set
            raise ConfigError(f"the {key} part of the split is empty: give it at least one node.")
        if bool(((value < 0) | (value >= num_nodes)).any()):
            raise ConfigError(f"the {key} part has node ids outside 0..{num_nodes - 1}.")
        if value.unique().numel() != value.numel():
            raise ConfigError(f"the {key} part lists a node more than once.")
        out[key] = value
    seen = torch.zeros(num_nodes, dtype=torch.long)
    for value in out.values():
        seen[value] += 1
    if bool((seen > 1).any()):
        raise ConfigError(f"{int((seen > 1).sum())} node(s) are in two parts of the split (e.g. node "
                          f"{int((seen > 1).nonzero()[0])}): train, val and test must not overlap.")
    return out


def with_split(dataset, split: str | os.PathLike | Mapping[str, Any] | None):
    """``dataset`` (a `NodeDataset`) with the split a user chose.

    Args:
        split: ``None`` (the dataset's own protocol), a protocol name (`SPLIT_PROTOCOLS`; ``"masks"``: the
            ``train_mask``/``val_mask``/``test_mask`` of the user's ``Data``, or the ``split.json`` of a user
            folder), a mapping of the three parts (`split_ids`), or a path to a JSON file of them.
    """
    import dataclasses

    if split is None or split == dataset.split_protocol:
        return dataset
    if isinstance(split, str) and split in SPLIT_PROTOCOLS:
        if split in FIXED_PROTOCOLS:
            if dataset.fixed_split is None:
                raise ConfigError(f"dataset {dataset.name!r} has no {split} split: a user graph's split comes from "
                                  "its Data's train_mask/val_mask/test_mask or its folder's split.json; or pass "
                                  "a JSON file of node ids (--split PATH), or use cpf or random.")
            fixed = split_ids(dataset.fixed_split, dataset.num_nodes)
            return dataclasses.replace(dataset, split_protocol=split, fixed_split=fixed)
        return dataclasses.replace(dataset, split_protocol=split)
    if isinstance(split, Mapping):
        return dataclasses.replace(dataset, split_protocol="masks", fixed_split=split_ids(split, dataset.num_nodes))
    return dataclasses.replace(dataset, split_protocol="masks",
                               fixed_split=split_ids(read_split_file(Path(split)), dataset.num_nodes))


def read_split_file(path: Path) -> dict[str, Any]:
    """``{"train": [...], "val": [...], "test": [...]}`` (node ids or booleans) from a JSON file."""
    import json

    if path.suffix.lower() != ".json" or not path.is_file():
        raise ConfigError(f"split {str(path)!r}: use one of {', '.join(SPLIT_PROTOCOLS)}, or the path of a JSON file "
                          'of node ids {"train": [...], "val": [...], "test": [...]}.')
    try:
        parts = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the split file {path}: {exc}.") from None
    if not isinstance(parts, dict):
        raise ConfigError(f"{path} must hold a JSON object with the keys train, val and test.")
    return parts


def graph_split(dataset, seed: int = 0, fractions: tuple[float, float] = (0.8, 0.1)) -> dict[str, Tensor]:
    """Graph-classification split: OGB's official one, else a seeded stratified 80/10/10 split."""
    if dataset.fixed_split is not None:
        return {k: v.long() for k, v in dataset.fixed_split.items()}
    y = dataset.dataset.y.view(-1)
    train, val, test = random_split(y, seed, fractions)
    return {"train": train, "val": val, "test": test}


def graph_labels(dataset) -> np.ndarray:
    """One class label per graph of a `g2m.datasets.GraphDataset` (numpy, int)."""
    return dataset.dataset.y.view(len(dataset.dataset), -1)[:, 0].long().numpy()


def cv_folds(y: np.ndarray | Tensor, folds: int = 10, seed: int = 0, holdout: float = 0.1) -> list[dict[str, Tensor]]:
    """Errica et al.'s protocol: stratified ``folds``-fold CV; inside each training fold a stratified
    ``holdout`` share is the validation set (model selection), the fold itself is the test set.

    Returns one ``{"train", "val", "test"}`` dict of sorted graph ids per fold; the test folds are disjoint
    and cover every graph once."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    labels = np.asarray(y.cpu().numpy() if isinstance(y, Tensor) else y).reshape(-1)
    smallest = int(np.bincount(labels).min()) if labels.size else 0
    if folds < 2 or smallest < folds:
        raise DatasetError(f"{folds}-fold stratified CV needs at least {folds} graphs of every class; the "
                           f"smallest class has {smallest}. Use fewer folds.")
    out = []
    outer = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for k, (train_val, test) in enumerate(outer.split(np.zeros(len(labels)), labels)):
        train, val = train_test_split(train_val, test_size=holdout, stratify=labels[train_val],
                                      random_state=seed + k)
        out.append({name: torch.from_numpy(np.sort(a)).long() for name, a in
                    (("train", train), ("val", val), ("test", test))})
    return out


def ids_sha256(ids: Tensor) -> str:
    """sha256 of the ascending node ids joined by commas (the reference files' fingerprint)."""
    text = ",".join(str(i) for i in sorted(int(v) for v in ids.view(-1).tolist()))
    return hashlib.sha256(text.encode()).hexdigest()


def split_fingerprints(dataset, seed: int, ind_fraction: float = 0.2) -> dict[str, str]:
    """Which nodes a seed's numbers were measured on: ``train``/``val``/``test`` (all test nodes) and
    ``ind_test`` (the inductive hold-out), each as `ids_sha256`."""
    ind = node_split(dataset, seed, "ind", ind_fraction=ind_fraction)
    test = torch.cat([ind.test, ind.test_ind])
    return {"train_sha256": ids_sha256(ind.train), "val_sha256": ids_sha256(ind.val),
            "test_sha256": ids_sha256(test), "ind_test_sha256": ids_sha256(ind.test_ind)}
