"""Patch formats: JSON patch (RFC 6902), JSON merge patch (RFC 7386), strategic merge.

Strategic merge is the Kubernetes flavour for built-in kinds: lists of objects merge by
a key (containers by `name`, volumeMounts by `mountPath`, ...), `$patch: delete` and
`$patch: replace` directives are honoured, and other lists are replaced. The merge keys
come from the Kubernetes API types for the fields K8sClaw's objects use; unlisted lists
fall back to replacement, which is also what kube-apiserver does for atomic lists.

Merge and strategic merge never change `target`: they build new dicts and lists along the
paths the patch touches and share the untouched parts of `target` (a stored object, see
`_store`'s invariant), so their result is read-only until the caller copies it, as
`Cluster.update` does. JSON patch edits a deep copy in place and returns that copy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.harness.kube import _errors, _listmaps
from tests.harness.kube._store import Obj, clone

if TYPE_CHECKING:
    from tests.harness.kube._types import ResourceType

# list field name → merge key, for built-in kinds (patchMergeKey in the Go API types).
_MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "ownerReferences": "uid",
    "conditions": "type",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "containerStatuses": "name",
    "webhooks": "name",
    "initContainerStatuses": "name",
}
MERGE_KEYS = _MERGE_KEYS  # also the list keys of field ownership (`_managed`)
_PRIMITIVE_MERGE = {"finalizers"}
_UNKNOWN_MEDIA = (
    "the body of the request was in an unknown format - accepted media types include: "
    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, `null` deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return clone(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _errors.bad_request(f"json patch path {path!r} must start with '/'")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _json_op(doc: Any, op: dict[str, Any]) -> Any:
    kind, parts = op.get("op"), _pointer(str(op.get("path", "")))
    if kind in ("copy", "move"):
        src = _pointer(str(op["from"]))
        value = clone(_get(doc, src))
        if kind == "move":
            doc = _json_op(doc, {"op": "remove", "path": op["from"]})
        return _json_op(doc, {"op": "add", "path": op["path"], "value": value})
    if kind == "test":
        if _get(doc, parts) != op.get("value"):
            raise _errors.ApiError(
                422,
                "Invalid",
                "the server rejected our request due to an error in our request: "
                f"test failed at {op['path']}",
            )
        return doc
    if not parts:
        return clone(op.get("value")) if kind in ("add", "replace") else None
    parent, last = _parent(doc, parts), parts[-1]
    if kind == "add":
        if isinstance(parent, list):
            parent.insert(len(parent) if last == "-" else int(last), clone(op["value"]))
        else:
            parent[last] = clone(op["value"])
    elif kind == "replace":
        _get(doc, parts)
        parent[int(last) if isinstance(parent, list) else last] = clone(op["value"])
    elif kind == "remove":
        _get(doc, parts)
        del parent[int(last) if isinstance(parent, list) else last]
    else:
        raise _errors.bad_request(f"unknown json patch operation {kind!r}")
    return doc


def _get(doc: Any, parts: list[str]) -> Any:
    node = doc
    for part in parts:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902; a path that does not exist is a 422 like kube-apiserver's."""
    if not isinstance(ops, list):
        raise _errors.bad_request("json patch must be a list of operations")
    doc = clone(target)
    for op in ops:
        try:
            doc = _json_op(doc, op)
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise _errors.ApiError(
                422,
                "Invalid",
                f"the server rejected our request due to an error in our request: "
                f"jsonpatch {op.get('op')} operation does not apply: doc is missing path: "
                f'"{op.get("path")}": {exc!r}',
            ) from exc
    return doc


def _merge_list(field: str, target: list[Any], patch: list[Any]) -> list[Any]:
    if field in _PRIMITIVE_MERGE:
        return list(target) + [v for v in patch if v not in target]
    key = _MERGE_KEYS.get(field)
    if field == "ports":
        key = (
            "containerPort"
            if any("containerPort" in p for p in patch if isinstance(p, dict))
            else "port"
        )
    if key is None or not all(isinstance(p, dict) for p in patch):
        return [p for p in clone(patch) if not (isinstance(p, dict) and "$patch" in p)]
    if any(p.get("$patch") == "replace" for p in patch):
        return [p for p in clone(patch) if "$patch" not in p]
    result = list(target)
    for item in patch:
        index = next(
            (
                i
                for i, t in enumerate(result)
                if isinstance(t, dict) and t.get(key) == item.get(key)
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
        elif index is None:
            result.append(strategic_merge(None, item))
        else:
            result[index] = strategic_merge(result[index], item)
    return result


def strategic_merge(target: Any, patch: Any) -> Any:
    """Kubernetes strategic merge patch for built-in kinds (see the module docstring)."""
    if not isinstance(patch, dict):
        return clone(patch)
    if patch.get("$patch") == "replace":
        return {k: clone(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith(("$setElementOrder/", "$retainKeys")) or key == "$patch":
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [v for v in result.get(field, []) if v not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(result.get(key), list):
            result[key] = _merge_list(key, result[key], value)
        elif isinstance(value, list):
            result[key] = _merge_list(key, [], value)
        else:
            merged = strategic_merge(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
    return result


def apply(rtype: ResourceType, kind: str, old: Obj, patch: Any) -> Obj:
    """`patch` (of media type `kind`) applied to `old`; shares parts with `old` unless
    it is a JSON patch. Adds `old`'s resourceVersion when the patch does not name one."""
    if kind == "application/json-patch+json":
        new = json_patch(old, patch)
    elif kind == "application/merge-patch+json":
        new = merge_patch(old, patch)
    elif kind == "application/strategic-merge-patch+json":
        if rtype.custom:
            raise _errors.unsupported_media_type(_UNKNOWN_MEDIA)
        new = strategic_merge(old, patch)
    elif kind == "application/apply-patch+yaml" and rtype.custom:
        keyed = _listmaps.list_map_keys(rtype.schema)
        new = _listmaps.apply_merge(old, strip_apply(patch), keyed, ())
    elif kind == "application/apply-patch+yaml":
        new = strategic_merge(old, strip_apply(patch))
    else:
        raise _errors.unsupported_media_type(_UNKNOWN_MEDIA)
    if not isinstance(new, dict):
        raise _errors.bad_request("the patch did not produce an object")
    meta = new.setdefault("metadata", {})
    if isinstance(meta, dict) and "resourceVersion" not in meta:
        # A new dict: `meta` may be the stored object's own metadata.
        new["metadata"] = {**meta, "resourceVersion": old["metadata"]["resourceVersion"]}
    return new


def strip_apply(patch: Any) -> Any:
    """Server-side apply, simplified: the applied configuration is merged into the live object
    (keyed lists of built-ins by their merge key, like a strategic merge; custom resources like
    a merge patch whose `x-kubernetes-list-type: map` lists merge by their keys). Field
    ownership (`_managed`) then removes what the applier stopped sending."""
    if not isinstance(patch, dict):
        raise _errors.bad_request("apply patch must be an object")
    body = dict(patch)  # the merges copy what they take from it
    meta = body.get("metadata")
    if isinstance(meta, dict) and "resourceVersion" in meta:
        body["metadata"] = {k: v for k, v in meta.items() if k != "resourceVersion"}
    return body
