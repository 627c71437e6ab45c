"""The pure renderers: columns, wide columns, ages, masking — no cluster needed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from k8sclaw.render import MASK, RENDERERS, age, duration_ms, mask, renderer_for
from k8sclaw_protocol import KINDS, AgentRun, ClawInstance, ClawPolicy, SkillPack

SAMPLES = Path(__file__).resolve().parents[2] / "k8sclaw" / "manifests" / "samples"
NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)


def _sample(kind: type, created: datetime = NOW - timedelta(minutes=5)):  # type: ignore[no-untyped-def]
    body = yaml.safe_load((SAMPLES / f"{kind.info.singular}.yaml").read_text())
    body["metadata"]["creationTimestamp"] = created.isoformat()
    return kind.from_wire(body)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "0s"),
        (59, "59s"),
        (60, "1m"),
        (3599, "59m"),
        (3600, "1h"),
        (86399, "23h"),
        (172800, "2d"),
    ],
)
def test_age_is_compact(seconds: int, expected: str) -> None:
    assert age(NOW - timedelta(seconds=seconds), NOW) == expected


def test_age_unknown_and_future() -> None:
    assert age(None, NOW) == "-"
    assert age(NOW + timedelta(hours=1), NOW) == "0s"


@pytest.mark.parametrize(
    ("ms", "expected"), [(0, "-"), (850, "850ms"), (12300, "12.3s"), (245000, "4m5s")]
)
def test_duration(ms: int, expected: str) -> None:
    assert duration_ms(ms) == expected


def test_every_kind_has_a_renderer_and_samples_render() -> None:
    assert set(RENDERERS) == set(KINDS)
    for kind in KINDS:
        renderer = renderer_for(kind)
        obj = _sample(kind)
        narrow, wide = renderer.row(obj, wide=False, now=NOW), renderer.row(obj, wide=True, now=NOW)
        assert len(narrow) == len(renderer.headers(wide=False)) < len(wide)
        assert narrow[0] == obj.name and narrow[-1] == "5m"


def test_run_row_shows_pending_tokens_and_truncated_task() -> None:
    run = _sample(AgentRun)
    row = dict(
        zip(
            renderer_for(AgentRun).headers(wide=True),
            renderer_for(AgentRun).row(run, wide=True, now=NOW),
            strict=True,
        )
    )
    assert row["PHASE"] == "Pending" and row["TOKENS"] == "-" and row["POD"] == "-"
    run.spec.task = "x" * 200
    row = dict(
        zip(
            renderer_for(AgentRun).headers(wide=True),
            renderer_for(AgentRun).row(run, wide=True, now=NOW),
            strict=True,
        )
    )
    assert row["TASK"].endswith("…") and len(row["TASK"]) == 48


def test_instance_policy_and_skillpack_cells() -> None:
    inst = _sample(ClawInstance)
    cells = dict(
        zip(
            renderer_for(ClawInstance).headers(wide=True),
            renderer_for(ClawInstance).row(inst, wide=True, now=NOW),
            strict=True,
        )
    )
    assert cells["CHANNELS"] == ",".join(c.type for c in inst.spec.channels) or "-"
    policy = _sample(ClawPolicy)
    cells = dict(
        zip(
            renderer_for(ClawPolicy).headers(wide=False),
            renderer_for(ClawPolicy).row(policy, wide=False, now=NOW),
            strict=True,
        )
    )
    assert cells["FEATURES"] == "code-execution,file-access,sub-agents"
    assert cells["TOOLS"] == "allow +3 rules"
    pack = _sample(SkillPack)
    assert renderer_for(SkillPack).row(pack, wide=False, now=NOW)[1] == "2"


def test_mask_never_leaks_length() -> None:
    assert mask("sk-123") == mask("a-much-longer-secret-value") == MASK
    assert mask("") == "-"


def test_features_list_names_the_tools_the_controllers_gate() -> None:
    from k8sclaw.cli._features import GATES
    from k8sclaw_controllers.policy import GATE_TOOLS
    from k8sclaw_protocol import FEATURE_GATES, names

    assert set(GATES) == set(FEATURE_GATES) == set(GATE_TOOLS)
    for gate, (_, tools) in GATES.items():
        browser = gate == "browser-automation"  # its tools are a prefix, not names
        expected = (f"{names.TOOL_BROWSER_PREFIX}*",) if browser else GATE_TOOLS[gate]
        assert tools == expected, gate


def test_policy_tools_say_needs_approval_for_ask_and_name_what_decided() -> None:
    from k8sclaw.render import policy_tools, tool_section

    policy = ClawPolicy.from_wire(
        {
            "apiVersion": "k8sclaw.io/v1alpha1",
            "kind": "ClawPolicy",
            "metadata": {"name": "p", "namespace": "default"},
            "spec": {
                "toolGating": {
                    "defaultAction": "ask",
                    "rules": [
                        {"tool": "read_file", "action": "allow"},
                        {"tool": "browser_click", "action": "deny"},
                    ],
                },
                "featureGates": {"network-access": False},
            },
        }
    )
    shown = {tool: (what, why) for tool, what, why in policy_tools(policy)}
    assert shown["update_memory"] == ("needs approval", "toolGating.defaultAction")
    assert shown["read_file"] == ("allowed", "toolGating.rules[read_file]")
    assert shown["browser_click"] == ("denied", "toolGating.rules[browser_click]")
    assert shown["fetch_url"] == ("denied", "featureGates.network-access")
    section = tool_section(policy)
    assert section[0] == "Tools:" and len(section) == len(shown) + 1
    assert all(" ask " not in line for line in section)
