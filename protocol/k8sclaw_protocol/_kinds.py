"""The registry of custom resource kinds, in the order the installer applies them."""

from __future__ import annotations

from k8sclaw_protocol._agentrun import AgentRun
from k8sclaw_protocol._base import Resource
from k8sclaw_protocol._instance import ClawInstance
from k8sclaw_protocol._policy import ClawPolicy
from k8sclaw_protocol._schedule import ClawSchedule
from k8sclaw_protocol._skillpack import SkillPack

KINDS: tuple[type[Resource], ...] = (ClawPolicy, SkillPack, ClawInstance, AgentRun, ClawSchedule)
_BY_NAME: dict[str, type[Resource]] = {}
for _kind in KINDS:
    for _alias in (
        _kind.info.kind,
        _kind.info.plural,
        _kind.info.singular,
        *_kind.info.short_names,
    ):
        _BY_NAME[_alias.lower()] = _kind


def kind_for(name: str) -> type[Resource]:
    """Resolve a kind, plural, singular or short name (kubectl style) to its model."""
    try:
        return _BY_NAME[name.lower()]
    except KeyError:
        known = ", ".join(sorted(k.info.plural for k in KINDS))
        raise KeyError(f"unknown resource type {name!r}; known: {known}") from None
