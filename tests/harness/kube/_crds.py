"""CustomResourceDefinitions: serve the types they define, report them Established.

Registration happens synchronously on the CRD's storage event, so the type is served
before the create call returns; the controller then writes the status conditions
(NamesAccepted, Established) and, on deletion, removes every custom resource of the
type before releasing the CRD's cleanup finalizer — the kube-apiserver sequence.
"""

from __future__ import annotations

from typing import Any

from tests.harness.kube._cluster import Cluster
from tests.harness.kube._controller import Controller
from tests.harness.kube._store import Event, Obj
from tests.harness.kube._types import ResourceType

CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
CLEANUP = "customresourcecleanup.apiextensions.k8s.io"


def types_of(crd: Obj) -> list[ResourceType]:
    """One ResourceType per served version of a CRD."""
    spec, names = crd["spec"], crd["spec"]["names"]
    out = []
    for version in spec.get("versions", []):
        if not version.get("served", True):
            continue
        out.append(
            ResourceType(
                group=spec["group"],
                version=version["name"],
                kind=names["kind"],
                plural=names["plural"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames", [])),
                categories=tuple(names.get("categories", [])),
                status="status" in (version.get("subresources") or {}),
                generation=True,
                custom=True,
                schema=(version.get("schema") or {}).get("openAPIV3Schema"),
                singular=names.get("singular", ""),
                field_selectors=tuple(
                    f["jsonPath"].lstrip(".") for f in version.get("selectableFields") or []
                ),
            )
        )
    return out


def _status(crd: Obj) -> dict[str, Any]:
    names = crd["spec"]["names"]
    accepted = {
        k: v
        for k, v in names.items()
        if k in ("kind", "listKind", "plural", "singular", "shortNames", "categories")
    }
    accepted.setdefault("listKind", names["kind"] + "List")
    accepted.setdefault("singular", names["kind"].lower())
    stamp = crd["metadata"]["creationTimestamp"]
    conditions = [
        {
            "type": "NamesAccepted",
            "status": "True",
            "reason": "NoConflicts",
            "message": "no conflicts found",
            "lastTransitionTime": stamp,
        },
        {
            "type": "Established",
            "status": "True",
            "reason": "InitialNamesAccepted",
            "message": "the initial names have been accepted",
            "lastTransitionTime": stamp,
        },
    ]
    storage = [v["name"] for v in crd["spec"].get("versions", []) if v.get("storage")]
    return {"conditions": conditions, "acceptedNames": accepted, "storedVersions": storage}


class CrdController(Controller):
    """Keeps the registry in line with the stored CRDs."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster)
        self._sync_unsubscribe = cluster.store.subscribe(self._register)

    def _register(self, event: Event) -> None:
        if event.key != CRD_KEY:
            return
        spec = event.obj["spec"]
        self.cluster.registry.remove_group_plural(spec["group"], spec["names"]["plural"])
        if event.type != "DELETED":
            for rtype in types_of(event.obj):
                self.cluster.registry.add(rtype)

    def wants(self, event: Event) -> bool:
        if event.key == CRD_KEY:
            return event.type != "DELETED"
        return event.type == "DELETED" and "." in event.key[0]

    async def handle(self, event: Event) -> None:
        if event.key == CRD_KEY:
            name = event.obj["metadata"]["name"]
        else:
            name = f"{event.key[1]}.{event.key[0]}"
        crd = self.cluster.store.get(CRD_KEY, "", name)
        if crd is None:
            return
        meta = crd["metadata"]
        if meta.get("deletionTimestamp"):
            await self._cleanup(crd)
            return
        if event.key != CRD_KEY:
            return
        status = _status(crd)
        finalizers = meta.setdefault("finalizers", [])
        if crd.get("status") != status or CLEANUP not in finalizers:
            crd["status"] = status
            if CLEANUP not in finalizers:
                finalizers.append(CLEANUP)
            self.cluster.store.write(CRD_KEY, crd)

    async def _cleanup(self, crd: Obj) -> None:
        types = types_of(crd)[:1]
        for rtype in types:
            for obj in self.cluster.list(rtype, None):
                if not obj["metadata"].get("deletionTimestamp"):
                    await self.cluster.delete(
                        rtype, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
                    )
            if self.cluster.store.list_objects(rtype.key):
                return
        crd["metadata"]["finalizers"] = [
            f for f in crd["metadata"].get("finalizers", []) if f != CLEANUP
        ]
        if crd["metadata"]["finalizers"]:
            self.cluster.store.write(CRD_KEY, crd)
        else:
            self.cluster.store.remove(CRD_KEY, crd)
