"""Where a run sits in the tree (instance, session, task), asked of the Kubernetes API.

The recorder never believes a payload about which instance or session a run belongs to:
it reads the AgentRun named by the subject the bus authorised. Answers are cached (an
AgentRun's spec does not change); a run that is gone is remembered as unknown briefly,
so a burst of its events costs one request.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from k8sclaw_controllers.manager import _kube
from k8sclaw_controllers.transcripts import _rows
from k8sclaw_protocol import names


class RunLookup(Protocol):
    """Answers (namespace, run) -> RunInfo; raises when the answer is not known yet."""

    async def __call__(self, namespace: str, run: str) -> _rows.RunInfo: ...


def run_info(body: dict[str, Any]) -> _rows.RunInfo:
    """RunInfo of an AgentRun body: instance from its label (spec.instanceRef if unset)."""
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    labels = meta.get("labels") or {}
    instance = labels.get(names.LABEL_INSTANCE) or spec.get("instanceRef") or ""
    return _rows.RunInfo(
        instance=str(instance),
        session_key=_rows.cap_text(str(spec.get("sessionKey") or ""), 253),
        task=_rows.cap_text(str(spec.get("task") or "")),
        uid=str(meta.get("uid") or ""),
    )


class KubeRunLookup:
    """`RunLookup` through the API server with an LRU cache of `size` runs."""

    def __init__(
        self,
        kube: _kube.Kube,
        *,
        size: int = 4096,
        gone_ttl: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kube, self._size, self._gone_ttl, self._clock = kube, size, gone_ttl, clock
        self._cache: OrderedDict[tuple[str, str], tuple[_rows.RunInfo, float]] = OrderedDict()
        self.requests = 0

    async def __call__(self, namespace: str, run: str) -> _rows.RunInfo:
        key = (namespace, run)
        hit = self._cache.get(key)
        if hit is not None and hit[1] > self._clock():
            self._cache.move_to_end(key)
            return hit[0]
        self.requests += 1
        try:
            body = await self._kube.get(_kube.claw(namespace, "agentruns", run))
        except _kube.NotFoundError:
            info, until = _rows.UNKNOWN_RUN, self._clock() + self._gone_ttl
        else:
            info, until = run_info(body), float("inf")
        self._cache[key] = (info, until)
        self._cache.move_to_end(key)
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return info
