"""The TUI shows a run's sub-agents in its describe and an instance's memory in its."""

from __future__ import annotations

from k8sclaw.kube import ClusterTarget, Kube
from k8sclaw.tui import K8sClawApp
from k8sclaw.tui._describe import sub_agents
from k8sclaw.tui._screens import TextScreen
from k8sclaw_protocol import AgentRun, ParentRef, build_run, names
from tests.harness.kube import KubeEnv
from tests.tui import _seed
from tests.tui.test_cluster import names_shown, until


def _child(parent: AgentRun, name: str, phase: str) -> AgentRun:
    inst = _seed.instance("alpha", parent.namespace)
    ref = ParentRef(run_name=parent.name, session_key="s", spawn_depth=1)
    wire = build_run(inst, "sub task", source="subagent", name=name, parent=ref).to_wire()
    wire["status"] = {"phase": phase}
    return AgentRun.from_wire(wire)


def test_a_runs_describe_lists_its_sub_agents_with_phases() -> None:
    inst = _seed.instance("alpha")
    parent = _seed.run(inst, "boss", "delegate", phase="Running")
    other = _seed.run(inst, "other", "alone", phase="Succeeded")
    children = [_child(parent, "boss-sub-1", "Succeeded"), _child(parent, "boss-sub-2", "Failed")]
    assert sub_agents(parent, [parent, other, *children]) == [
        "Sub-agents:",
        "  boss           Running",
        "  └─ boss-sub-1  Succeeded",
        "  └─ boss-sub-2  Failed",
    ]
    assert sub_agents(other, [parent, other, *children]) == []


async def test_an_instances_describe_shows_its_memory(kube: KubeEnv) -> None:
    api = Kube.connect(ClusterTarget(kubeconfig=str(kube.kubeconfig)))
    ns = kube.namespace
    api.create(_seed.instance("alpha", ns))
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "alpha-memory", "namespace": ns},
        "data": {names.MEMORY_KEY: "# Memory\n\n- the user is Ada\x1b[2J\n"},
    }
    api.request("POST", f"/api/v1/namespaces/{ns}/configmaps", what="configmaps", body=body)
    app = K8sClawApp(api, namespace=ns)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: names_shown(app) == ["alpha"], "seeded instance")
        await pilot.press("d")
        described = app.screen
        assert isinstance(described, TextScreen)
        await until(pilot, lambda: "Memory:" in described.lines, "the Memory section")
        await until(pilot, lambda: "Events:" in " ".join(described.lines), "the Events section")
        assert "  - the user is Ada" in [line.rstrip() for line in described.lines]
        assert not any("\x1b" in line for line in described.lines)
