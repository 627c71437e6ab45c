"""The API verbs: create, get, list, update, patch, delete — the emulator's core.

`Cluster` owns the store and the type registry and runs every write through the same
steps kube-apiserver does: decode → defaults → admission (mutating webhooks, schema,
Pod Security, validating webhooks) → optimistic-concurrency check → storage. The HTTP
layer (`_http`) and the in-process controllers (GC, namespaces, Jobs) both call it.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from tests.harness.kube import _admission, _defaults, _errors, _managed, _patch, _quota
from tests.harness.kube._managed import now
from tests.harness.kube._store import Obj, Store, clone
from tests.harness.kube._types import Registry, ResourceType

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"
_RV_REQUIRED = (
    ("metadata.resourceVersion", "Invalid value: 0x0: must be specified for an update"),
)
_SYSTEM_META = (
    "uid",
    "creationTimestamp",
    "generation",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "resourceVersion",
    "managedFields",
)


def random_suffix(length: int = 5) -> str:
    return "".join(secrets.choice(_NAME_CHARS) for _ in range(length))


def _spec_part(obj: Obj, with_status: bool) -> Obj:
    skip = {"metadata", "apiVersion", "kind"} | ({"status"} if with_status else set())
    return {k: v for k, v in obj.items() if k not in skip}


class Cluster:
    """Object storage plus the rules of the Kubernetes API around it."""

    def __init__(self) -> None:
        self.store = Store()
        self.registry = Registry()
        self.admission = _admission.Admission(self)

    # -- reads ---------------------------------------------------------------------------
    def render(self, rtype: ResourceType, obj: Obj) -> Obj:
        """Stamp `obj` (the caller's own) with the apiVersion and kind it is served as."""
        obj["apiVersion"], obj["kind"] = rtype.api_version, rtype.kind
        return obj

    def view(self, rtype: ResourceType, obj: Obj) -> Obj:
        """A stored object as served in `rtype`'s version without copying it: a new
        top-level dict sharing everything else, so read-only (see `_store`'s invariant)."""
        return {**obj, "apiVersion": rtype.api_version, "kind": rtype.kind}

    def read(self, rtype: ResourceType, namespace: str, name: str) -> Obj:
        """The object, deep-copied: the caller may change it."""
        obj = self.store.get(rtype.key, namespace, name)
        if obj is None:
            raise _errors.not_found(rtype.group, rtype.plural, name)
        return self.render(rtype, obj)

    def peek(self, rtype: ResourceType, namespace: str, name: str) -> Obj:
        """The object uncopied (`view`), for reading, serialising and structural sharing."""
        obj = self.store.peek(rtype.key, namespace, name)
        if obj is None:
            raise _errors.not_found(rtype.group, rtype.plural, name)
        return self.view(rtype, obj)

    def find(self, rtype: ResourceType, namespace: str, name: str) -> Obj | None:
        obj = self.store.get(rtype.key, namespace, name)
        return None if obj is None else self.render(rtype, obj)

    def list(self, rtype: ResourceType, namespace: str | None) -> list[Obj]:
        """Deep copies, sorted by namespace/name: the caller may change them."""
        return [self.render(rtype, o) for o in self.store.list_objects(rtype.key, namespace)]

    def list_views(self, rtype: ResourceType, namespace: str | None) -> list[Obj]:
        """`list` uncopied (`view`s): for reading and serialising only."""
        return [self.view(rtype, o) for o in self.store.list_peek(rtype.key, namespace)]

    # -- create --------------------------------------------------------------------------
    def _check_namespace(self, rtype: ResourceType, namespace: str, name: str) -> None:
        if not rtype.namespaced:
            return
        ns_type = self.registry.find("", "v1", "namespaces")
        assert ns_type is not None
        ns = self.store.peek(ns_type.key, "", namespace)
        if ns is None:
            raise _errors.not_found("", "namespaces", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            why = (
                f"unable to create new content in namespace {namespace} "
                "because it is being terminated"
            )
            raise _errors.forbidden(rtype.group, rtype.plural, name, why)

    def _new_meta(self, rtype: ResourceType, namespace: str, body: Obj) -> Obj:
        if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
            raise _errors.bad_request("Object 'metadata' is missing or not an object")
        meta: Obj = body.setdefault("metadata", {})
        if rtype.namespaced:
            if meta.get("namespace", namespace) != namespace:
                raise _errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise _errors.invalid(
                    rtype.group,
                    rtype.kind,
                    "",
                    [("metadata.name", "Required value: name or generateName is required")],
                )
            meta["name"] = meta["generateName"] + random_suffix()
        for key in _SYSTEM_META:
            meta.pop(key, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now()
        if rtype.generation or rtype.custom:
            meta["generation"] = 1
        return meta

    async def create(
        self,
        rtype: ResourceType,
        namespace: str,
        body: Obj,
        *,
        dry_run: bool = False,
        strict: bool = False,
        owned: bool = False,
        manager: str | None = None,
        managed: list[Obj] | None = None,
    ) -> Obj:
        """Create an object as `manager` (`managed`: its managedFields, from an apply);
        `owned`: `body` is the caller's to give away (a decoded request body), so it is not
        copied first."""
        body = body if owned else clone(body)
        meta = self._new_meta(rtype, namespace, body)
        _defaults.validate_name(rtype, meta["name"])
        self._check_namespace(rtype, namespace, meta["name"])
        self.render(rtype, body)
        if rtype.status and rtype.custom:
            body.pop("status", None)
        _defaults.apply_defaults(rtype, body)
        body = await self.admission.admit(
            "CREATE", rtype, body, None, strict=strict, dry_run=dry_run
        )
        if (
            self.store.peek(rtype.key, namespace if rtype.namespaced else "", meta["name"])
            is not None
        ):
            raise _errors.already_exists(rtype.group, rtype.plural, meta["name"])
        _quota.check(self.store, rtype, namespace, meta["name"])
        body = _managed.stamp(rtype, None, body, manager, sub=None, managed=managed)
        if dry_run:
            return body
        return self.render(rtype, self.store.write(rtype.key, body))

    # -- update --------------------------------------------------------------------------
    def _merge_update(
        self, rtype: ResourceType, old: Obj, body: Obj, subresource: str | None, owned: bool
    ) -> Obj:
        """The object an update would store, built from `old` (stored, never changed) and
        `body`. A status write shares everything but metadata and status with `old`: only
        those two are changed on the way to the store (admission of a status write
        touches `.status` alone)."""
        meta = body.get("metadata")
        if not isinstance(meta, dict):
            raise _errors.bad_request("Object 'metadata' is missing or not an object")
        name = old["metadata"]["name"]
        if meta.get("name", name) != name:
            raise _errors.bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on "
                f"the request ({name})"
            )
        new = _updated(rtype, old, body, subresource, owned)
        for key in _SYSTEM_META:
            if key in old["metadata"]:
                new["metadata"][key] = old["metadata"][key]
            else:
                new["metadata"].pop(key, None)
        if "namespace" in old["metadata"]:
            new["metadata"]["namespace"] = old["metadata"]["namespace"]
        if old["metadata"].get("generation") is not None and _spec_part(
            old, rtype.status
        ) != _spec_part(new, rtype.status):
            new["metadata"]["generation"] = old["metadata"]["generation"] + 1
        return self.render(rtype, new)

    def _check_finalizers(self, rtype: ResourceType, old: Obj, new: Obj) -> None:
        if not old["metadata"].get("deletionTimestamp"):
            return
        added = set(new["metadata"].get("finalizers") or []) - set(
            old["metadata"].get("finalizers") or []
        )
        if added:
            raise _errors.invalid(
                rtype.group,
                rtype.kind,
                old["metadata"]["name"],
                [
                    (
                        "metadata.finalizers",
                        "Forbidden: no new finalizers can be added if the object is being "
                        f"deleted, found new finalizers {sorted(added)!r}",
                    )
                ],
            )

    async def update(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        body: Obj,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        strict: bool = False,
        require_rv: bool = True,
        owned: bool = False,
        manager: str | None = None,
        managed: list[Obj] | None = None,
    ) -> Obj:
        """Replace an object (or its status) as `manager` (`managed` as for `create`);
        `owned`: `body` is the caller's to give away (a decoded request body), so it is not
        copied first."""
        old = self.peek(rtype, namespace, name)  # read-only: `new` is built beside it
        given = (
            (body.get("metadata") or {}).get("resourceVersion") if isinstance(body, dict) else None
        )
        if given and given != old["metadata"]["resourceVersion"]:
            raise _errors.conflict(rtype.group, rtype.plural, name)
        if not given and require_rv and rtype.custom:
            raise _errors.invalid(rtype.group, rtype.kind, name, list(_RV_REQUIRED))
        new = self._merge_update(rtype, old, body, subresource, owned)
        self._check_finalizers(rtype, old, new)
        if subresource is None:
            _defaults.apply_defaults(rtype, new)
        new = await self.admission.admit(
            "UPDATE", rtype, new, old, strict=strict, dry_run=dry_run, subresource=subresource
        )
        current = self.store.peek(rtype.key, namespace, name)
        if current is None:
            raise _errors.not_found(rtype.group, rtype.plural, name)
        if current["metadata"]["resourceVersion"] != old["metadata"]["resourceVersion"]:
            raise _errors.conflict(rtype.group, rtype.plural, name)
        new = _managed.stamp(rtype, old, new, manager, sub=subresource, managed=managed)
        return self._commit_update(rtype, old, new, dry_run)

    def _commit_update(self, rtype: ResourceType, old: Obj, new: Obj, dry_run: bool) -> Obj:
        if dry_run:
            return new
        if new == old:
            return old
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            return self.render(rtype, self.store.remove(rtype.key, new))
        return self.render(rtype, self.store.write(rtype.key, new))

    # -- patch ---------------------------------------------------------------------------
    async def patch(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        content_type: str,
        patch: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        strict: bool = False,
        manager: str | None = None,
        force: bool = False,
    ) -> Obj:
        """A JSON, merge or strategic-merge patch, or a server-side apply (`_managed`)."""
        kind = content_type.split(";", maxsplit=1)[0].strip()
        if kind == _managed.APPLY_PATCH:
            obj, _ = await _managed.server_side_apply(
                self, rtype, namespace, name, patch, sub=subresource, manager=manager,
                force=force, dry_run=dry_run, strict=strict,
            )  # fmt: skip
            return obj
        old = self.peek(rtype, namespace, name)
        # `new` may share parts with the stored `old`: `update` copies what it keeps.
        new = _patch.apply(rtype, kind, old, patch)
        given = (new.get("metadata") or {}).get("resourceVersion")
        if given != old["metadata"]["resourceVersion"]:
            raise _errors.conflict(rtype.group, rtype.plural, name)
        try:
            return await self.update(
                rtype, namespace, name, new, subresource=subresource, dry_run=dry_run,
                strict=strict, require_rv=False, manager=manager,
            )  # fmt: skip
        except _errors.ApiError as exc:
            raise _errors.strict_patch(exc, new) from exc

    # -- delete --------------------------------------------------------------------------
    async def delete(
        self,
        rtype: ResourceType,
        namespace: str,
        name: str,
        *,
        propagation: str | None = None,
        preconditions: Obj | None = None,
        dry_run: bool = False,
        grace: int | None = None,
    ) -> Obj:
        obj = self.read(rtype, namespace, name)
        meta = obj["metadata"]
        for field in ("uid", "resourceVersion"):
            want = (preconditions or {}).get(field)
            if want and want != meta.get(field):
                label = "UID" if field == "uid" else "ResourceVersion"
                why = (
                    f"Precondition failed: {label} in precondition: {want}, "
                    f"{label} in object meta: {meta.get(field)}"
                )
                raise _errors.conflict(rtype.group, rtype.plural, name, why)
        await self.admission.admit_delete(rtype, obj, dry_run=dry_run)
        if dry_run:
            return obj
        policy = propagation or (
            "Orphan" if (rtype.group, rtype.kind) == ("batch", "Job") else "Background"
        )
        finalizers = list(meta.get("finalizers") or [])
        extra = {"Foreground": "foregroundDeletion", "Orphan": "orphan"}.get(policy)
        if extra and extra not in finalizers and not meta.get("deletionTimestamp"):
            finalizers.append(extra)
        graceful = self._graceful(rtype, obj, grace)
        held = (rtype.group, rtype.kind) == ("", "Namespace") and bool(
            obj.get("spec", {}).get("finalizers")
        )
        if not finalizers and not graceful and not held:
            return self.render(rtype, self.store.remove(rtype.key, obj))
        if meta.get("deletionTimestamp") and finalizers == (meta.get("finalizers") or []):
            return obj
        if finalizers:
            meta["finalizers"] = finalizers
        if held:
            obj.setdefault("status", {})["phase"] = "Terminating"
        meta.setdefault("deletionTimestamp", now())
        meta.setdefault("deletionGracePeriodSeconds", graceful)
        if meta.get("generation") is not None:
            meta["generation"] += 1
        return self.render(rtype, self.store.write(rtype.key, obj))

    def _graceful(self, rtype: ResourceType, obj: Obj, grace: int | None) -> int:
        """Pods on a node wait for their kubelet; namespaces wait for their contents."""
        if (rtype.group, rtype.kind) != ("", "Pod") or not obj.get("spec", {}).get("nodeName"):
            return 0
        if obj.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            return 0
        seconds = obj["spec"].get("terminationGracePeriodSeconds", 30) if grace is None else grace
        return int(seconds)


def _updated(rtype: ResourceType, old: Obj, body: Obj, subresource: str | None, owned: bool) -> Obj:
    """`body` over `old` before the system metadata is carried over: a status write takes
    only `.status` from the body (sharing spec and the rest with `old`), a main-resource
    write keeps the stored status of a type with a status subresource."""
    if subresource == "status":
        new = {**old, "metadata": clone(old["metadata"])}
        status = body.get("status")
        if status is None:
            new.pop("status", None)
        else:
            new["status"] = clone(status)
        return new
    new = body if owned else clone(body)
    if rtype.status and "status" in old:
        new["status"] = clone(old["status"])
    elif rtype.status:
        new.pop("status", None)
    return new
