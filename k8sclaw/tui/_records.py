"""Built-in kinds the Jobs and Events views show (`:jobs`, `:events`), kept as a few
fields of the raw object, as `Pod` is: the protocol has no models for them.

Event text comes from whoever wrote the Event (agent pods can cause them): the view's
cells go through the table's terminal-safe rendering like every other cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from k8sclaw_protocol import names


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


@dataclass
class Job:
    """An agent Job: the run it belongs to, completions, state and timing."""

    KIND: ClassVar[str] = "Job"  # list items carry no kind

    name: str
    namespace: str
    uid: str
    run: str
    instance: str
    completions: str
    status: str
    started: datetime | None
    finished: datetime | None
    created: datetime | None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @classmethod
    def from_wire(cls, obj: dict[str, Any]) -> Job:
        """Pick the Jobs-view fields out of a raw Job."""
        meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
        status, labels = obj.get("status") or {}, meta.get("labels") or {}
        return cls(
            name=meta.get("name", ""),
            namespace=meta.get("namespace", ""),
            uid=meta.get("uid") or meta.get("name", ""),
            run=labels.get(names.LABEL_AGENT_RUN, ""),
            instance=labels.get(names.LABEL_INSTANCE, ""),
            completions=f"{status.get('succeeded', 0)}/{spec.get('completions', 1)}",
            status=_job_state(status),
            started=_time(status.get("startTime")),
            finished=_time(status.get("completionTime")),
            created=_time(meta.get("creationTimestamp")),
            raw=obj,
        )


def _job_state(status: dict[str, Any]) -> str:
    """Complete/Failed from the Job's conditions, else Running or Pending."""
    for cond in status.get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") in ("Complete", "Failed"):
            return str(cond["type"])
    return "Running" if status.get("active") else "Pending"


@dataclass
class KubeEvent:
    """One Kubernetes Event: what happened to which object, when and how often."""

    KIND: ClassVar[str] = "Event"  # list items carry no kind

    name: str
    namespace: str
    uid: str
    type: str
    reason: str
    object: str
    message: str
    count: int
    last: datetime | None
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @classmethod
    def from_wire(cls, obj: dict[str, Any]) -> KubeEvent:
        """Pick the Events-view fields out of a raw core/v1 Event."""
        meta, involved = obj.get("metadata") or {}, obj.get("involvedObject") or {}
        last = obj.get("lastTimestamp") or obj.get("eventTime") or obj.get("firstTimestamp")
        return cls(
            name=meta.get("name", ""),
            namespace=meta.get("namespace", ""),
            uid=meta.get("uid") or meta.get("name", ""),
            type=str(obj.get("type") or ""),
            reason=str(obj.get("reason") or ""),
            object=f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
            message=" ".join(str(obj.get("message") or "").split()),
            count=int(obj.get("count") or 1),
            last=_time(last) if isinstance(last, str) else None,
            raw=obj,
        )
