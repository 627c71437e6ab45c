"""The CRDs are structural, documented and registered the way kubectl users expect."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.crdschema import load_crds

CRDS = load_crds()
EXPECTED = {
    "ClawInstance": ("clawinstances", "ci"),
    "AgentRun": ("agentruns", "ar"),
    "ClawPolicy": ("clawpolicies", "cp"),
    "SkillPack": ("skillpacks", "sp"),
    "ClawSchedule": ("clawschedules", "cs"),
}


def _schema(kind: str) -> dict[str, Any]:
    return CRDS[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def _walk(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = [(path, node)]
    for name, sub in node.get("properties", {}).items():
        found += _walk(sub, f"{path}.{name}")
    if "items" in node:
        found += _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        found += _walk(node["additionalProperties"], f"{path}{{}}")
    return found


def test_all_five_kinds_exist() -> None:
    assert set(CRDS) == set(EXPECTED)


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_names_category_and_subresource(kind: str) -> None:
    crd = CRDS[kind]
    plural, short = EXPECTED[kind]
    names = crd["spec"]["names"]
    assert crd["metadata"]["name"] == f"{plural}.k8sclaw.io"
    assert names["plural"] == plural
    assert names["shortNames"] == [short]
    assert names["categories"] == ["k8sclaw"]
    assert crd["spec"]["scope"] == "Namespaced"
    (version,) = crd["spec"]["versions"]
    assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns[-1] == "Age"


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_schema_is_structural(kind: str) -> None:
    """Every node has a type (or is int-or-string); no $ref, no nullable unions."""
    for path, node in _walk(_schema(kind)):
        assert "$ref" not in node, path
        if node.get("x-kubernetes-int-or-string"):
            assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}], path
            continue
        assert "anyOf" not in node and "oneOf" not in node, path
        assert node.get("type") in {"object", "array", "string", "integer", "boolean", "number"}, (
            path
        )
        if node["type"] == "object" and path != ".metadata":
            assert (
                "properties" in node
                or "additionalProperties" in node
                or node.get("x-kubernetes-preserve-unknown-fields")
            ), path


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_every_field_has_a_description(kind: str) -> None:
    """`kubectl explain` prints these."""
    for path, node in _walk(_schema(kind)):
        if path.startswith((".apiVersion", ".kind", ".metadata")) or path.endswith(("{}", "[]")):
            continue
        if path == "":
            continue
        assert node.get("description"), f"{kind}{path} has no description"


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_list_map_keys_are_required(kind: str) -> None:
    """The API server rejects a list-map whose keys are optional without defaults."""
    for path, node in _walk(_schema(kind)):
        if node.get("x-kubernetes-list-type") == "map":
            item = node["items"]
            for key in node["x-kubernetes-list-map-keys"]:
                assert key in item.get("required", []) or "default" in item["properties"][key], path


def test_enums_and_defaults() -> None:
    spec = _schema("AgentRun")["properties"]["spec"]["properties"]
    assert spec["cleanup"]["enum"] == ["delete", "keep"]
    assert spec["cleanup"]["default"] == "delete"
    assert spec["timeout"]["default"] == "10m"
    status = _schema("AgentRun")["properties"]["status"]["properties"]
    assert status["phase"]["enum"] == ["Pending", "Running", "Succeeded", "Failed"]
    assert set(status["tokenUsage"]["properties"]) == {
        "inputTokens",
        "outputTokens",
        "totalTokens",
        "toolCalls",
        "durationMs",
    }
    channel = _schema("ClawInstance")["properties"]["spec"]["properties"]["channels"]["items"]
    assert channel["properties"]["type"]["enum"] == ["telegram", "slack", "discord", "whatsapp"]
    auth = _schema("ClawInstance")["properties"]["spec"]["properties"]["authRefs"]["items"]
    assert "provider" in auth["properties"]
    gating = _schema("ClawPolicy")["properties"]["spec"]["properties"]["toolGating"]["properties"]
    assert gating["defaultAction"]["enum"] == ["allow", "deny", "ask"]
