"""The keyed lists of a custom resource: `x-kubernetes-list-type: map` in its CRD schema.

kube-apiserver's server-side apply merges such a list item by item (matched on every
`x-kubernetes-list-map-keys` field) and tracks ownership per item (`k:{"tool":"a"}`), so
an item another manager added survives a re-apply; every other list of a custom resource
is atomic. Paths here are field names only (a keyed list's items continue its path).
"""

from __future__ import annotations

from typing import Any

from tests.harness.kube._store import clone

FieldPath = tuple[str, ...]
Keys = tuple[str, ...]
_CACHE: dict[int, tuple[Any, dict[FieldPath, Keys]]] = {}


def list_map_keys(schema: dict[str, Any] | None) -> dict[FieldPath, Keys]:
    """Field path → the keys of each map-typed list in `schema` (read once per schema)."""
    if not schema:
        return {}
    cached = _CACHE.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    found: dict[FieldPath, Keys] = {}
    _walk(schema, (), found)
    _CACHE[id(schema)] = (schema, found)
    return found


def _walk(node: Any, path: FieldPath, found: dict[FieldPath, Keys]) -> None:
    if not isinstance(node, dict):
        return
    for name, child in (node.get("properties") or {}).items():
        _walk(child, (*path, name), found)
    if node.get("type") == "array":
        keys = node.get("x-kubernetes-list-map-keys")
        if node.get("x-kubernetes-list-type") == "map" and keys:
            found[path] = tuple(str(k) for k in keys)
        _walk(node.get("items"), path, found)


def item_key(item: Any, keys: Keys) -> dict[str, Any] | None:
    """The item's key fields (sorted by name, as structured-merge-diff writes `k:`), or
    None when the item is not an object."""
    if not isinstance(item, dict):
        return None
    return {k: item.get(k) for k in sorted(keys)}


def apply_merge(target: Any, config: Any, keyed: dict[FieldPath, Keys], path: FieldPath) -> Any:
    """`config` merged into `target` as server-side apply does for a custom resource: maps
    recursively (`null` deletes) like `_patch.merge_patch`, but keeping the field path so
    keyed lists merge item by item; everything else is replaced. Never changes `target`
    (shares its untouched parts)."""
    if isinstance(config, dict):
        result = dict(target) if isinstance(target, dict) else {}
        for name, value in config.items():
            if value is None:
                result.pop(name, None)
            else:
                result[name] = apply_merge(result.get(name), value, keyed, (*path, name))
        return result
    keys = keyed.get(path)
    if keys and isinstance(config, list) and isinstance(target, list):
        result_list = list(target)
        for item in config:
            key = item_key(item, keys)
            index = next(
                (i for i, t in enumerate(result_list) if key and item_key(t, keys) == key), None
            )
            if index is None:
                result_list.append(apply_merge(None, item, keyed, path))
            else:
                result_list[index] = apply_merge(result_list[index], item, keyed, path)
        return result_list
    return clone(config)  # an atomic list or a scalar: taken as applied, as merge_patch does
