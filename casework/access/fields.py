"""Which fields a model has, and the tier each declares where it is defined."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from sqlalchemy import inspect as sa_inspect

from .policy import TIERS


@dataclass(frozen=True)
class FieldSpec:
    name: str
    tier: str
    read_only: bool = False
    vocab: str | None = None


@cache
def field_specs(model: type) -> dict[str, FieldSpec]:
    """Every field of ``model`` that carries a tier, in declaration order.

    Columns declare ``info={"tier": ...}``; fields that are not columns (derived lists,
    association tables) are declared in the model's ``policy_fields``.
    """
    specs: dict[str, FieldSpec] = {}
    mapper = sa_inspect(model)
    for attr in mapper.column_attrs:
        info = attr.columns[0].info
        if "tier" in info:
            specs[attr.key] = _spec(attr.key, info, model)
    for name, info in getattr(model, "policy_fields", {}).items():
        specs[name] = _spec(name, info, model)
    return specs


def _spec(name: str, info: dict, model: type) -> FieldSpec:
    tier = info["tier"]
    if tier not in TIERS:
        raise ValueError(f"{model.__name__}.{name} declares unknown tier {tier!r}")
    return FieldSpec(name, tier, bool(info.get("read_only")), info.get("vocab"))


def fields_in_tier(model: type, tier: str) -> list[str]:
    return [name for name, spec in field_specs(model).items() if spec.tier == tier]
