"""Validate objects against a CRD's openAPIV3Schema with a real JSON-Schema validator.

Kubernetes' structural schemas are OpenAPI v3 subsets; this turns one into a JSON
Schema (Draft 4 semantics, `x-kubernetes-int-or-string` kept as its `anyOf`) and adds
`additionalProperties: false` to objects with fixed properties, which mirrors the
strict field validation `kubectl apply` uses (unknown fields are errors, not pruned).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml

from k8sclaw.installer import CRDS_DIR


def load_crds(directory: Path = CRDS_DIR) -> dict[str, dict[str, Any]]:
    """Kind → CRD object, from the committed YAML."""
    crds = {}
    for path in sorted(directory.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        crds[crd["spec"]["names"]["kind"]] = crd
    return crds


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def validator_for(crd: dict[str, Any]) -> jsonschema.protocols.Validator:
    """A Draft 4 validator (with formats) for the served version of `crd`."""
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    strict = _strict(schema)
    strict["properties"]["metadata"] = {"type": "object"}
    cls = jsonschema.Draft4Validator
    return cls(strict, format_checker=cls.FORMAT_CHECKER)


def errors(obj: dict[str, Any], crds: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """Human-readable schema violations of `obj` (empty when valid)."""
    crds = crds or load_crds()
    crd = crds[obj["kind"]]
    found = validator_for(crd).iter_errors(obj)
    return [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in found]
