"""Structural-schema handling for custom resources: pruning, defaulting, validation.

Order as in kube-apiserver: unknown fields are pruned (or, with
`fieldValidation=Strict`, rejected with 400 "strict decoding error"), `default`s are
applied, then the object is validated against the openAPIV3Schema and every violation is
reported as one cause of a 422 Invalid. Each schema is compiled once (fastjsonschema) into
a validity check; only an invalid object pays for jsonschema, which lists every cause with
the messages the API server uses. Status-subresource writes prune, default and validate
`.status` alone (the status strategy's scope). Not modelled: CEL (`x-kubernetes-validations`),
`format` checks, list-type uniqueness (`x-kubernetes-list-type`).
"""

from __future__ import annotations

import json
from typing import Any

import fastjsonschema
import jsonschema

from tests.harness.kube import _errors
from tests.harness.kube._store import clone
from tests.harness.kube._types import ResourceType

Obj = dict[str, Any]
_ROOT_KEEP = ("apiVersion", "kind", "metadata")


def _keeps_unknown(schema: Obj) -> bool:
    return bool(schema.get("x-kubernetes-preserve-unknown-fields")) or bool(
        schema.get("x-kubernetes-embedded-resource")
    )


_CONTAINERS = (dict, list)


def _prune(value: Any, schema: Obj, path: str, unknown: list[str]) -> Any:
    """Drop the fields `schema` does not know, in place, recording their paths in `unknown`.

    Recurses only into dicts and lists (scalars have nothing to prune), so the cost
    follows the object's containers, not its every field. Returns `value`."""
    if isinstance(value, dict):
        if schema.get("type", "object") == "object" and not _keeps_unknown(schema):
            _prune_fields(value, schema, path, unknown)
    elif isinstance(value, list) and isinstance(items := schema.get("items"), dict):
        for i, child in enumerate(value):
            if isinstance(child, _CONTAINERS):
                _prune(child, items, f"{path[:-1]}[{i}].", unknown)
    return value


def _prune_fields(value: Obj, schema: Obj, path: str, unknown: list[str]) -> None:
    props = schema.get("properties")
    if props is not None:
        for key in [k for k in value if k not in props]:
            if not path and key in _ROOT_KEEP:
                continue
            unknown.append(f"{path}{key}")
            del value[key]
        for key, child in value.items():
            if not path and key == "metadata":
                continue  # ObjectMeta is never pruned; a schema may only restrict its name
            if isinstance(child, _CONTAINERS) and key in props:
                _prune(child, props[key], f"{path}{key}.", unknown)
    elif isinstance(extra := schema.get("additionalProperties"), dict):
        for key, child in value.items():
            if isinstance(child, _CONTAINERS):
                _prune(child, extra, f"{path}{key}.", unknown)


def _default(value: Any, schema: Obj) -> Any:
    """Fill in the `default`s of `schema` for absent fields, in place, at every level."""
    if isinstance(value, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key not in value:
                if "default" not in sub:
                    continue
                value[key] = clone(sub["default"])
            if isinstance(value[key], _CONTAINERS):
                _default(value[key], sub)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for child in value.values():
                if isinstance(child, _CONTAINERS):
                    _default(child, extra)
    elif isinstance(value, list) and isinstance(items := schema.get("items"), dict):
        for child in value:
            if isinstance(child, _CONTAINERS):
                _default(child, items)
    return value


def _to_jsonschema(node: Any) -> Any:
    """OpenAPI v3 structural schema → JSON Schema draft 4 (nullable, int-or-string)."""
    if isinstance(node, list):
        return [_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: _to_jsonschema(v)
        for k, v in node.items()
        if not k.startswith("x-kubernetes-")
        and k not in ("format", "nullable", "description", "example")
    }
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("x-kubernetes-preserve-unknown-fields") and "type" not in node:
        out.pop("type", None)
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if "metadata" in out.get("properties", {}):
        # Structural schemas may restrict metadata.name and .generateName only (e.g. a
        # pattern); kube-apiserver validates those and ignores anything else there.
        given = out["properties"]["metadata"].get("properties") or {}
        kept = {key: given[key] for key in ("name", "generateName") if key in given}
        out["properties"]["metadata"] = {"type": "object", **({"properties": kept} if kept else {})}
    return out


def _cause(error: jsonschema.ValidationError) -> tuple[str, str]:
    field = ".".join(
        str(p) if not isinstance(p, int) else f"[{p}]" for p in error.absolute_path
    ).replace(".[", "[")
    value = json.dumps(error.instance)
    kind = error.validator
    if kind == "required":
        missing = str(error.message).split("'")[1]
        return (f"{field}.{missing}" if field else missing, "Required value")
    if kind == "enum":
        allowed = ", ".join(json.dumps(v) for v in error.validator_value)
        return (field, f"Unsupported value: {value}: supported values: {allowed}")
    if kind == "type":
        return (
            field,
            f'Invalid value: "{_type_name(error.instance)}": {field} in body must be of type '
            f"{error.validator_value}: {value}",
        )
    texts = {
        "minimum": f"should be greater than or equal to {error.validator_value}",
        "maximum": f"should be less than or equal to {error.validator_value}",
        "minLength": f"should be at least {error.validator_value} chars long",
        "maxLength": f"may not be more than {error.validator_value} bytes",
        "pattern": f"should match '{error.validator_value}'",
        "minItems": f"should have at least {error.validator_value} items",
        "maxItems": f"must have at most {error.validator_value} items",
    }
    text = texts.get(str(kind), str(error.message))
    return (field, f"Invalid value: {value}: {field} in body {text}")


def _type_name(value: Any) -> str:
    return {
        dict: "object",
        list: "array",
        str: "string",
        bool: "boolean",
        int: "integer",
        float: "number",
    }.get(type(value), "null")


class _Compiled:
    """One served schema, compiled once (as the API server does when it serves a CRD
    version): a fastjsonschema check for the common case, a valid object, and the
    jsonschema validator, built on the first invalid object, which lists every cause."""

    def __init__(self, source: Obj, served: Obj) -> None:
        self.source = source  # the CRD's schema object this was compiled for
        self._json_schema = _to_jsonschema(served)
        self._fast = fastjsonschema.compile({**self._json_schema, "$schema": _DRAFT4})
        self._full: jsonschema.Draft4Validator | None = None

    def errors(self, obj: Obj) -> list[jsonschema.ValidationError]:
        """Every violation, sorted by path; empty for a valid object (the fast path)."""
        try:
            self._fast(obj)
            return []
        except fastjsonschema.JsonSchemaException:
            pass
        if self._full is None:
            self._full = jsonschema.Draft4Validator(self._json_schema)
        return sorted(self._full.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))


_DRAFT4 = "http://json-schema.org/draft-04/schema#"
_COMPILED: dict[tuple[int, bool], _Compiled] = {}


def _compiled(schema: Obj, *, status_only: bool) -> _Compiled:
    """The compiled validator of a served schema (or of its `.status` part), cached by
    schema identity: a CRD update serves a new schema object."""
    key = (id(schema), status_only)
    cached = _COMPILED.get(key)
    if cached is None or cached.source is not schema:
        cached = _Compiled(schema, _status_schema(schema) if status_only else schema)
        if len(_COMPILED) >= 256:  # schemas of deleted CRDs: never let the cache grow
            _COMPILED.clear()
        _COMPILED[key] = cached
    return cached


def _status_schema(schema: Obj) -> Obj:
    """The root schema reduced to its `status` property: what a status write validates."""
    status = (schema.get("properties") or {}).get("status") or {}
    return {"type": "object", "properties": {"status": status}}


def admit(rtype: ResourceType, obj: Obj, *, strict: bool, subresource: str | None = None) -> Obj:
    """Prune, default and validate a custom resource; returns the admitted object.

    A write to the status subresource changes only `.status` (spec and metadata are the
    stored object's, already admitted), so only `.status` is pruned, defaulted and
    validated, as the API server's status strategy validates only the status schema."""
    if rtype.schema is None:
        return obj
    status_only = subresource == "status"
    unknown: list[str] = []
    if status_only:
        sub = (rtype.schema.get("properties") or {}).get("status")
        if sub is None or "status" not in obj:
            return obj
        obj["status"] = _default(_prune(obj["status"], sub, "status.", unknown), sub)
    else:
        # `obj` is the request's own copy (create/update made it): prune it in place.
        obj = _default(_prune(obj, rtype.schema, "", unknown), rtype.schema)
    if strict and unknown:
        fields = ", ".join(f'unknown field "{u}"' for u in unknown)
        raise _errors.bad_request(
            f'{rtype.kind} in version "{rtype.version}" cannot be handled as a {rtype.kind}: '
            f"strict decoding error: {fields}"
        )
    errors = _compiled(rtype.schema, status_only=status_only).errors(obj)
    if errors:
        name = obj.get("metadata", {}).get("name", "")
        raise _errors.invalid(rtype.group, rtype.kind, name, [_cause(e) for e in errors])
    return obj
