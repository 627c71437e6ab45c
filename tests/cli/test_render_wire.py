"""The wire renderers (fast read path) print exactly what the model renderers print.

Every kind's sample is varied (fields removed, statuses added, edge values) and each
variant the model accepts must give the same headers and cells through both renderers.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from k8sclaw.kube import CUSTOM_KINDS
from k8sclaw.render import WIRE_RENDERERS, renderer_for
from k8sclaw.render import _wire as wire
from k8sclaw_protocol import KINDS, Resource, names

SAMPLES = Path(__file__).resolve().parents[2] / "k8sclaw" / "manifests" / "samples"
NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
DELETE = object()

# (dotted path, value or DELETE); each list entry is one variant (applied together).
VARIANTS: dict[str, list[list[tuple[str, Any]]]] = {
    "AgentRun": [
        [("status", {})],
        [("status", {"phase": "Running", "podName": "p-1"})],
        [("status", {"phase": "Succeeded", "tokenUsage": {}})],
        [("status", {"tokenUsage": {"totalTokens": 12, "durationMs": 1234}})],
        [("status", {"tokenUsage": {"totalTokens": 7, "durationMs": 245000}})],
        [("spec.model.provider", DELETE), ("metadata.labels", DELETE)],
        [("spec.task", "x" * 80)],
        [("spec.task", "two\nlines   and\ttabs")],
        [("metadata.creationTimestamp", DELETE)],
    ],
    "ClawInstance": [
        [("status", {})],
        [("status", {"phase": "Running", "activeAgentPods": 2, "totalAgentRuns": 5})],
        [("spec.channels", DELETE), ("spec.policyRef", DELETE)],
        [("spec.agents.default.provider", DELETE)],
        [("spec.agents.default.provider", DELETE), ("spec.authRefs", DELETE)],
        [
            ("spec.agents.default.provider", DELETE),
            ("spec.authRefs", [{"secret": "k"}, {"secret": "k2", "provider": "anthropic"}]),
        ],
        [
            (
                "spec.channels",
                [
                    {"type": "slack", "configRef": {"secret": "s"}},
                    {"type": "discord", "configRef": {"secret": "d"}},
                ],
            )
        ],
    ],
    "ClawPolicy": [
        [("spec", {})],
        [("spec", DELETE)],
        [("spec.toolGating", {}), ("spec.sandboxPolicy", {}), ("spec.subagentPolicy", {})],
        [("spec.sandboxPolicy.required", True), ("spec.subagentPolicy.maxDepth", 7)],
        [("spec.featureGates", {}), ("status", {"boundInstances": 3})],
        [("status", {})],
    ],
    "SkillPack": [
        [("status", {})],
        [("status", {"phase": "Ready", "configMapName": "code-review", "skillCount": 2})],
        [("spec.skills", [{"name": "only", "content": "x"}]), ("status", {"phase": "Error"})],
    ],
    "ClawSchedule": [
        [("spec.suspend", True)],
        [("status", {})],
        [("status", {"lastRunTime": "2026-01-02T11:00:00Z", "totalRuns": 9})],
        [("status", {"phase": "Active", "nextScheduleTime": "2099-01-02T11:00:00Z"})],
        [("status", {"phase": "Error", "nextScheduleTime": "2001-01-02T11:00:00Z"})],
        [("spec.task", "t" * 200)],
    ],
}


def _set(body: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = body
    for key in parents:
        node = node.setdefault(key, {})
    if value is DELETE:
        node.pop(leaf, None)
    else:
        node[leaf] = copy.deepcopy(value)


def _cases() -> list[tuple[type[Resource], dict[str, Any]]]:
    cases = []
    for kind in KINDS:
        base = yaml.safe_load((SAMPLES / f"{kind.info.singular}.yaml").read_text())
        base["metadata"]["creationTimestamp"] = "2026-01-02T11:55:00Z"
        base["metadata"]["namespace"] = "team-a"
        cases.append((kind, base))
        for variant in VARIANTS[kind.info.kind]:
            body = copy.deepcopy(base)
            for path, value in variant:
                _set(body, path, value)
            cases.append((kind, body))
    return cases


CASES = _cases()


@pytest.mark.parametrize(
    ("kind", "body"), CASES, ids=[f"{k.info.kind}-{i}" for i, (k, _) in enumerate(CASES)]
)
@pytest.mark.parametrize("wide", [False, True], ids=["table", "wide"])
def test_wire_row_equals_model_row(kind: type[Resource], body: dict[str, Any], wide: bool) -> None:
    model_renderer, wire_renderer = renderer_for(kind), WIRE_RENDERERS[kind.info.kind]
    assert wire_renderer.headers(wide=wide) == model_renderer.headers(wide=wide)
    expected = model_renderer.row(kind.from_wire(copy.deepcopy(body)), wide=wide, now=NOW)
    assert wire_renderer.row(body, wide=wide, now=NOW) == expected


def test_every_variant_changes_something() -> None:
    """A variant identical to its sample would test nothing new."""
    seen: set[str] = set()
    for _, body in CASES:
        key = yaml.safe_dump(body, sort_keys=True)
        assert key not in seen
        seen.add(key)


def test_static_names_match_the_protocol() -> None:
    assert set(WIRE_RENDERERS) == {k.info.kind for k in KINDS}
    assert wire.LABEL_COMPONENT == names.LABEL_COMPONENT
    for kind in KINDS:
        static = CUSTOM_KINDS[kind.info.kind]
        assert (static.singular, static.plural, static.short_name) == (
            kind.info.singular,
            kind.info.plural,
            kind.info.short_names[0],
        )
