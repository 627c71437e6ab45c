"""The pre-check parses an instance's cached body once, and again whenever a watch event
replaces that body (a changed policyRef must take effect for the next run)."""

from __future__ import annotations

import pytest

from k8sclaw_controllers.manager import _agentrun, _clawpolicy, _instance, _kube
from k8sclaw_controllers.manager._context import Context
from k8sclaw_controllers.manager._state import State
from k8sclaw_protocol import AgentRun
from tests.controllers.manager import _harness
from tests.controllers.manager._harness import instance_body, run_body
from tests.harness.kube import KubeEnv


async def test_a_replaced_instance_body_is_parsed_again(kube: KubeEnv) -> None:
    settings = _harness.settings_for(kube)
    client = _kube.Kube.connect(_kube.load_configuration(settings.kubeconfig))
    try:
        ctx = Context(kube=client, settings=settings, state=State())
        run = AgentRun.from_wire(
            {**run_body("r1"), "apiVersion": "k8sclaw.io/v1alpha1", "kind": "AgentRun"}
            | {"metadata": {"name": "r1", "namespace": kube.namespace}}
        )
        key = (kube.namespace, "alice")
        body = instance_body() | {"metadata": {"name": "alice", "namespace": kube.namespace}}
        ctx.state.instances[key] = body
        first = await _agentrun._get_instance(ctx, run)
        assert await _agentrun._get_instance(ctx, run) is first  # parsed once
        ctx.state.instances[key] = {**body, "spec": {**body["spec"], "policyRef": "gone"}}
        with pytest.raises(_agentrun.PrecheckError, match="ClawPolicy 'gone'"):
            await _agentrun.precheck(ctx, run)
    finally:
        await client.close()


async def test_a_deleted_instance_or_policy_leaves_no_parsed_model(kube: KubeEnv) -> None:
    settings = _harness.settings_for(kube)
    client = _kube.Kube.connect(_kube.load_configuration(settings.kubeconfig))
    try:
        ctx = Context(kube=client, settings=settings, state=State())
        ns = kube.namespace
        meta = {"metadata": {"name": "alice", "namespace": ns}}
        instance = instance_body(policyRef="strict") | meta
        policy = {"metadata": {"name": "strict", "namespace": ns}, "spec": {}}
        ctx.state.instances[(ns, "alice")] = instance
        ctx.state.policies[(ns, "strict")] = policy
        run = AgentRun.from_wire(
            {**run_body("r1"), "apiVersion": "k8sclaw.io/v1alpha1", "kind": "AgentRun"}
            | {"metadata": {"name": "r1", "namespace": ns}}
        )
        await _agentrun.precheck(ctx, run)
        assert set(ctx.state.parsed) == {
            ("ClawInstance", ns, "alice"),
            ("ClawPolicy", ns, "strict"),
        }
        await _clawpolicy.reconcile(ctx, policy, "DELETED")
        await _instance.reconcile(ctx, instance, "DELETED")
        assert ctx.state.parsed == {}
    finally:
        await client.close()
