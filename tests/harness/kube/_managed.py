"""Field ownership: `metadata.managedFields`, and the conflicts of server-side apply.

kube-apiserver records, per field manager, which fields it set (structured-merge-diff's
field sets, served as `FieldsV1`). An ordinary write (create, update, JSON/merge/strategic
patch; operation `Update`) gives its manager the fields it changed and takes them from
everyone else. An apply (operation `Apply`) owns exactly the fields of its configuration:
if another manager owns one of them and the apply would change its value, the request is a
409 Conflict (`Apply failed with 1 conflict: conflict with "t": .data.a`) unless
`force=true`, which takes the field over; fields the applier owned alone and stops
sending are removed from the object. Values both set alike are shared.

Modelled paths: map fields (`f:name`), and items of the built-in keyed lists by their
merge key (`k:{"name":"a"}`, containers, env, volumes, webhooks, ...) and of custom
resources' `x-kubernetes-list-type: map` lists by their `x-kubernetes-list-map-keys`
(`_listmaps`); every other list is atomic (one leaf). Not modelled: set-typed lists (`v:`),
incoming `managedFields` in a request body (always recomputed), webhook mutations'
ownership.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import orjson

from tests.harness.kube import _errors, _listmaps, _patch
from tests.harness.kube._patch import MERGE_KEYS
from tests.harness.kube._store import Obj, clone
from tests.harness.kube._types import ResourceType

if TYPE_CHECKING:
    from tests.harness.kube._cluster import Cluster

Path = tuple[str, ...]
APPLY, UPDATE = "Apply", "Update"
DEFAULT_MANAGER = "kube-controller-manager"
_IGNORED_META = frozenset(
    {
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
    }
)
_MARK = object()  # a keyed list item itself (its presence, not a value)
APPLY_PATCH = "application/apply-patch+yaml"
_STAMP: list[tuple[int, str]] = [(0, "")]


def now() -> str:
    """RFC 3339 timestamp with second precision, like metav1.Time; formatted once per
    second (a burst stamps thousands of objects within the same one)."""
    second = int(time.time())
    cached = _STAMP[0]
    if cached[0] != second:
        cached = _STAMP[0] = (second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second)))
    return cached[1]


def manager_from(field_manager: str | None, user_agent: str | None) -> str:
    """The manager of a request: `fieldManager`, else the User-Agent up to its first `/`
    (kube-apiserver's default, e.g. `OpenAPI-Generator`, `kubectl`)."""
    if field_manager:
        return field_manager
    return (user_agent or "").split("/", 1)[0][:128] or "unknown"


def leaves(rtype: ResourceType, obj: Obj, subresource: str | None) -> dict[Path, Any]:
    """The tracked leaf fields of `obj` with their values: a status write owns `.status`
    alone, a main-resource write everything else when the type has a status subresource."""
    out: dict[Path, Any] = {}
    for key, value in obj.items():
        if key in ("apiVersion", "kind"):
            continue
        if (key != "status") if subresource == "status" else (key == "status" and rtype.status):
            continue
        if key == "metadata" and isinstance(value, dict):
            for mkey, mvalue in value.items():
                if mkey not in _IGNORED_META:
                    _flatten(rtype, mvalue, ("f:metadata", f"f:{mkey}"), mkey, out)
            continue
        _flatten(rtype, value, (f"f:{key}",), key, out)
    return out


def _flatten(rtype: ResourceType, value: Any, path: Path, field: str, out: dict[Path, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, child in value.items():
            _flatten(rtype, child, (*path, f"f:{key}"), key, out)
        return
    keys = _list_keys(rtype, path, field)
    keyed = keys and isinstance(value, list)
    if keyed and all(isinstance(i, dict) and all(k in i for k in keys) for i in value):
        for item in value:
            key = _listmaps.item_key(item, keys)
            item_path = (*path, f"k:{orjson.dumps(key).decode()}")
            out[item_path] = _MARK
            for child_key, child in item.items():
                _flatten(rtype, child, (*item_path, f"f:{child_key}"), child_key, out)
        return
    out[path] = value


def _list_keys(rtype: ResourceType, path: Path, field: str) -> _listmaps.Keys | None:
    """The keys of the list at `path`: a built-in's merge key, or a custom resource's
    `x-kubernetes-list-map-keys` from its CRD schema (None: an atomic list)."""
    if not rtype.custom:
        key = MERGE_KEYS.get(field)
        return (key,) if key else None
    names = tuple(element[2:] for element in path if element.startswith("f:"))
    return _listmaps.list_map_keys(rtype.schema).get(names)


# -- FieldsV1 ---------------------------------------------------------------------------
def to_fields_v1(paths: set[Path]) -> Obj:
    """Paths as the nested `FieldsV1` map; `.` marks a path that also has children."""
    root: Obj = {}
    ends = []
    for path in paths:
        node = root
        for element in path:
            node = node.setdefault(element, {})
        ends.append(node)
    for node in ends:
        if node:
            node["."] = {}
    return root


def from_fields_v1(fields: Any, prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    if not isinstance(fields, dict):
        return out
    for element, child in fields.items():
        if element == ".":
            out.add(prefix)
        elif isinstance(child, dict) and child:
            out |= from_fields_v1(child, (*prefix, element))
        else:
            out.add((*prefix, element))
    return out


def path_string(path: Path) -> str:
    """structured-merge-diff's rendering: `.data.a`, `.spec.containers[name="a"].image`."""
    parts = []
    for element in path:
        if element.startswith("f:"):
            parts.append("." + element[2:])
        elif element.startswith("k:"):
            key = json.loads(element[2:])
            parts.append("[" + ",".join(f"{k}={json.dumps(v)}" for k, v in key.items()) + "]")
    return "".join(parts)


# -- entries ----------------------------------------------------------------------------
Entry = tuple[Obj, set[Path]]


def _entries(obj: Obj | None) -> list[Entry]:
    raw = ((obj or {}).get("metadata") or {}).get("managedFields") or []
    return [
        ({k: v for k, v in e.items() if k != "fieldsV1"}, from_fields_v1(e.get("fieldsV1")))
        for e in raw
        if isinstance(e, dict)
    ]


def _identity(entry: Obj) -> tuple[str, str, str, str]:
    """structured-merge-diff's manager identity: appliers keep theirs across versions."""
    version = "" if entry.get("operation") == APPLY else str(entry.get("apiVersion", ""))
    return (
        str(entry.get("manager", "")),
        str(entry.get("operation", "")),
        str(entry.get("subresource", "")),
        version,
    )


def _entry(rtype: ResourceType, manager: str, operation: str, sub: str | None, at: str) -> Obj:
    entry: Obj = {"manager": manager, "operation": operation, "apiVersion": rtype.api_version}
    entry.update(time=at, fieldsType="FieldsV1")
    if sub:
        entry["subresource"] = sub
    return entry


def _order(entry: Obj) -> tuple[str, ...]:
    """The order kube-apiserver serves entries in: operation, time, manager, version."""
    keys = ("operation", "time", "manager", "apiVersion", "subresource")
    return tuple(str(entry.get(k, "")) for k in keys)


def _render(entries: list[Entry]) -> list[Obj]:
    rendered = [{**entry, "fieldsV1": to_fields_v1(paths)} for entry, paths in entries if paths]
    return sorted(rendered, key=_order)


def _replace_mine(entries: list[Entry], mine: Entry) -> list[Entry]:
    """`entries` with `mine` where its manager's entry was (or appended)."""
    ident = _identity(mine[0])
    out = [mine if _identity(e) == ident else (e, p) for e, p in entries]
    return out if any(_identity(e) == ident for e, _ in entries) else [*out, mine]


def after_update(
    rtype: ResourceType, old: Obj | None, new: Obj, manager: str, *, sub: str | None, at: str
) -> list[Obj] | None:
    """The managedFields after an `Update` by `manager` turned `old` (None: a create)
    into `new`: it gains the fields it changed, which every other manager loses."""
    before = leaves(rtype, old, sub) if old is not None else {}
    after = leaves(rtype, new, sub)
    changed = {p for p, v in after.items() if p not in before or before[p] != v}
    gone = before.keys() - after.keys()
    entries = _entries(old)
    if not changed and not gone:
        return _render(entries) or None
    me = _entry(rtype, manager, UPDATE, sub, at)
    mine: set[Path] = next((p for e, p in entries if _identity(e) == _identity(me)), set())
    kept = (mine - gone) | changed
    others = [(e, p - changed - gone) for e, p in entries]
    return _render(_replace_mine(others, (me, kept))) or None


def after_apply(
    rtype: ResourceType, live: Obj | None, config: Obj, result: Obj, manager: str, *,
    force: bool, at: str, sub: str | None = None,
) -> tuple[Obj, list[Obj]]:  # fmt: skip
    """`result` (`config` merged into `live`) less the fields `manager` stopped applying,
    and the managedFields after the apply; 409 on conflicts unless `force`."""
    applied = set(leaves(rtype, config, sub))
    before = leaves(rtype, live, sub) if live is not None else {}
    after = leaves(rtype, result, sub)
    me = _entry(rtype, manager, APPLY, sub, at)
    entries, conflicts = _entries(live), []
    for entry, paths in entries:
        if _identity(entry) != _identity(me):
            conflicts += [
                (entry, p) for p in sorted(paths & applied) if before.get(p) != after.get(p)
            ]
    if conflicts and not force:
        raise _conflict_error(conflicts)
    taken = {p for _, p in conflicts}
    others = [(e, p - taken) for e, p in entries if _identity(e) != _identity(me)]
    previous = next((p for e, p in entries if _identity(e) == _identity(me)), set())
    shared = set().union(*(p for _, p in others))
    for path in _to_remove(previous - applied - shared, shared):
        result = _remove(result, path)
    return result, _render(_replace_mine(others, (me, applied)))


def _to_remove(dropped: set[Path], shared: set[Path]) -> list[Path]:
    """The paths an applier stopped sending that go, deepest first: a keyed item goes whole
    (not its key fields first, which would leave it unmatchable), unless another manager
    still owns a field inside it; then it stays, with its key fields."""
    kept = {p for p in dropped if p[-1].startswith("k:") and _inside(p, shared)}
    for item in kept:
        dropped = dropped - {(*item, f"f:{k}") for k in json.loads(item[-1][2:])}
    dropped -= kept
    outermost = [p for p in dropped if not any(p[:i] in dropped for i in range(1, len(p)))]
    return sorted(outermost, key=len, reverse=True)


def _inside(item: Path, paths: set[Path]) -> bool:
    return any(len(p) > len(item) and p[: len(item)] == item for p in paths)


def _print_manager(entry: Obj) -> str:
    text = json.dumps(entry.get("manager", ""))
    if entry.get("subresource"):
        text += f" with subresource {json.dumps(entry['subresource'])}"
    if entry.get("operation") == UPDATE:
        text += f" using {entry.get('apiVersion', '')}"
    return text


def _conflict_error(conflicts: list[tuple[Obj, Path]]) -> _errors.ApiError:
    """kube-apiserver's `NewApplyConflict`: one cause per field, managers sorted."""
    causes = [
        {
            "type": "FieldManagerConflict",
            "message": f"conflict with {_print_manager(e)}",
            "field": path_string(p),
        }
        for e, p in conflicts
    ]
    if len(conflicts) == 1:
        entry, path = conflicts[0]
        message = f"conflict with {_print_manager(entry)}: {path_string(path)}"
        text = f"Apply failed with 1 conflict: {message}"
    else:
        by_manager: dict[str, list[str]] = {}
        for entry, path in conflicts:
            by_manager.setdefault(_print_manager(entry), []).append(path_string(path))
        lines = []
        for manager in sorted(by_manager):
            lines += [f"conflicts with {manager}:", *(f"- {p}" for p in by_manager[manager])]
        text = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return _errors.ApiError(409, "Conflict", text, {"causes": causes})


def _remove(value: Any, path: Path) -> Any:
    """`value` without the field at `path`, copying only the containers along it (the
    object may share parts with a stored one)."""
    if not path:
        return _MARK
    head, rest = path[0], path[1:]
    if head.startswith("f:") and isinstance(value, dict) and head[2:] in value:
        child = _remove(value[head[2:]], rest)
        out = dict(value)
        if child is _MARK:
            del out[head[2:]]
        else:
            out[head[2:]] = child
        return out
    if head.startswith("k:") and isinstance(value, list):
        key = json.loads(head[2:])
        items = []
        for item in value:
            kept = item
            if isinstance(item, dict) and all(item.get(k) == v for k, v in key.items()):
                kept = _remove(item, rest)
            if kept is not _MARK:
                items.append(kept)
        return items
    return value


def stamp(
    rtype: ResourceType, old: Obj | None, new: Obj, manager: str | None, *, sub: str | None,
    managed: list[Obj] | None,
) -> Obj:  # fmt: skip
    """`new` (the caller's) with its managedFields: `managed` (an apply computed them)
    or those of an `Update` by `manager` (in-process controllers: kube-controller-manager)."""
    if managed is None:
        managed = after_update(rtype, old, new, manager or DEFAULT_MANAGER, sub=sub, at=now())
    meta = {k: v for k, v in new["metadata"].items() if k != "managedFields"}
    if managed:
        meta["managedFields"] = managed
    new["metadata"] = meta
    return new


async def server_side_apply(
    cluster: Cluster, rtype: ResourceType, namespace: str, name: str, patch: Any, *,
    sub: str | None, manager: str | None, force: bool, dry_run: bool, strict: bool,
) -> tuple[Obj, bool]:  # fmt: skip
    """Apply `patch` as `manager`: (the object, whether the apply created it)."""
    if not manager:
        why = [("fieldManager", "Required value: is required for apply patch")]
        raise _errors.invalid("meta.k8s.io", "PatchOptions", "", why)
    config = _patch.strip_apply(patch)
    live = cluster.store.peek(rtype.key, namespace, name)
    opts = {"dry_run": dry_run, "strict": strict}
    if live is None:
        if sub:
            raise _errors.not_found(rtype.group, rtype.plural, name)
        body = clone(config)
        body.setdefault("metadata", {}).setdefault("name", name)
        owned = set(leaves(rtype, config, None))
        fields = _render([(_entry(rtype, manager, APPLY, None, now()), owned)])
        obj = await cluster.create(rtype, namespace, body, owned=True, managed=fields, **opts)
        return obj, True
    old = cluster.peek(rtype, namespace, name)
    merged = _patch.apply(rtype, APPLY_PATCH, old, patch)
    result, fields = after_apply(
        rtype, old, config, merged, manager, force=force, at=now(), sub=sub
    )
    obj = await cluster.update(
        rtype, namespace, name, result, subresource=sub, require_rv=False, managed=fields, **opts
    )
    return obj, False
