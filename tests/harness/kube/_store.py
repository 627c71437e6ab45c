"""In-memory object storage with one global resourceVersion and an event history.

Every write bumps the counter, stamps `metadata.resourceVersion` and appends an event;
watches replay the history from a resourceVersion and then follow live events, and a
version older than the retained history is `410 Gone`, as with etcd compaction.
All calls happen on the emulator's event-loop thread, so no locking is needed.

Invariant: stored objects are immutable. Writers replace, never mutate: a write hands the
store a new object (its own copy, or a new top-level dict that shares untouched subtrees
with the old one), and nothing changes a stored object, or anything reachable from it,
afterwards. That is what lets events, watches, `peek`, `list_peek` and structural sharing
in the verbs use stored objects without copying them. Code that wants to change an object
starts from `get`/`list_objects` (deep copies) or builds new dicts around the parts it
changes.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.harness.kube import _errors

Key = tuple[str, str]
Obj = dict[str, Any]
Ref = tuple[Key, tuple[str, str]]  # storage key, (namespace, name)


@dataclass(frozen=True)
class Event:
    """One change: ADDED, MODIFIED or DELETED, with the object as it was written."""

    rv: int
    type: str
    key: Key
    obj: Obj
    prev: Obj | None = field(default=None, compare=False, repr=False)
    """A MODIFIED event's object before the change (a selector-filtered watch turns the
    change into ADDED or DELETED when the object starts or stops matching)."""
    lines: dict[tuple[str, str], bytes] = field(default_factory=dict, compare=False, repr=False)
    """The watch line per (apiVersion, event type), serialised once however many watches
    send it."""

    @property
    def namespace(self) -> str:
        return str(self.obj["metadata"].get("namespace", ""))


Listener = Callable[[Event], None]


_SCALARS = frozenset((str, int, float, bool, type(None)))


def clone(value: Any) -> Any:
    """A deep copy of a JSON value (dicts, lists, scalars): several times faster than
    `copy.deepcopy`, which the emulator would otherwise spend most of its time in.
    Scalars inside containers are taken as they are, without a call each."""
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _SCALARS else clone(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _SCALARS else clone(v) for v in value]
    if kind in _SCALARS:
        return value
    return copy.deepcopy(value)


class Store:
    """Objects by storage key, namespace and name."""

    def __init__(self, history: int = 200_000) -> None:
        self._rv = 1000
        self._objects: dict[Key, dict[tuple[str, str], Obj]] = {}
        self._history: deque[Event] = deque(maxlen=history)
        self._compacted = self._rv
        self._listeners: list[Listener] = []
        # Indexes kept on every write, as the real controllers' informer caches keep them:
        # object by uid and dependents by owner uid, so GC and the Job controller never scan.
        self._by_uid: dict[str, Ref] = {}
        self._owned: dict[str, set[Ref]] = {}

    @property
    def resource_version(self) -> str:
        return str(self._rv)

    def get(self, key: Key, namespace: str, name: str) -> Obj | None:
        obj = self._objects.get(key, {}).get((namespace, name))
        return clone(obj) if obj is not None else None

    def peek(self, key: Key, namespace: str, name: str) -> Obj | None:
        """The stored object itself, uncopied: read-only use (no render, no changes)."""
        return self._objects.get(key, {}).get((namespace, name))

    def list_objects(self, key: Key, namespace: str | None = None) -> list[Obj]:
        """Objects of one type, optionally in one namespace, sorted by namespace/name."""
        return [clone(o) for o in self.list_peek(key, namespace)]

    def list_peek(self, key: Key, namespace: str | None = None) -> list[Obj]:
        """`list_objects` uncopied: the stored objects themselves, for read-only use."""
        bucket = self._objects.get(key, {})
        return [o for (ns, _), o in sorted(bucket.items()) if namespace in (None, ns)]

    def keys(self) -> list[Key]:
        return list(self._objects)

    def scan(self) -> list[tuple[Key, Obj]]:
        """Every stored object, uncopied: read-only use by the in-process controllers."""
        return [(key, o) for key, bucket in self._objects.items() for o in bucket.values()]

    def by_uid(self, uid: str) -> tuple[Key, Obj] | None:
        """The object with `uid` (uncopied, read-only), if it exists."""
        ref = self._by_uid.get(uid)
        if ref is None:
            return None
        obj = self._objects.get(ref[0], {}).get(ref[1])
        return None if obj is None else (ref[0], obj)

    def dependents(self, uid: str) -> list[tuple[Key, Obj]]:
        """Objects with an ownerReference to `uid` (uncopied, read-only), by key and name."""
        found = []
        for key, ident in sorted(self._owned.get(uid, ())):
            obj = self._objects.get(key, {}).get(ident)
            if obj is not None:
                found.append((key, obj))
        return found

    def _unindex(self, key: Key, ident: tuple[str, str], obj: Obj | None) -> None:
        if obj is None:
            return
        self._by_uid.pop(obj["metadata"].get("uid", ""), None)
        for ref in obj["metadata"].get("ownerReferences") or []:
            owned = self._owned.get(str(ref.get("uid")))
            if owned is not None:
                owned.discard((key, ident))
                if not owned:
                    del self._owned[str(ref.get("uid"))]

    def _index(self, key: Key, ident: tuple[str, str], obj: Obj) -> None:
        self._by_uid[obj["metadata"].get("uid", "")] = (key, ident)
        for ref in obj["metadata"].get("ownerReferences") or []:
            self._owned.setdefault(str(ref.get("uid")), set()).add((key, ident))

    def write(self, key: Key, obj: Obj) -> Obj:
        """Create or replace an object; returns `obj`, now with its new resourceVersion.

        The store takes ownership of `obj` (no copy): every caller hands over a copy of its
        own (a decoded request body, a `get` result, a merge result) and only reads it
        afterwards (to serialise the response). Stored objects are replaced on write, never
        changed in place, so the event shares the stored object too (listeners only read).
        """
        meta = obj["metadata"]
        ident = (meta.get("namespace", ""), meta["name"])
        bucket = self._objects.setdefault(key, {})
        prev = bucket.get(ident)
        kind = "MODIFIED" if prev is not None else "ADDED"
        self._rv += 1
        meta["resourceVersion"] = str(self._rv)
        self._unindex(key, ident, prev)
        bucket[ident] = obj
        self._index(key, ident, obj)
        self._record(Event(self._rv, kind, key, obj, prev))
        return obj

    def remove(self, key: Key, obj: Obj) -> Obj:
        """Remove an object for good; the DELETED event carries a fresh resourceVersion.
        Takes ownership of `obj` like `write`."""
        meta = obj["metadata"]
        ident = (meta.get("namespace", ""), meta["name"])
        self._unindex(key, ident, self._objects.get(key, {}).pop(ident, None))
        self._rv += 1
        meta["resourceVersion"] = str(self._rv)
        self._record(Event(self._rv, "DELETED", key, obj))
        return obj

    def _record(self, event: Event) -> None:
        if len(self._history) == self._history.maxlen:
            self._compacted = self._history[0].rv
        self._history.append(event)
        for listener in list(self._listeners):
            listener(event)

    def events_since(self, rv: int) -> list[Event]:
        """Events after `rv`; 410 Gone when `rv` predates the retained history."""
        if rv < self._compacted:
            raise _errors.gone(f"too old resource version: {rv} ({self._compacted})")
        return [e for e in self._history if e.rv > rv]

    def compact(self) -> None:
        """Forget the history, like etcd compaction: older versions become 410 Gone."""
        self._history.clear()
        self._compacted = self._rv

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)
