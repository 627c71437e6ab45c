"""Owner-reference garbage collection: background, foreground and orphan deletion.

When an owner disappears, dependents whose owners are all gone are deleted (and lose
the reference otherwise). `foregroundDeletion` holds the owner until its dependents are
gone; `orphan` strips the references and lets dependents live. Dependents created with
owners that do not exist are collected too, like the real garbage collector does.
"""

from __future__ import annotations

from tests.harness.kube._controller import Controller
from tests.harness.kube._store import Event, Key, Obj
from tests.harness.kube._types import ResourceType

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"


class GarbageCollector(Controller):
    """Reacts to deletions and to owners marked for foreground or orphan deletion."""

    def wants(self, event: Event) -> bool:
        meta = event.obj["metadata"]
        return (
            event.type == "DELETED"
            or bool(meta.get("ownerReferences"))
            or bool(meta.get("deletionTimestamp"))
        )

    def _live(self, uid: object) -> bool:
        return self.cluster.store.by_uid(str(uid)) is not None

    def _dependents(self, uid: str) -> list[tuple[Key, Obj]]:
        return self.cluster.store.dependents(uid)

    def _rtype(self, key: Key, obj: Obj) -> ResourceType | None:
        for rtype in self.cluster.registry.all():
            if rtype.key == key:
                return rtype
        return None

    async def handle(self, event: Event) -> None:
        meta = event.obj["metadata"]
        if event.type == "DELETED":
            await self._collect(meta["uid"])
            for ref in meta.get("ownerReferences") or []:
                await self._finish_foreground(ref["uid"])
            return
        finalizers = meta.get("finalizers") or []
        if meta.get("deletionTimestamp") and FOREGROUND in finalizers:
            await self._collect(meta["uid"], cascade="Foreground")
            await self._finish_foreground(meta["uid"])
        elif meta.get("deletionTimestamp") and ORPHAN in finalizers:
            await self._orphan(meta["uid"])
            await self._drop_finalizer(event.key, meta["uid"], ORPHAN)
        elif event.type == "ADDED" and not any(
            self._live(r.get("uid")) for r in meta.get("ownerReferences") or []
        ):
            await self._delete(event.key, event.obj, "Background")

    async def _collect(self, uid: str, cascade: str = "Background") -> None:
        for key, dep in self._dependents(uid):
            others = [r for r in dep["metadata"]["ownerReferences"] if r.get("uid") != uid]
            if any(self._live(r.get("uid")) for r in others):
                await self._strip(key, dep, uid)
            elif not dep["metadata"].get("deletionTimestamp"):
                await self._delete(key, dep, cascade)

    async def _orphan(self, uid: str) -> None:
        for key, dep in self._dependents(uid):
            await self._strip(key, dep, uid)

    async def _strip(self, key: Key, dep: Obj, uid: str) -> None:
        rtype = self._rtype(key, dep)
        if rtype is None:
            return
        meta = dep["metadata"]
        refs = [r for r in meta["ownerReferences"] if r.get("uid") != uid]
        patch: Obj = {"metadata": {"ownerReferences": refs or None}}
        await self.limit.take()
        await self.cluster.patch(
            rtype, meta.get("namespace", ""), meta["name"], "application/merge-patch+json", patch
        )

    async def _delete(self, key: Key, obj: Obj, cascade: str) -> None:
        rtype = self._rtype(key, obj)
        if rtype is not None:
            meta = obj["metadata"]
            await self.limit.take()
            await self.cluster.delete(
                rtype, meta.get("namespace", ""), meta["name"], propagation=cascade
            )

    async def _finish_foreground(self, uid: str) -> None:
        """Release an owner held by `foregroundDeletion` once its dependents are gone."""
        found = self.cluster.store.by_uid(uid)
        if found is None:
            return
        key, owner = found
        if FOREGROUND in (owner["metadata"].get("finalizers") or []) and not self._dependents(uid):
            await self._drop_finalizer(key, uid, FOREGROUND)

    async def _drop_finalizer(self, key: Key, uid: str, finalizer: str) -> None:
        found = self.cluster.store.by_uid(uid)
        if found is None or found[0] != key:
            return
        obj = found[1]
        rtype = self._rtype(key, obj)
        if rtype is None:
            return
        meta = obj["metadata"]
        remaining = [f for f in meta.get("finalizers") or [] if f != finalizer]
        patch = {
            "metadata": {
                "finalizers": remaining or None,
                "resourceVersion": meta["resourceVersion"],
            }
        }
        await self.limit.take()
        await self.cluster.patch(
            rtype, meta.get("namespace", ""), meta["name"], "application/merge-patch+json", patch
        )
