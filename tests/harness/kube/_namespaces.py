"""The namespace controllers: per-namespace defaults, and deletion of a namespace's contents.

A new namespace gets its `default` ServiceAccount and `kube-root-ca.crt` ConfigMap (as
the service-account and root-CA publisher controllers do). A namespace being deleted
stays `Terminating` until everything in it is gone, then loses its `kubernetes`
finalizer and disappears.
"""

from __future__ import annotations

from tests.harness.kube._controller import Controller
from tests.harness.kube._store import Event

ROOT_CA = "-----BEGIN CERTIFICATE-----\nk8sclaw-emulator\n-----END CERTIFICATE-----\n"


class NamespaceController(Controller):
    """Seeds new namespaces and empties terminating ones."""

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
            await self._seed(meta["name"])
        elif event.type == "MODIFIED" and meta.get("deletionTimestamp"):
            await self._empty(meta["name"])
            await self._maybe_finish(meta["name"])

    async def _seed(self, name: str) -> None:
        registry = self.cluster.registry
        sa, cm = registry.find("", "v1", "serviceaccounts"), registry.find("", "v1", "configmaps")
        assert sa is not None and cm is not None
        if self.cluster.find(sa, name, "default") is None:
            await self.cluster.create(sa, name, {"metadata": {"name": "default"}})
        if self.cluster.find(cm, name, "kube-root-ca.crt") is None:
            body = {"metadata": {"name": "kube-root-ca.crt"}, "data": {"ca.crt": ROOT_CA}}
            await self.cluster.create(cm, name, body)

    async def _empty(self, namespace: str) -> None:
        for rtype in self.cluster.registry.all():
            if not rtype.namespaced:
                continue
            for obj in self.cluster.list(rtype, namespace):
                if not obj["metadata"].get("deletionTimestamp"):
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
