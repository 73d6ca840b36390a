"""Distillation methods as weighted sets of loss terms; ``a+b`` composes methods.

The total loss is ``lam * label_ce + (1 - lam) * sum_t weight_t * term_t``; a method contributes its
terms (and whatever teacher knowledge they need). ``glnn+ffg2m`` is the union of both term sets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from g2m.config import METHOD_DATASET_DEFAULTS, Settings
from g2m.distill.losses import LOSSES
from g2m.errors import ConfigError
from g2m.registry import Registry


@dataclass(frozen=True)
class Method:
    """A named distillation method: its loss terms with default weights, and whether it needs a teacher.

    ``settings`` is the method's own typed settings (a frozen `g2m.config.Settings` dataclass: term weights
    ``w_<term>``, temperatures, ...; their defaults are the method's defaults on every dataset, per-dataset
    values live in `g2m.config.METHOD_DATASET_DEFAULTS`). ``parts`` are the registered methods a composition
    ``a+b`` is made of (a registered method is its own only part)."""

    name: str
    terms: dict[str, float] = field(default_factory=dict)
    needs_teacher: bool = True
    description: str = ""
    teacher_trainer: str = "standard"
    # extra student inputs beside the node features, e.g. ("position",): `g2m.distill.position`
    inputs: tuple[str, ...] = ()
    settings: type[Settings] | None = None
    parts: tuple["Method", ...] = ()

    def part_list(self) -> tuple["Method", ...]:
        return self.parts or (self,)

    def setting_keys(self) -> frozenset[str]:
        """The keys this method's parts' settings declare."""
        return frozenset().union(*(p.settings.keys() for p in self.part_list() if p.settings is not None))

    def distill_settings(self, dataset: str) -> dict[str, Any]:
        """The method's settings on ``dataset``: each part's defaults then its per-dataset values (later parts
        win), then those of the composition's full name, if any."""
        cfg: dict[str, Any] = {}
        for part in self.part_list():
            if part.settings is not None:
                cfg.update(part.settings().to_dict())
            cfg.update(METHOD_DATASET_DEFAULTS.get(part.name, {}).get(dataset, {}))
        if self.parts:
            cfg.update(METHOD_DATASET_DEFAULTS.get(self.name, {}).get(dataset, {}))
        return cfg

    def __add__(self, other: "Method") -> "Method":
        # A term both methods use (e.g. soft-label KL) counts once, at the larger weight.
        terms = dict(self.terms)
        for term, weight in other.terms.items():
            terms[term] = max(weight, terms.get(term, weight))
        trainers = {self.teacher_trainer, other.teacher_trainer} - {"standard"}
        if len(trainers) > 1:
            raise ConfigError(f"{self.name} and {other.name} need different teachers ({', '.join(sorted(trainers))}).")
        inputs = tuple(dict.fromkeys(self.inputs + other.inputs))
        return Method(f"{self.name}+{other.name}", terms, self.needs_teacher or other.needs_teacher,
                      f"{self.description} + {other.description}", trainers.pop() if trainers else "standard",
                      inputs, None, self.part_list() + other.part_list())


# g2m's own methods register themselves in these modules (imported at the first lookup)
BUILTIN_METHODS = ("g2m.distill.vqgraph", "g2m.distill.ffg2m", "g2m.distill.nosmog")
METHODS: Registry[Method] = Registry("method", providers=BUILTIN_METHODS)


def register_method(method: Method) -> Method:
    """Make ``method`` available by name (its loss terms must be registered: an unknown one is refused)."""
    METHODS.add(method.name, method)  # first, so that the built-in methods keep their order
    try:
        for term in method.terms:
            LOSSES.get(term)
    except ConfigError:
        METHODS._items.pop(method.name)
        raise
    return method


register_method(Method("mlp", {}, needs_teacher=False, description="plain MLP on labels (no teacher)"))
register_method(Method("glnn", {"soft_label_kl": 1.0}, description="GLNN: soft-label KD"))


def resolve_method(spec: str) -> Method:
    """``"glnn"`` → the registered method; ``"vqgraph+ffg2m"`` → the composition of both."""
    parts = [p.strip().lower() for p in str(spec).split("+") if p.strip()]
    if not parts:
        raise ConfigError(f"empty method spec {spec!r}; choose from {', '.join(METHODS.names())}.")
    if len(parts) != len(set(parts)):
        raise ConfigError(f"method spec {spec!r} repeats a method.")
    methods = [METHODS.get(p) for p in parts]
    if len(methods) > 1 and any(m.name == "mlp" for m in methods) and any(m.terms for m in methods):
        raise ConfigError("'mlp' (no teacher) cannot be composed with a distillation method "
                          "(only with input additions such as 'pos': 'mlp+pos').")
    out = methods[0]
    for m in methods[1:]:
        out = out + m
    return out
