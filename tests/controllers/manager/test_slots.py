"""Concurrency slots right after a (re)start: counted from every run of the instance, not
only from those the watch has delivered so far."""

from __future__ import annotations

import pytest

from k8sclaw_controllers.manager import _agentrun, _kube
from k8sclaw_controllers.manager._context import Context
from k8sclaw_controllers.manager._state import State
from k8sclaw_protocol import AgentRun
from tests.controllers.manager import _harness
from tests.controllers.manager._harness import create, instance_body, run_body
from tests.harness.kube import KubeEnv


def _set_phase(kube: KubeEnv, name: str, phase: str) -> None:
    _harness.custom(kube).patch_namespaced_custom_object_status(
        _harness.GROUP,
        _harness.VERSION,
        kube.namespace,
        "agentruns",
        name,
        {"status": {"phase": phase}},
    )


async def _precheck_fresh(kube: KubeEnv, name: str) -> State:
    """`precheck` of run `name` in a just-started process: it has seen only that run.

    Returns the process's state after the check (the runs it listed, the slot taken)."""
    settings = _harness.settings_for(kube)
    kube_client = _kube.Kube.connect(_kube.load_configuration(settings.kubeconfig))
    try:
        ctx = Context(kube=kube_client, settings=settings, state=State())
        run = AgentRun.from_wire(
            await kube_client.get(_kube.claw(kube.namespace, "agentruns", name))
        )
        ctx.state.observe(run)
        await _agentrun.precheck(ctx, run)
    finally:
        await kube_client.close()
    return ctx.state


@pytest.fixture
def limited(kube: KubeEnv) -> KubeEnv:
    """Instance `alice` allowed one run at a time; run `old` exists, run `new` is Pending."""
    create(
        kube,
        "clawpolicies",
        {"metadata": {"name": "one"}, "spec": {"subagentPolicy": {"maxConcurrent": 1}}},
    )
    create(kube, "clawinstances", instance_body(policyRef="one"))
    create(kube, "agentruns", run_body("old"))
    create(kube, "agentruns", run_body("new"))
    create(kube, "agentruns", run_body("elsewhere", instance="bob"))
    _set_phase(kube, "elsewhere", "Running")  # another instance's run takes no slot of alice
    return kube


async def test_a_running_run_not_yet_seen_by_the_watch_holds_its_slot(limited: KubeEnv) -> None:
    _set_phase(limited, "old", "Running")
    with pytest.raises(_agentrun.QueuedError, match="the limit is 1"):
        await _precheck_fresh(limited, "new")


async def test_a_finished_run_not_yet_seen_frees_its_slot(limited: KubeEnv) -> None:
    _set_phase(limited, "old", "Succeeded")
    state = await _precheck_fresh(limited, "new")
    namespace = limited.namespace
    assert state.runs[(namespace, "old")].phase == "Succeeded"  # listed, though never watched
    assert state.runs[(namespace, "new")].holds_slot
    assert state.running(namespace, "alice") == 1
