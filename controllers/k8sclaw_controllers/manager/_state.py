"""What the manager remembers between watch events: caches fed by watches, never trusted alone.

Caches make the hot path cheap (no GET of the instance per run); anything that decides a
terminal transition re-reads the object live first (reference §15: stale cached reads
flipped Succeeded runs to Failed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from k8sclaw_protocol import TERMINAL_PHASES, AgentRun

Key = tuple[str, str]  # (namespace, name)
_RANK = {"Pending": 0, "Running": 1, "Succeeded": 2, "Failed": 2}


def rank(phase: str) -> int:
    """Order of phases: Pending < Running < terminal; a lower rank is a stale event."""
    return _RANK.get(phase, 0)


@dataclass
class RunRecord:
    """The manager's view of one run."""

    instance: str
    phase: str
    uid: str
    completed_at: datetime | None = None
    created_at: datetime | None = None
    pod_name: str | None = None
    cleanup: str = "delete"
    job_deleted: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    holds_slot: bool = False
    """Admitted by the concurrency pre-check (counted before its Running patch lands)."""


@dataclass
class State:
    """In-memory indexes shared by all handlers of one manager process."""

    runs: dict[Key, RunRecord] = field(default_factory=dict)
    instances: dict[Key, dict[str, Any]] = field(default_factory=dict)
    policies: dict[Key, dict[str, Any]] = field(default_factory=dict)
    skillpacks: dict[Key, dict[str, Any]] = field(default_factory=dict)
    parsed: dict[tuple[str, str, str], tuple[dict[str, Any], Any]] = field(default_factory=dict)
    """(kind, namespace, name) -> (wire body, its model): an instance or policy body is
    parsed once per watch event that replaced it, not once per run that reads it."""
    service_accounts: set[str] = field(default_factory=set)
    queued: dict[Key, set[str]] = field(default_factory=dict)
    """Runs waiting for a concurrency slot, by (namespace, instance)."""
    quota_attempts: dict[Key, int] = field(default_factory=dict)
    """Runs whose Job a ResourceQuota refused: attempts so far (sets the back-off)."""
    channel_health: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    """Last `channel.health.update` per (namespace, instance, channel type), wire form."""
    slots_counted: set[Key] = field(default_factory=set)
    """(namespace, instance) whose runs were listed once before counting their slots."""
    applied_netpols: set[Key] = field(default_factory=set)
    spend: dict[Key, dict[str, Any]] = field(default_factory=dict)
    """(namespace, instance) -> the `status.spend` this process last wrote (the watch may
    still hold an older body; budgets are checked against the newer of the two)."""
    """(namespace, instance) whose NetworkPolicies this process has applied."""
    deadlines: dict[Key, asyncio.TimerHandle] = field(default_factory=dict)
    locks: dict[tuple[str, ...], asyncio.Lock] = field(default_factory=dict)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def observe(self, run: AgentRun) -> RunRecord:
        """Record a run from a watch event, never moving its phase backwards."""
        key = (run.namespace, run.name)
        record = self.runs.get(key)
        if record is None or record.uid != run.metadata.uid:
            record = RunRecord(run.spec.instance_ref, run.phase, run.metadata.uid or "")
            self.runs[key] = record
        if rank(run.phase) >= rank(record.phase):
            record.phase = run.phase
        status = run.status
        record.completed_at = (status.completed_at if status else None) or record.completed_at
        record.pod_name = (status.pod_name if status else None) or record.pod_name
        record.created_at = run.metadata.creation_timestamp
        record.cleanup = run.spec.cleanup
        if status and status.token_usage:
            record.input_tokens = status.token_usage.input_tokens
            record.output_tokens = status.token_usage.output_tokens
        return record

    def forget(self, key: Key) -> RunRecord | None:
        """Drop a deleted run, its deadline and its place in a queue; its last record."""
        record = self.runs.pop(key, None)
        self.cancel_deadline(key)
        self.quota_attempts.pop(key, None)
        if record is not None:
            self.queued.get((key[0], record.instance), set()).discard(key[1])
        return record

    def lock(self, *key: str) -> asyncio.Lock:
        """One lock per key, so a burst of runs in a new namespace sets it up only once."""
        return self.locks.setdefault(key, asyncio.Lock())

    def enqueue(self, namespace: str, instance: str, name: str) -> None:
        """Remember a run waiting for a concurrency slot of its instance."""
        self.queued.setdefault((namespace, instance), set()).add(name)

    def take_queued(self, namespace: str, instance: str) -> list[str]:
        """The runs waiting for a slot of an instance, oldest first; the queue is emptied."""
        names = self.queued.pop((namespace, instance), set())

        def age(name: str) -> tuple[float, str]:
            record = self.runs.get((namespace, name))
            return (_ts(record.created_at) if record else 0.0, name)

        return sorted(names, key=age)

    def is_terminal(self, key: Key) -> bool:
        """True when this process already knows the run is final."""
        record = self.runs.get(key)
        return record is not None and record.phase in TERMINAL_PHASES

    def running(self, namespace: str, instance: str, exclude: str = "") -> int:
        """Runs of an instance holding a slot: Running, or admitted and about to be."""
        return sum(
            1
            for (ns, name), r in self.runs.items()
            if ns == namespace
            and r.instance == instance
            and (r.phase == "Running" or (r.holds_slot and r.phase not in TERMINAL_PHASES))
            and name != exclude
        )

    def finished(self, namespace: str, instance: str) -> list[tuple[str, RunRecord]]:
        """Terminal runs of an instance, oldest first (history pruning order)."""
        done = [
            (name, r)
            for (ns, name), r in self.runs.items()
            if ns == namespace and r.instance == instance and r.phase in TERMINAL_PHASES
        ]
        return sorted(
            done, key=lambda item: (_ts(item[1].completed_at or item[1].created_at), item[0])
        )

    def set_deadline(
        self, key: Key, delay: float, action: Callable[[], Coroutine[Any, Any, None]]
    ) -> None:
        """Run `action` once after `delay` seconds (replacing any earlier deadline)."""
        self.cancel_deadline(key)
        loop = asyncio.get_running_loop()
        self.deadlines[key] = loop.call_later(max(delay, 0.0), lambda: self.spawn(action()))

    def cancel_deadline(self, key: Key) -> None:
        """Forget the deadline of a run that ended or went away."""
        handle = self.deadlines.pop(key, None)
        if handle is not None:
            handle.cancel()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a background coroutine, keeping a reference so it is not collected."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


def _ts(value: datetime | None) -> float:
    return value.timestamp() if value else 0.0
