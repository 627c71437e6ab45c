"""One list+watch loop per kind, run in a thread worker; it only posts messages.

The loop lists once (resourceVersion from the list), then follows the watch stream from
there. It re-lists only when the server says 410 Gone (history expired) or after the
connection was lost; while the server is unreachable it retries with capped back-off and
reports `ClusterUnreachable` once per outage.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual.message import Message

from k8sclaw.kube import Kube, KubeError, iter_lines, resource_type
from k8sclaw.tui._messages import ClusterReachable, ClusterUnreachable, RowsChanged
from k8sclaw.tui._records import Job, KubeEvent
from k8sclaw.tui._store import EVENTS, JOBS, MODELS, PODS, Pod
from k8sclaw.tui._stream import StreamReader
from k8sclaw_protocol import names

GONE = 410
_WATCH_SECONDS = 300  # the server ends each watch after this; we resume from the last rv


class _GoneError(Exception):
    """The watch's resourceVersion is too old: re-list."""


@dataclass
class Backoff:
    """Capped exponential back-off between reconnect attempts."""

    first: float = 0.5
    cap: float = 10.0
    current: float = 0.0

    def next(self) -> float:
        """The next delay (doubling up to `cap`)."""
        self.current = self.first if not self.current else min(self.cap, self.current * 2)
        return self.current

    def reset(self) -> None:
        """Start again from `first` after a success."""
        self.current = 0.0


# Built-in kinds: (apiVersion, kind, label selector, record class).
_BUILTIN: dict[str, tuple[str, str, str, Any]] = {
    PODS: ("v1", "Pod", f"{names.LABEL_ROLE}={names.ROLE_AGENT}", Pod),
    JOBS: ("batch/v1", "Job", f"{names.LABEL_ROLE}={names.ROLE_AGENT}", Job),
    EVENTS: ("v1", "Event", "", KubeEvent),
}


def _parse(kind: str, obj: dict[str, Any]) -> Any:
    builtin = _BUILTIN.get(kind)
    return builtin[3].from_wire(obj) if builtin else MODELS[kind].from_wire(obj)


def _uid(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return str(meta.get("uid") or meta.get("name"))


class Watcher(StreamReader):
    """List+watch one kind in one namespace and post what changed."""

    def __init__(
        self,
        kube: Kube,
        kind: str,
        namespace: str,
        post: Callable[[Message], object],
        backoff: Backoff | None = None,
    ) -> None:
        self.kube = kube
        self.kind = kind
        self.namespace = namespace
        self.post = post
        self.backoff = backoff or Backoff()
        super().__init__()
        if kind in _BUILTIN:
            version, name, self._selector, _ = _BUILTIN[kind]
            self._rtype = resource_type(version, name)
        else:
            self._rtype = resource_type(names.GROUP_VERSION, MODELS[kind].info.kind)
            self._selector = ""

    def run(self) -> None:
        """The worker body: list, watch, recover; returns once `stop` was called."""
        while not self.stopped.is_set():
            try:
                version = self._list()
                self.post(ClusterReachable(self.kind))
                self.backoff.reset()
                self._follow(version)
            except _GoneError:
                continue
            except Exception as exc:
                if self.stopped.is_set():
                    return
                delay = self.backoff.next()
                self.post(ClusterUnreachable(self.kind, _reason(exc), delay))
                self.stopped.wait(delay)

    def _query(self) -> list[tuple[str, str]]:
        return [("labelSelector", self._selector)] if self._selector else []

    def _list(self) -> str:
        body = self.kube.request(
            "GET",
            self._rtype.collection(self.namespace),
            what=self._rtype.plural,
            custom=self._rtype.custom,
            query=self._query(),
        )
        items = [_parse(self.kind, item) for item in body.get("items") or []]
        self.post(RowsChanged(self.kind, items, [], reset=True))
        return str((body.get("metadata") or {}).get("resourceVersion", ""))

    def _follow(self, version: str) -> None:
        while not self.stopped.is_set():
            query = [
                *self._query(),
                ("watch", "true"),
                ("timeoutSeconds", str(_WATCH_SECONDS)),
                ("resourceVersion", version),
            ]
            self._resp = self.kube.request(
                "GET",
                self._rtype.collection(self.namespace),
                what=self._rtype.plural,
                custom=self._rtype.custom,
                query=query,
                stream=True,
            )
            try:
                for line in iter_lines(self._resp):
                    if line.strip():
                        version = self._event(json.loads(line)) or version
            finally:
                self._resp.release_conn()
                self._resp = None

    def _event(self, event: dict[str, Any]) -> str:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == GONE:
                raise _GoneError
            raise KubeError(f"watch of {self._rtype.plural} failed: {obj.get('message', obj)}")
        if kind == "DELETED":
            self.post(RowsChanged(self.kind, [], [_uid(obj)]))
        elif kind in ("ADDED", "MODIFIED"):
            self.post(RowsChanged(self.kind, [_parse(self.kind, obj)], []))
        return str((obj.get("metadata") or {}).get("resourceVersion", ""))


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 120 else text[:119] + "…"
