"""Structural-schema handling for custom resources: pruning, defaulting, validation.

Order as in kube-apiserver: unknown fields are pruned (or, with
`fieldValidation=Strict`, rejected with 400 "strict decoding error"), `default`s are
applied, then the object is validated against the openAPIV3Schema and every violation is
reported as one cause of a 422 Invalid. Not modelled: CEL (`x-kubernetes-validations`),
`format` checks, list-type uniqueness (`x-kubernetes-list-type`).
"""

from __future__ import annotations

import json
from typing import Any

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


def _prune(value: Any, schema: Obj, path: str, unknown: list[str]) -> Any:
    if (
        isinstance(value, dict)
        and schema.get("type", "object") == "object"
        and not _keeps_unknown(schema)
    ):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        if props is not None:
            for key in [k for k in value if k not in props]:
                if not path and key in _ROOT_KEEP:
                    continue
                unknown.append(f"{path}{key}")
                del value[key]
            for key, sub in props.items():
                if key in value:
                    value[key] = _prune(value[key], sub, f"{path}{key}.", unknown)
        elif isinstance(extra, dict):
            for key in value:
                value[key] = _prune(value[key], extra, f"{path}{key}.", unknown)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [
            _prune(v, schema["items"], f"{path[:-1]}[{i}].", unknown) for i, v in enumerate(value)
        ]
    return value


def _default(value: Any, schema: Obj) -> Any:
    if isinstance(value, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key not in value and "default" in sub:
                value[key] = clone(sub["default"])
            if key in value:
                value[key] = _default(value[key], sub)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in value:
                value[key] = _default(value[key], extra)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_default(v, schema["items"]) for v in value]
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
        out["properties"]["metadata"] = {"type": "object"}
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


_VALIDATORS: dict[int, tuple[Obj, jsonschema.Draft4Validator]] = {}


def _validator(schema: Obj) -> jsonschema.Draft4Validator:
    """The compiled validator of a served schema, built once per schema (as the API server
    does when it serves a CRD version), not once per request."""
    cached = _VALIDATORS.get(id(schema))
    if cached is None or cached[0] is not schema:
        cached = (schema, jsonschema.Draft4Validator(_to_jsonschema(schema)))
        if len(_VALIDATORS) >= 256:  # schemas of deleted CRDs: never let the cache grow
            _VALIDATORS.clear()
        _VALIDATORS[id(schema)] = cached
    return cached[1]


def admit(rtype: ResourceType, obj: Obj, *, strict: bool) -> Obj:
    """Prune, default and validate a custom resource; returns the admitted object."""
    if rtype.schema is None:
        return obj
    unknown: list[str] = []
    # `obj` is the request's own copy (create/update made it): prune it in place.
    obj = _prune(obj, rtype.schema, "", unknown)
    if strict and unknown:
        fields = ", ".join(f'unknown field "{u}"' for u in unknown)
        raise _errors.bad_request(
            f'{rtype.kind} in version "{rtype.version}" cannot be handled as a {rtype.kind}: '
            f"strict decoding error: {fields}"
        )
    obj = _default(obj, rtype.schema)
    validator = _validator(rtype.schema)
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        name = obj.get("metadata", {}).get("name", "")
        raise _errors.invalid(rtype.group, rtype.kind, name, [_cause(e) for e in errors])
    return obj
