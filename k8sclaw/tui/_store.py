"""The in-memory store the screens read: objects per kind keyed by uid, updated incrementally.

Only the app's main thread mutates it (workers post `RowsChanged`), so no locks are needed.
Pods are kept as `Pod` records (a few fields of the raw object): the protocol has no model
for built-in kinds and the Pods view needs only these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from k8sclaw.tui._records import Job, KubeEvent
from k8sclaw_protocol import (
    AgentRun,
    ClawInstance,
    ClawPolicy,
    ClawSchedule,
    Resource,
    SkillPack,
    names,
)

# Store kinds, in the order their watches start.
INSTANCES = "instances"
RUNS = "runs"
POLICIES = "policies"
SKILLS = "skills"
PODS = "pods"
SCHEDULES = "schedules"
JOBS = "jobs"
EVENTS = "events"
KINDS: tuple[str, ...] = (INSTANCES, RUNS, POLICIES, SKILLS, PODS, SCHEDULES)
# Watched only once their view is opened (`:jobs`, `:events`): most sessions never look,
# and a namespace's Events can outnumber everything else.
LAZY_KINDS: tuple[str, ...] = (JOBS, EVENTS)
MODELS: dict[str, type[Resource]] = {
    INSTANCES: ClawInstance,
    RUNS: AgentRun,
    POLICIES: ClawPolicy,
    SKILLS: SkillPack,
    SCHEDULES: ClawSchedule,
}


@dataclass
class Pod:
    """The fields of an agent Pod that the Pods view, describe and logs need."""

    KIND: ClassVar[str] = "Pod"  # list items carry no kind

    name: str
    namespace: str
    uid: str
    phase: str
    node: str
    ip: str
    restarts: int
    instance: str
    run: str
    created: datetime | None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @classmethod
    def from_wire(cls, obj: dict[str, Any]) -> Pod:
        """Pick the Pods-view fields out of a raw Pod object."""
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        labels = meta.get("labels") or {}
        created = meta.get("creationTimestamp")
        restarts = sum(int(c.get("restartCount", 0)) for c in status.get("containerStatuses") or [])
        return cls(
            name=meta.get("name", ""),
            namespace=meta.get("namespace", ""),
            uid=meta.get("uid") or meta.get("name", ""),
            phase=status.get("phase") or "Pending",
            node=spec.get("nodeName") or "",
            ip=status.get("podIP") or "",
            restarts=restarts,
            instance=labels.get(names.LABEL_INSTANCE, ""),
            run=labels.get(names.LABEL_AGENT_RUN) or labels.get("job-name", ""),
            created=datetime.fromisoformat(created.replace("Z", "+00:00")) if created else None,
            raw=obj,
        )


def is_record(obj: Any) -> bool:
    """A built-in kind kept as a record of its raw object (Pod, Job, Event), not a model."""
    return isinstance(obj, Pod | Job | KubeEvent)


def uid_of(obj: Any) -> str:
    """The store key of an object: its uid (its name when the server gave none)."""
    if is_record(obj):
        return str(obj.uid)
    meta = obj.metadata
    return str(meta.uid or meta.name)


def name_of(obj: Any) -> str:
    """The object's name, for models and Pods alike."""
    return str(obj.name) if is_record(obj) else str(obj.metadata.name)


class Store:
    """Objects per kind keyed by uid; `apply` returns which keys changed."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS + LAZY_KINDS}

    def apply(
        self, kind: str, upserted: list[Any], deleted: list[str], *, reset: bool = False
    ) -> tuple[set[str], set[str]]:
        """Apply one change; `(changed uids, removed uids)`. A reset drops what is not listed."""
        bucket = self.objects[kind]
        fresh = {uid_of(obj): obj for obj in upserted}
        removed = set(deleted) & bucket.keys()
        if reset:
            removed |= bucket.keys() - fresh.keys()
        for uid in removed:
            del bucket[uid]
        bucket.update(fresh)
        return set(fresh), removed

    def all(self, kind: str) -> list[Any]:
        """Every object of a kind (store order: arrival)."""
        return list(self.objects[kind].values())

    def by_name(self, kind: str, name: str) -> Any | None:
        """The object of a kind with this name, if the store has it."""
        for obj in self.objects[kind].values():
            if name_of(obj) == name:
                return obj
        return None

    def names(self, kind: str) -> list[str]:
        """Sorted names of a kind (for completion)."""
        return sorted(name_of(obj) for obj in self.objects[kind].values())

    def counts(self) -> dict[str, int]:
        """How many objects of each kind."""
        return {kind: len(bucket) for kind, bucket in self.objects.items()}

    def clear(self) -> None:
        """Forget everything (namespace switch)."""
        for bucket in self.objects.values():
            bucket.clear()
