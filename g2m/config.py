"""Settings and their defaults: GLNN's published per-dataset settings where they exist.

Teacher and student defaults follow GLNN's ``train.conf.yaml`` (2 layers, 128 hidden; SAGE lr 0.01,
weight decay 5e-4). Everything can be overridden per call (library) or per flag (CLI).

The settings a teacher family, the student and the VQ tokenizer take are typed, frozen dataclasses
(`TeacherSettings` and its subclasses, `StudentSettings`, `VQSettings`): their fields are the only valid
keys, with their defaults, and construction checks ranges. An unknown key, wherever it comes from (a keyword
argument, ``--params`` JSON, ``teacher_params``/``student_params``, a hand-edited ``config.json``), is a
`ConfigError` naming the key and the nearest valid ones (`check_keys`). Per-dataset defaults stay as data
below, applied over the class defaults.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable, ClassVar, Iterable

from g2m.errors import ConfigError


def check_keys(given: Iterable[str], valid: Iterable[str], what: str) -> None:
    """Raise a `ConfigError` for every key of ``given`` that is not in ``valid``, naming the nearest valid ones.

    Args:
        given: the keys supplied.
        valid: the keys accepted.
        what: what they configure, for the message (e.g. ``"sage teacher"``).
    """
    valid = sorted(set(valid))
    unknown = [k for k in given if k not in valid]
    if not unknown:
        return
    hints = []
    for key in unknown:
        near = difflib.get_close_matches(str(key), valid, n=3, cutoff=0.6)
        hints.append(f"{key!r}" + (f" (did you mean {' or '.join(repr(n) for n in near)}?)" if near else ""))
    raise ConfigError(f"unknown {what} setting(s): {', '.join(hints)}. Valid settings: {', '.join(valid)}.")


@dataclass(frozen=True)
class Settings:
    """Base of g2m's typed settings: frozen, validated at construction, ``replace()`` refuses unknown keys.

    A field whose value is ``None`` is unset: `to_dict` leaves it out, so the code that reads the settings
    uses its own default (e.g. no normalisation, full-batch training)."""

    what: ClassVar[str] = "settings"

    @classmethod
    def keys(cls) -> frozenset[str]:
        return frozenset(f.name for f in fields(cls))

    def replace(self, **changes: Any) -> "Settings":
        """A copy with ``changes`` applied; an unknown key is a `ConfigError` with the nearest valid names."""
        check_keys(changes, self.keys(), self.what)
        return type(self)(**{**asdict(self), **changes})

    def to_dict(self) -> dict[str, Any]:
        """The set fields (``None`` = unset is left out), as the trainers read them."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    def __post_init__(self) -> None:
        if "what" in self.keys():  # a ClassVar annotation dataclasses could not resolve (typing imported locally)
            raise TypeError(f"{type(self).__name__}: declare `what: ClassVar[str]` with ClassVar imported at module "
                            "level, so that it is not a setting.")
        for f in fields(self):
            check = f.metadata.get("check")
            value = getattr(self, f.name)
            if check is not None and value is not None and not check(value):
                raise ConfigError(f"{self.what} setting {f.name}={value!r}: {f.metadata['help']}.")


def setting(default: Any, help: str, check: Callable[[Any], bool] | None = None) -> Any:  # noqa: A002
    """A `Settings` field: its default, its one-line help and (optionally) the check its values must pass."""
    return field(default=default, metadata={"help": help, "check": check})


def _positive(v: Any) -> bool:
    return v >= 1


def _non_negative(v: Any) -> bool:
    return v >= 0


def _share(v: Any) -> bool:
    return 0.0 <= v < 1.0


@dataclass(frozen=True)
class TrainSettings(Settings):
    """Early-stopped training. ties="latest": an epoch that equals the best validation accuracy replaces it
    (GLNN's `>=` rule); "earliest": only a strictly better one does."""

    max_epochs: int = setting(500, "at most this many epochs, a positive integer", _positive)
    patience: int = setting(50, "epochs without a better validation accuracy before stopping, a positive integer",
                         _positive)
    ties: str = setting("latest", "'latest' or 'earliest'", lambda v: v in ("latest", "earliest"))


@dataclass(frozen=True)
class ModelSettings(TrainSettings):
    """A network's shape and its optimiser: what teachers and the student share."""

    hidden_channels: int = setting(128, "hidden channels, a positive integer", _positive)
    num_layers: int = setting(2, "layers, a positive integer", _positive)
    dropout: float = setting(0.5, "dropout, in [0, 1)", _share)
    lr: float = setting(0.01, "learning rate, positive", lambda v: v > 0)
    weight_decay: float = setting(5e-4, "weight decay, non-negative", _non_negative)
    norm: str | None = setting(None, "normalisation between layers (a PyG name such as 'batch_norm'), or unset")


@dataclass(frozen=True)
class TeacherSettings(ModelSettings):
    """Settings every teacher GNN takes (training, model, minibatches, inference)."""

    what: ClassVar[str] = "teacher"
    batch_size: int | None = setting(None, "NeighborLoader seed nodes per step (0 or unset: full batch), "
                                        "non-negative", _non_negative)
    fan_out: int | None = setting(None, "neighbours sampled per node and hop (0 or unset: all)", _non_negative)
    inference_chunk_size: int | None = setting(None, "target nodes per chunk of the layer-wise inference (0: one "
                                                  "full-graph pass; unset: automatic), non-negative", _non_negative)


@dataclass(frozen=True)
class SAGESettings(TeacherSettings):
    """GraphSAGE. GLNN's teacher is DGL's SAGEConv with the "gcn" aggregator (aggr="gcn"), trained with fan-out
    5. On the exact CPF splits, validation accuracy (benchmarks/teacher_sweep.py, docs/results/teacher_sweep.json)
    preferred aggr "gcn" + dropout 0.5 + fan-out 5 on cora (tied with dropout 0), citeseer and a-computer;
    a-photo preferred PyG's mean aggregator (see TEACHER_DATASET_DEFAULTS)."""

    what: ClassVar[str] = "sage teacher"
    fan_out: int | None = setting(5, "neighbours sampled per node and hop (0 or unset: all)", _non_negative)
    aggr: str = setting("gcn", "'gcn' (GLNN's: one weight, self counted in) or 'mean' (PyG's SAGEConv)",
                     lambda v: v in ("gcn", "mean"))


@dataclass(frozen=True)
class GCNSettings(TeacherSettings):
    what: ClassVar[str] = "gcn teacher"
    hidden_channels: int = setting(64, "hidden channels, a positive integer", _positive)
    dropout: float = setting(0.8, "dropout, in [0, 1)", _share)
    weight_decay: float = setting(1e-3, "weight decay, non-negative", _non_negative)


@dataclass(frozen=True)
class GATSettings(TeacherSettings):
    what: ClassVar[str] = "gat teacher"
    hidden_channels: int = setting(64, "hidden channels per head, a positive integer", _positive)
    dropout: float = setting(0.6, "dropout, in [0, 1)", _share)
    weight_decay: float = setting(1e-2, "weight decay, non-negative", _non_negative)
    heads: int = setting(8, "attention heads, a positive integer", _positive)
    attn_dropout: float = setting(0.3, "attention dropout, in [0, 1)", _share)


@dataclass(frozen=True)
class APPNPSettings(TeacherSettings):
    what: ClassVar[str] = "appnp teacher"
    weight_decay: float = setting(1e-2, "weight decay, non-negative", _non_negative)
    K: int = setting(10, "propagation steps, a positive integer", _positive)
    alpha: float = setting(0.1, "teleport probability, in [0, 1)", _share)


TEACHER_SETTINGS: dict[str, type[TeacherSettings]] = {
    "sage": SAGESettings, "gcn": GCNSettings, "gat": GATSettings, "appnp": APPNPSettings,
}
# Each family's defaults (training settings aside), as data.
TEACHER_DEFAULTS: dict[str, dict[str, Any]] = {
    name: {k: v for k, v in cls().to_dict().items() if k not in TrainSettings.keys()}
    for name, cls in TEACHER_SETTINGS.items()
}

# Per-dataset teacher overrides, keyed (dataset, teacher); chosen on validation accuracy as above.
TEACHER_DATASET_DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {
    ("a-photo", "sage"): dict(aggr="mean"),
}

@dataclass(frozen=True)
class StudentSettings(ModelSettings):
    """The MLP student and its training. batch_size: GLNN's minibatches of 512 nodes; on the exact CPF splits
    validation accuracy preferred them to full-batch training for GLNN students on all four CPF datasets
    (benchmarks/student_sweep.py, docs/results/student_sweep.json). 0 = full batch."""

    what: ClassVar[str] = "student"
    batch_size: int = setting(512, "nodes per minibatch (0: full batch), non-negative", _non_negative)
    # record the test accuracy a test-selected epoch would report (benchmarks only; selection stays on validation)
    report_test_selected: bool = setting(False, "True or False")


STUDENT_DEFAULTS: dict[str, Any] = {k: v for k, v in StudentSettings().to_dict().items()
                                    if k not in TrainSettings.keys()}

STUDENT_DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "cora": dict(lr=0.01, weight_decay=5e-3, dropout=0.6),
    "citeseer": dict(lr=0.01, weight_decay=1e-3, dropout=0.1),
    "pubmed": dict(lr=0.005, weight_decay=0.0, dropout=0.4),
    "a-computer": dict(lr=0.001, weight_decay=2e-3, dropout=0.3),
    "a-photo": dict(lr=0.005, weight_decay=2e-3, dropout=0.3),
    "ogbn-arxiv": dict(num_layers=3, hidden_channels=256, weight_decay=0.0, dropout=0.2, norm="batch_norm"),
}

# Above this many edges, a teacher's final outputs (what students learn from) are computed layer by layer in
# chunks (g2m/inference.py, exact) instead of one full-graph pass; the teacher setting inference_chunk_size
# overrides it (0 = always one pass).
LARGE_GRAPH_EDGES = 10_000_000

TRAIN_DEFAULTS: dict[str, Any] = TrainSettings().to_dict()

# Distillation: loss = lam * CE(labels) + (1 - lam) * sum_t w_t * term_t (GLNN: lam = 0, tau = 1).
DISTILL_DEFAULTS: dict[str, Any] = dict(lam=0.0, temperature=1.0)
DISTILL_DATASET_DEFAULTS: dict[str, dict[str, Any]] = {}

# Per-dataset values of a method's settings: method → dataset → settings. Each method's defaults for every
# dataset are its own settings class (``Method.settings``, in the method's module); a composed spec ``a+b``
# applies ``a``'s then ``b``'s (later wins), then an entry under the full name ``"a+b"`` if there is one.
METHOD_DATASET_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    # FF-G2M: lam/temperature picked on mean validation accuracy (exact splits, seeds 0-2, SAGE teacher,
    # transductive) over lam in {0, 0.2, 0.5} x temperature in {1.0, 1.5} on cora and citeseer by
    # `python benchmarks/ffg2m_grid.py` (docs/results/ffg2m_grid.json); Amazon untuned. docs/ffg2m.md.
    "ffg2m": {"cora": dict(lam=0.0, temperature=1.5), "citeseer": dict(lam=0.2, temperature=1.5)},
}


def _given(overrides: dict[str, Any]) -> dict[str, Any]:
    """The overrides actually given (``None`` = not given, e.g. a CLI option left out)."""
    return {k: v for k, v in overrides.items() if v is not None}


def _teacher_class(teacher: str) -> type[TeacherSettings]:
    if teacher not in TEACHER_SETTINGS:
        raise ConfigError(f"unknown teacher {teacher!r}; choose one of: {', '.join(TEACHER_SETTINGS)}.")
    return TEACHER_SETTINGS[teacher]


def teacher_settings(dataset: str, teacher: str, **overrides: Any) -> TeacherSettings:
    """The typed settings of teacher family ``teacher`` on ``dataset``: class defaults, dataset defaults, then
    ``overrides`` (``None`` values ignored; an unknown key is a `ConfigError`)."""
    settings = _teacher_class(teacher)().replace(**TEACHER_DATASET_DEFAULTS.get((dataset, teacher), {}))
    return settings.replace(**_given(overrides))


def teacher_config(dataset: str, teacher: str, **overrides: Any) -> dict[str, Any]:
    """`teacher_settings` as the dict the trainers read (unset fields left out)."""
    return teacher_settings(dataset, teacher, **overrides).to_dict()


def student_config(dataset: str, **overrides: Any) -> dict[str, Any]:
    """Student (MLP) settings for ``dataset`` (`StudentSettings`: defaults, dataset defaults, ``overrides``)."""
    settings = StudentSettings().replace(**STUDENT_DATASET_DEFAULTS.get(dataset, {}))
    return settings.replace(**_given(overrides)).to_dict()


def distill_config(dataset: str, method: Any = None, **overrides: Any) -> dict[str, Any]:
    """Distillation settings for ``dataset``: lam and temperature, then ``method``'s own settings (a registered
    name, ``a+b`` or a `g2m.distill.methods.Method`; see `Method.distill_settings`), then ``overrides``."""
    cfg = dict(DISTILL_DEFAULTS)
    cfg.update(DISTILL_DATASET_DEFAULTS.get(dataset, {}))
    if method:
        from g2m.distill.methods import resolve_method  # the methods module imports this one

        cfg.update((resolve_method(method) if isinstance(method, str) else method).distill_settings(dataset))
    cfg.update(_given(overrides))
    return cfg

# Student settings chosen by a `g2m tune` study (validation only), keyed (dataset, method): any student or
# distillation parameter. They apply to that method on that dataset only, under explicit overrides; each entry
# names the study (docs/results/tune/<dataset>-<method>/best.json, with its journal) that chose it.
# A study's choice is adopted only when its 10-seed mean validation accuracy beats the defaults' (cora's
# glnn+ffg2m+pos study did not: 83.71 vs 84.05, so cora keeps the defaults).
TUNED_STUDENT_DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {
    # docs/results/tune/citeseer-glnn+ffg2m+pos/ (24 trials, seeds 0-1, transductive validation): 10-seed
    # validation 70.61 vs 70.00 with the defaults.
    ("citeseer", "glnn+ffg2m+pos"): dict(lr=0.005640814633687178, weight_decay=3.239373151224078e-05,
                                         dropout=0.17627775907758073, lam=0.25931937092213786,
                                         temperature=1.230907669487077, w_lfd=1.6629783703889776,
                                         w_hfd=0.6290190638711884, position_dim=16, walks_per_node=1),
}


def tuned_student_defaults(dataset: str, method: str) -> dict[str, Any]:
    """The tuned settings of ``method`` on ``dataset`` (empty when no study chose any)."""
    return dict(TUNED_STUDENT_DEFAULTS.get((dataset, method), {}))

@dataclass(frozen=True)
class VQSettings(Settings):
    """VQGraph's tokenizer (teacher side): codebook, decoder and loss weights, beside the teacher family's
    settings. See docs/vqgraph.md; ranges are checked when the tokenizer is trained."""

    what: ClassVar[str] = "VQGraph tokenizer"
    codebook_size: int = setting(2048, "K codes: 2048 > 512 on validation on all four CPF datasets (and > 8192 on "
                                       "cora)")
    code_dim: int = setting(64, "D, the code space (teacher embeddings are projected to it)")
    code_metric: str = setting("euclidean", "or 'cosine': unit vectors and unit-norm codes (the VQGraph reference's)")
    ema_decay: float = setting(0.95, "codebook EMA decay")
    commitment: float = setting(0.25, "beta in beta * ||z - sg(q)||^2")
    w_feat: float = setting(1.0, "feature reconstruction (MSE) weight")
    w_struct: float = setting(1.0, "structure reconstruction (edges vs sampled non-edges, BCE) weight")
    neg_ratio: int = setting(1, "sampled non-edges per observed edge")
    max_edges: int = setting(50_000, "observed edges sampled per step for the structure loss (0 = all)")
    recon_nodes: int = setting(2048, "nodes sampled per step for the feature loss (0 = all)")
    dead_threshold: float = setting(1e-2, "EMA count below which a code is dead and revived")
    revive_every: int = setting(10, "EMA updates between dead-code revivals (0 = never)")
    code_layer: str = setting("embedding", "quantize the pre-classifier embedding, or 'first': the first layer's "
                                           "output")
    warm_start: bool = setting(True, "start the tokenizer's GNN from the plain teacher (same seed); beat cold starts "
                                  "on cora/citeseer validation")
    label_source: str = setting("auto", "soft labels from the 'quantized' teacher, the 'plain' one, or 'auto' (see "
                                     "label_margin)")
    label_margin: float = setting(1.0, "auto: plain labels when the quantized teacher is this many points lower on "
                                    "validation")
    tokenizer_fan_out: int = setting(0, "sampled neighbours per hop per step when training the tokenizer (0 = all)")
    tokenizer_batch_size: int = setting(0, "seed nodes per step (their sampled computation subgraphs; 0 = full batch)")
    warmup: bool = setting(True, "first train without quantization (early stopping), then k-means-init the codebook")
    vq_epochs: int = setting(200, "max epochs of joint teacher + tokenizer training (after warm-up)")
    vq_patience: int = setting(30, "early-stopping patience of that phase (validation accuracy, quantized)")


VQ_DEFAULTS: dict[str, Any] = VQSettings().to_dict()
VQ_DATASET_DEFAULTS: dict[str, dict[str, Any]] = {}


def vq_config(dataset: str, **overrides: Any) -> dict[str, Any]:
    """VQ tokenizer settings for ``dataset`` (`VQSettings`: defaults, dataset defaults, then ``overrides``)."""
    return VQSettings().replace(**VQ_DATASET_DEFAULTS.get(dataset, {})).replace(**_given(overrides)).to_dict()


# Which settings each teacher trainer takes beside the teacher family's (g2m.teacher.TEACHER_TRAINERS).
TRAINER_SETTINGS: dict[str, tuple[type[Settings], ...]] = {"standard": (), "vq": (VQSettings,)}


def teacher_setting_keys(teacher: str, trainers: Iterable[str] = ("standard",)) -> frozenset[str]:
    """Every setting a ``teacher`` trained by ``trainers`` takes."""
    keys = set(_teacher_class(teacher).keys())
    for trainer in trainers:
        for extra in TRAINER_SETTINGS.get(trainer, ()):
            keys |= extra.keys()
    return frozenset(keys)


def student_setting_keys(method: Any) -> frozenset[str]:
    """Every setting a student of ``method`` (a `g2m.distill.methods.Method`) takes: the student's, lam and
    temperature, the method's own settings and one weight ``w_<term>`` per loss term."""
    return frozenset(StudentSettings.keys() | set(DISTILL_DEFAULTS) | method.setting_keys()
                     | {f"w_{t}" for t in method.terms})
