"""Active AgentRuns per instance, kept by one watch, for the concurrency rule.

Why a watch here and live reads for instances and policies (`_source`): counting by a
live LIST costs O(runs of the instance) per admission (terminal runs stay until they
are cleaned up), and it grew to most of the webhook's latency at 1,000 runs; a
ClawPolicy or ClawInstance GET is O(1) and keeps "a policy change applies to the next
run" exact, so those stay live.

The count served is exact for sequential creates through this webhook, whatever the
watch's lag: every run this process admits is counted as *pending* from the moment it
is admitted until the watch shows it (or `PENDING_TTL` passes, meaning it was never
stored, e.g. a later webhook refused it). Runs are keyed by (namespace, name), so a
run seen both ways counts once. Creates racing in parallel, or through another
replica within the watch's lag, can pass one over the limit — so could a live LIST;
the controller's start-time check (`manager` precheck) is the authority that holds
such a run back. Until the first LIST has been loaded, and after the watch fails,
`count` returns None and the caller falls back to a live LIST.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from k8sclaw_controllers.manager import _informer, _kube
from k8sclaw_protocol import TERMINAL_PHASES, AgentRun, names

Body = dict[str, Any]
Key = tuple[str, str]
PENDING_TTL = 30.0
"""Seconds an admitted run is counted before the watch must have shown it."""
PATH = _kube.collection(names.GROUP_VERSION, AgentRun.info.plural, None)


def is_active(item: Body) -> bool:
    """Whether an AgentRun (wire form) holds a slot: not being deleted, not terminal."""
    meta = item.get("metadata") or {}
    return not meta.get("deletionTimestamp") and (
        (item.get("status") or {}).get("phase") not in TERMINAL_PHASES
    )


def _state(item: Body) -> tuple[Key, str, bool]:
    meta = item.get("metadata") or {}
    key = (str(meta.get("namespace", "")), str(meta.get("name", "")))
    instance = str((meta.get("labels") or {}).get(names.LABEL_INSTANCE, ""))
    instance = instance or str((item.get("spec") or {}).get("instanceRef", ""))
    return key, instance, is_active(item)


class RunIndex:
    """Which runs of each instance are Pending or Running, fed by a cluster-wide watch."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._owner: dict[Key, str] = {}
        self._active: dict[Key, set[str]] = {}
        self._pending: dict[Key, tuple[str, float]] = {}
        self.synced = False

    def _forget(self, key: Key) -> None:
        owner = self._owner.pop(key, None)
        if owner is not None:
            self._active.get((key[0], owner), set()).discard(key[1])

    def _store(self, item: Body) -> None:
        key, instance, active = _state(item)
        self._forget(key)
        self._pending.pop(key, None)
        self._owner[key] = instance
        if active:
            self._active.setdefault((key[0], instance), set()).add(key[1])

    def listed(self, items: list[Body]) -> None:
        """Replace the state with a LIST; the index is synced afterwards."""
        self._owner, self._active = {}, {}
        for item in items:
            self._store(item)
        self.synced = True

    def changed(self, kind: str, obj: Body) -> None:
        """Apply one watch event (ADDED, MODIFIED, DELETED)."""
        if kind == "DELETED":
            key = _state(obj)[0]
            self._forget(key)
            self._pending.pop(key, None)
        else:
            self._store(obj)

    def interrupted(self) -> None:
        """The watch failed: callers fall back to a live LIST until the next sync."""
        self.synced = False

    def admitted(self, namespace: str, name: str, instance: str) -> None:
        """Count a run this webhook just admitted until the watch reports it."""
        key = (namespace, name)
        if key not in self._owner:
            self._pending[key] = (instance, self._clock() + PENDING_TTL)

    def count(self, namespace: str, instance: str, exclude: str) -> int | None:
        """Active runs of the instance other than `exclude`; None while not synced."""
        if not self.synced:
            return None
        now = self._clock()
        expired = [key for key, (_, deadline) in self._pending.items() if deadline <= now]
        for key in expired:
            del self._pending[key]
        running = set(self._active.get((namespace, instance), ()))
        running |= {
            key[1]
            for key, (owner, _) in self._pending.items()
            if owner == instance and key[0] == namespace
        }
        running.discard(exclude)
        return len(running)


async def keep(kube: _kube.Kube, index: RunIndex) -> None:
    """Keep `index` current with every AgentRun of the cluster until cancelled."""
    await _informer.list_watch(kube, PATH, index)
