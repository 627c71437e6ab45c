"""Approvals through the real controller: process kubelet (agent + bridge as processes),
real NATS with the shipped authorization, scripted LLM.

An ask-gated call shows in `status.pendingApprovals` with an Event; a decision made with
the `k8sclaw.io/approval-decision` annotation (stamped as the webhook stamps it) reaches
the waiting call, leaves status, and is recorded as an Event naming who decided.
"""

from __future__ import annotations

import json
from typing import Any

import kubernetes
import pytest

from k8sclaw_controllers.manager._approvals import parse_annotation, publish
from k8sclaw_protocol import ApprovalDecision, EventBus, names
from tests.controllers.manager import _harness
from tests.controllers.manager._harness import GROUP, VERSION, create, phase, run_body, wait_run
from tests.controllers.manager.test_end_to_end import setup_instance, terminal
from tests.harness.kube import KubeEnv
from tests.harness.llm import ScriptedLLM, calls, text, tool

pytestmark = pytest.mark.slow


def _pending(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return list((obj.get("status") or {}).get("pendingApprovals") or [])


def _annotate(kube: KubeEnv, run: str, value: dict[str, Any]) -> None:
    patch = {"metadata": {"annotations": {names.ANNOTATION_APPROVAL_DECISION: json.dumps(value)}}}
    _harness.custom(kube).patch_namespaced_custom_object(
        GROUP, VERSION, kube.namespace, "agentruns", run, patch
    )


async def _event(kube: KubeEnv, reason: str) -> Any:
    core = kubernetes.client.CoreV1Api(kube.api_client)
    return await _harness.wait_for(
        core.list_namespaced_event, lambda e: e.reason == reason, 30, namespace=kube.namespace
    )


def _tool_result(llm: ScriptedLLM) -> str:
    messages = llm.requests[-1].body["messages"]
    return str(next(m["content"] for m in messages if m.get("role") == "tool"))


async def test_an_annotated_approval_reaches_the_waiting_call(
    kube: KubeEnv, kubelet: Any, llm: ScriptedLLM, nats: Any
) -> None:
    model = setup_instance(kube, llm)
    llm.script(calls(tool("write_file", path="a.txt", content="approved!")), text("done"))
    spec = {"model": model, "toolPolicy": {"ask": ["write_file"]}}
    async with _harness.running(_harness.settings_for(kube, **nats.controller_settings())):
        create(kube, "agentruns", run_body("gated", **spec))
        waiting = await wait_run(kube, "gated", lambda o: bool(_pending(o)), within=120)
        [pending] = _pending(waiting)
        assert pending["tool"] == "write_file" and "approved!" in pending["summary"]
        asked = await _event(kube, "ApprovalRequested")
        assert asked.involved_object.name == "gated"
        _annotate(kube, "gated", {"id": "zzzz", "decision": "approve", "decidedBy": "bob"})
        refused = await _event(kube, "ApprovalRefused")
        assert "not pending" in refused.message
        stamped = {"id": pending["id"], "decision": "approve", "decidedBy": "alice"}
        _annotate(kube, "gated", stamped)
        done = await wait_run(kube, "gated", terminal, within=120)
        decided = await _event(kube, "ApprovalDecided")
    assert phase(done) == "Succeeded", done["status"]
    assert not _pending(done)
    assert names.ANNOTATION_APPROVAL_DECISION not in (done["metadata"].get("annotations") or {})
    assert "alice approved write_file" in decided.message and "via kubernetes" in decided.message
    assert "Error" not in _tool_result(llm)


async def test_an_unanswered_call_expires_into_status_events_and_the_model(
    kube: KubeEnv, kubelet: Any, llm: ScriptedLLM, nats: Any
) -> None:
    """At the timeout the controller refuses the call (`via: timeout`): it leaves status,
    an ApprovalExpired Event says so, and the model is told nobody answered in time."""
    model = setup_instance(kube, llm)
    llm.script(  # the second call keeps the run alive while the first one's Event is read
        calls(tool("write_file", path="a.txt", content="first")),
        calls(tool("write_file", path="b.txt", content="second")),
        text("done"),
    )
    policy = {"ask": ["write_file"], "approvalTimeoutSeconds": 1}
    spec = {"model": model, "toolPolicy": policy}
    async with _harness.running(_harness.settings_for(kube, **nats.controller_settings())):
        create(kube, "agentruns", run_body("slow", **spec))
        expired = await _event(kube, "ApprovalExpired")
        assert "write_file" in expired.message and "within 1s" in expired.message
        done = await wait_run(kube, "slow", terminal, within=120)
    assert phase(done) == "Succeeded", done["status"]
    first_result = [
        m["content"] for m in llm.requests[1].body["messages"] if m.get("role") == "tool"
    ]
    assert "nobody approved the call within 1s" in first_result[-1]


def test_an_unstamped_or_malformed_annotation_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="must be JSON"):
        parse_annotation("approve a1")
    with pytest.raises(ValueError, match="decision"):
        parse_annotation('{"id": "a1", "decision": "maybe"}')
    assert parse_annotation('{"id": "a1", "decision": "deny"}').decided_by == ""


async def test_a_restarted_controller_still_expires_a_pending_call(
    kube: KubeEnv, kubelet: Any, llm: ScriptedLLM, nats: Any
) -> None:
    """The refusal timer lives in the controller; one restarted while a call waits re-arms
    it from `expiresAt`, so the call still ends as `via: timeout` with its Event."""
    model = setup_instance(kube, llm)
    llm.script(calls(tool("write_file", path="a.txt", content="x")), text("done"))
    policy = {"ask": ["write_file"], "approvalTimeoutSeconds": 4}
    settings = _harness.settings_for(kube, **nats.controller_settings())
    async with _harness.running(settings):
        create(kube, "agentruns", run_body("restarted", model=model, toolPolicy=policy))
        waiting = await wait_run(kube, "restarted", lambda o: bool(_pending(o)), within=120)
    [pending] = _pending(waiting)
    assert pending["expiresAt"] > pending["requestedAt"]
    async with _harness.running(settings):
        expired = await _event(kube, "ApprovalExpired")
        done = await wait_run(kube, "restarted", terminal, within=120)
    assert pending["id"] in expired.message and "within 4s" in expired.message
    assert phase(done) == "Succeeded", done["status"]
    assert "refused (nobody approved the call within 4s)" in _tool_result(llm)


async def test_a_decision_handled_after_the_run_finished_is_still_recorded(
    kube: KubeEnv, nats: Any
) -> None:
    """The decision and the run's completion arrive on separate consumers, and the agent
    goes on (and may finish) as soon as its bridge has the answer. When the completion is
    handled first, the decision must still leave status and land as an Event: it did
    neither, and the chat e2e test lost its `ApprovalDecided` Event under load."""
    create(kube, "agentruns", run_body("finished"))
    pending = {"id": "a1", "tool": "execute_command", "summary": "echo hi"}
    status = {"phase": "Succeeded", "pendingApprovals": [pending]}
    _harness.custom(kube).patch_namespaced_custom_object_status(
        GROUP, VERSION, kube.namespace, "agentruns", "finished", {"status": status}
    )
    decision = ApprovalDecision(
        id="a1", decision="deny", decided_by="slack:U1", via="channel:slack"
    )
    async with _harness.running(_harness.settings_for(kube, **nats.controller_settings())):
        bus = await EventBus.connect(nats.url, credentials=nats.creds_for("controller"))
        try:
            await publish(bus, kube.namespace, "finished", decision)
            decided = await _event(kube, "ApprovalDecided")
            done = await wait_run(kube, "finished", lambda o: not _pending(o))
        finally:
            await bus.close()
    assert "slack:U1 denied execute_command (approval a1: echo hi) via channel:slack" in (
        decided.message
    )
    assert phase(done) == "Succeeded"
