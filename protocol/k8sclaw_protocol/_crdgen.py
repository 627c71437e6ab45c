"""Generate CustomResourceDefinitions from the pydantic models (one source of truth).

pydantic's JSON Schema is turned into a Kubernetes structural schema: `$ref`s inlined,
`Optional` unwrapped, titles dropped, nullable defaults removed. CI compares the output
with the committed YAML (`make crds` rewrites it), so a field can never be in the model
and missing from the schema, where Kubernetes would silently prune it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from k8sclaw_protocol import _events, _names
from k8sclaw_protocol._base import Resource
from k8sclaw_protocol._kinds import KINDS

_DROP_KEYS = frozenset({"title", "propertyNames", "$defs"})
# A structural schema may restrict metadata.name (and nothing else of metadata): this
# holds on every API server version, unlike a CEL rule, whose estimated cost on
# metadata.name exceeds the budget on releases that treat the name as unbounded.
_LABEL_NAME_METADATA = {
    "type": "object",
    "properties": {
        "name": {
            "type": "string",
            "maxLength": 63,
            "pattern": _events.SCOPE_TOKEN_PATTERN,
        }
    },
}


def crd_for(model: type[Resource]) -> dict[str, Any]:
    """The CustomResourceDefinition of one kind."""
    info = model.info
    full = model.model_json_schema(by_alias=True, mode="validation")
    defs = full.get("$defs", {})
    props = full["properties"]
    spec_schema = _structural(props["spec"], defs)
    status_schema = _structural(props["status"], defs)
    schema: dict[str, Any] = {
        "type": "object",
        "description": _clean_doc(model.__doc__),
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "description": "API version: k8sclaw.io/v1alpha1."},
            "kind": {"type": "string", "description": f"Always {info.kind}."},
            "metadata": {"type": "object"},
            "spec": spec_schema,
            "status": status_schema,
        },
    }
    if info.label_name:
        schema["properties"]["metadata"] = _LABEL_NAME_METADATA
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": info.crd_name,
            "labels": {_names.LABEL_PART_OF: "k8sclaw", "k8sclaw.io/version": _names.VERSION},
        },
        "spec": {
            "group": _names.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": info.kind,
                "listKind": info.list_kind,
                "plural": info.plural,
                "singular": info.singular,
                "shortNames": list(info.short_names),
                "categories": [_names.CATEGORY],
            },
            "versions": [
                {
                    "name": _names.API_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [c.to_wire() for c in info.columns],
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


def _clean_doc(doc: str | None) -> str:
    """Collapse a docstring into one description line block."""
    return " ".join((doc or "").split())


def _structural(node: Any, defs: dict[str, Any]) -> Any:
    """Rewrite one pydantic schema node into Kubernetes structural form."""
    if isinstance(node, list):
        return [_structural(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    node = _unwrap_optional(node)
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _structural(merged, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROP_KEYS or (key == "default" and value is None):
            continue
        if key == "description":
            out[key] = _clean_doc(value)
        elif key == "properties":
            out[key] = {name: _structural(sub, defs) for name, sub in value.items()}
        elif key == "anyOf" and node.get("x-kubernetes-int-or-string"):
            out[key] = value
        else:
            out[key] = _structural(value, defs)
    if (
        out.get("type") == "object"
        and "properties" not in out
        and "additionalProperties" not in out
    ):
        out["x-kubernetes-preserve-unknown-fields"] = True
    if out.get("default") in ({}, []) and out.get("type") in ("object", "array"):
        del out["default"]
    return out


def _unwrap_optional(node: dict[str, Any]) -> dict[str, Any]:
    """`X | None` becomes X: optionality is expressed by `required`, not by null."""
    options = node.get("anyOf")
    if not options or node.get("x-kubernetes-int-or-string"):
        return node
    non_null = [o for o in options if o != {"type": "null"}]
    if len(non_null) != 1:
        return node
    rest = {k: v for k, v in node.items() if k != "anyOf"}
    inner = non_null[0]
    return {**inner, **rest} if "$ref" not in inner else {"$ref": inner["$ref"], **rest}


def render_all() -> dict[str, str]:
    """File name → YAML text for every CRD, as committed under manifests/crds/."""
    files: dict[str, str] = {}
    for model in KINDS:
        crd = crd_for(model)
        text = yaml.safe_dump(crd, sort_keys=False, width=100, allow_unicode=True)
        files[f"{_names.GROUP}_{model.info.plural}.yaml"] = (
            "# Generated from k8sclaw_protocol by `make crds`; do not edit by hand.\n" + text
        )
    return files


def write_all(directory: Path) -> list[Path]:
    """Write every CRD into `directory`, returning the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_all().items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """`python -m k8sclaw_protocol._crdgen DIR` regenerates the committed CRDs."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else Path("k8sclaw/manifests/crds")
    for path in write_all(target):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
