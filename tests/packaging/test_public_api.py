"""The protocol's public door is pinned: changing it is a deliberate act."""

from __future__ import annotations

import k8sclaw_protocol


def test_all_is_sorted_and_complete() -> None:
    exported = k8sclaw_protocol.__all__
    assert exported == sorted(exported)
    for name in exported:
        assert hasattr(k8sclaw_protocol, name), name


def test_kinds_are_the_five_resources() -> None:
    assert [k.info.kind for k in k8sclaw_protocol.KINDS] == [
        "ClawPolicy",
        "SkillPack",
        "ClawInstance",
        "AgentRun",
        "ClawSchedule",
    ]
    assert k8sclaw_protocol.kind_for("ar") is k8sclaw_protocol.AgentRun
    assert k8sclaw_protocol.kind_for("ClawPolicies") is k8sclaw_protocol.ClawPolicy


def test_bus_client_is_loaded_only_when_used() -> None:
    """Importing the protocol must not pay for nats-py (every CLI command imports it)."""
    import subprocess
    import sys

    code = (
        "import sys, k8sclaw_protocol\n"
        "print('nats' in sys.modules)\n"
        "k8sclaw_protocol.EventBus\n"
        "print('nats' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
