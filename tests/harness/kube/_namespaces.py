"""The namespace controllers: per-namespace defaults, and deletion of a namespace's contents.

A new namespace gets its `default` ServiceAccount and `kube-root-ca.crt` ConfigMap (as
kube-controller-manager's service-account and root-CA publisher controllers do) a moment
*after* it exists (`fill_delay`, then each write paced by the shared client rate limit):
a list or watch right after creating a namespace may not see them yet, as on a real
cluster, so tools wait for them. A namespace being deleted stays `Terminating` until
everything in it is gone, then loses its `kubernetes` finalizer and disappears.
"""

from __future__ import annotations

import asyncio
import logging

from tests.harness.kube import _errors
from tests.harness.kube._cluster import Cluster
from tests.harness.kube._controller import ClientRateLimit, Controller
from tests.harness.kube._store import Event

log = logging.getLogger(__name__)
FILL_DELAY = 0.02
"""Seconds between a namespace's creation and its defaults: the informer and work-queue
latency of kube-controller-manager, small but never zero."""

ROOT_CA = "-----BEGIN CERTIFICATE-----\nk8sclaw-emulator\n-----END CERTIFICATE-----\n"


class NamespaceController(Controller):
    """Seeds new namespaces and empties terminating ones."""

    def __init__(
        self, cluster: Cluster, limit: ClientRateLimit | None = None, fill_delay: float = FILL_DELAY
    ) -> None:
        super().__init__(cluster, limit)
        self.fill_delay = fill_delay
        self._filling: set[asyncio.Task[None]] = set()

    def wants(self, event: Event) -> bool:
        return event.key == ("", "namespaces") or (
            event.type == "DELETED" and bool(event.namespace)
        )

    async def handle(self, event: Event) -> None:
        if event.key != ("", "namespaces"):
            await self._maybe_finish(event.namespace)
            return
        meta = event.obj["metadata"]
        if event.type == "ADDED":
            task = asyncio.create_task(self._seed_later(meta["name"]))
            self._filling.add(task)
            task.add_done_callback(self._filling.discard)
        elif event.type == "MODIFIED" and meta.get("deletionTimestamp"):
            await self._empty(meta["name"])
            await self._maybe_finish(meta["name"])

    async def _seed_later(self, name: str) -> None:
        """The namespace's defaults, after `fill_delay`; its own task, so a slow fill never
        holds up deletions (the real controllers are separate work queues too)."""
        await asyncio.sleep(self.fill_delay)
        try:
            await self._seed(name)
        except _errors.ApiError as exc:  # the namespace went away meanwhile
            log.debug("namespace %s: %s", name, exc.message)

    async def _seed(self, name: str) -> None:
        registry = self.cluster.registry
        sa, cm = registry.find("", "v1", "serviceaccounts"), registry.find("", "v1", "configmaps")
        assert sa is not None and cm is not None
        if self.cluster.find(sa, name, "default") is None:
            await self.limit.take()
            await self.cluster.create(sa, name, {"metadata": {"name": "default"}})
        if self.cluster.find(cm, name, "kube-root-ca.crt") is None:
            body = {"metadata": {"name": "kube-root-ca.crt"}, "data": {"ca.crt": ROOT_CA}}
            await self.limit.take()
            await self.cluster.create(cm, name, body)

    async def _empty(self, namespace: str) -> None:
        for rtype in self.cluster.registry.all():
            if not rtype.namespaced:
                continue
            for obj in self.cluster.list(rtype, namespace):
                if not obj["metadata"].get("deletionTimestamp"):
                    await self.limit.take()
                    await self.cluster.delete(
                        rtype, namespace, obj["metadata"]["name"], propagation="Background", grace=0
                    )

    async def _maybe_finish(self, namespace: str) -> None:
        ns_type = self.cluster.registry.find("", "v1", "namespaces")
        assert ns_type is not None
        ns = self.cluster.find(ns_type, "", namespace)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        if any(o["metadata"].get("namespace") == namespace for _, o in self.cluster.store.scan()):
            return
        ns["spec"]["finalizers"] = [
            f for f in ns["spec"].get("finalizers", []) if f != "kubernetes"
        ]
        remaining = ns["metadata"].get("finalizers")
        if remaining:
            self.cluster.store.write(ns_type.key, ns)
        else:
            self.cluster.store.remove(ns_type.key, ns)
