"""The bridge's half of approvals: requests out, decisions in only for ids the run asked,
and gated tool files without an approval quarantined (defense in depth)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from k8sclaw_protocol import (
    AgentResult,
    ApprovalDecision,
    ApprovalRequest,
    Event,
    ExecRequest,
    SpawnRequest,
    busauth,
    events,
    ipc,
)
from k8sclaw_sidecar.bridge import ToolGate
from tests.harness.nats_fixtures import NatsServer
from tests.sidecar.test_bridge import SCOPE, bridge_on, next_on, wait_for_files

GATED = ToolGate(
    frozenset({"execute_command", "spawn_subagent"}),
    frozenset({"execute_command", "spawn_subagent"}),
)


def _gate() -> ToolGate:
    return ToolGate(GATED.allowed, GATED.ask)


def _decision(approval_id: str, decision: str = "approve") -> Event:
    body = ApprovalDecision.model_validate(
        {"id": approval_id, "decision": decision, "decidedBy": "alice", "via": "kubernetes"}
    )
    return Event.new(events.TOOL_APPROVAL_RESPONSE, body.model_dump(by_alias=True))


async def test_requests_go_out_and_only_asked_decisions_come_back(
    tmp_path: Path, nats: NatsServer
) -> None:
    async with bridge_on(tmp_path, nats, _gate()) as r:
        async with r.bus.subscribe(events.scoped_filter(events.TOOL_APPROVAL_REQUEST)) as sub:
            ask = ApprovalRequest(id="a1", tool="execute_command", summary='{"command": "ls"}')
            ipc.write_atomic(r.layout.approval_request("a1"), ask)
            got = await next_on(sub)
        assert got.subject == "k8sclaw.tool.approval.request.team-a.run-b"
        assert (got.data["id"], got.data["tool"]) == ("a1", "execute_command")
        await r.bus.publish(_decision("zz9"), scope=SCOPE)  # never asked: dropped
        await r.bus.publish(_decision("a1", "deny"), scope=SCOPE)
        await r.bus.publish(_decision("a1"), scope=SCOPE)  # second answer: dropped
        [path] = await wait_for_files(r.layout.approvals, "decision-")
        assert path.name == "decision-a1.json"
        assert json.loads(path.read_text())["decision"] == "deny"
        # The drop of zz9 came first on the stream; nothing else may appear afterwards.
        assert sorted(p.name for p in r.layout.approvals.glob("decision-*")) == [path.name]
        assert r.bridge.gate.approved["execute_command"] == 0
        ipc.write_atomic(r.layout.result, AgentResult(status="success", response="ok"))
        assert await asyncio.wait_for(r.task, 20) == 0


async def test_a_gated_request_without_an_approval_is_quarantined(
    tmp_path: Path, nats: NatsServer
) -> None:
    async with bridge_on(tmp_path, nats, _gate()) as r, r.bus.subscribe(">") as sub:
        ipc.write_atomic(r.layout.exec_request("x1"), ExecRequest(id="x1", command="id"))
        ipc.write_atomic(r.layout.spawn / "request-1.json", SpawnRequest(task="unasked"))
        ask = ApprovalRequest(id="s1", tool="spawn_subagent", summary="{}")
        ipc.write_atomic(r.layout.approval_request("s1"), ask)
        assert (await next_on(sub)).topic == events.TOOL_APPROVAL_REQUEST
        await r.bus.publish(_decision("s1"), scope=SCOPE)
        assert (await next_on(sub)).topic == events.TOOL_APPROVAL_RESPONSE
        await wait_for_files(r.layout.approvals, "decision-s1")
        ipc.write_atomic(r.layout.spawn / "request-2.json", SpawnRequest(task="approved"))
        got = await next_on(sub)
        assert (got.topic, got.data["task"]) == (events.AGENT_SPAWN_REQUEST, "approved")
        ipc.write_atomic(r.layout.spawn / "request-3.json", SpawnRequest(task="second"))
        ipc.write_atomic(r.layout.result, AgentResult(status="success", response="ok"))
        assert (await next_on(sub)).topic == events.AGENT_RUN_COMPLETED
        assert await asyncio.wait_for(r.task, 20) == 0
    moved = sorted(p.name.split("-", 1)[1] for p in r.layout.errors.glob("*.json"))
    assert moved == [
        "spawn-request-1.json",
        "spawn-request-3.json",  # one approval lets exactly one call through
        "tools-exec-request-x1.json",
    ]
    reasons = " ".join(p.read_text() for p in r.layout.errors.glob("*.reason"))
    assert "needs a person's approval" in reasons


async def test_an_approval_request_for_an_ungated_tool_is_quarantined(
    tmp_path: Path, nats: NatsServer
) -> None:
    gate = ToolGate(frozenset({"read_file", "execute_command"}), frozenset({"execute_command"}))
    async with bridge_on(tmp_path, nats, gate) as r, r.bus.subscribe(">") as sub:
        ask = ApprovalRequest(id="r1", tool="read_file", summary="{}")
        ipc.write_atomic(r.layout.approval_request("r1"), ask)
        ipc.write_atomic(r.layout.result, AgentResult(status="success", response="ok"))
        assert (await next_on(sub)).topic == events.AGENT_RUN_COMPLETED
        assert await asyncio.wait_for(r.task, 20) == 0
    assert [p.name.split("-", 1)[1] for p in r.layout.errors.glob("*.json")] == [
        "approvals-request-r1.json"
    ]


def test_a_run_may_consume_its_own_approval_responses_and_no_others() -> None:
    perms = busauth.run_permissions("team-a", "run-b", "uid-1")
    mine = events.scoped_subject(events.TOOL_APPROVAL_RESPONSE, "team-a", "run-b")
    creates = [s for s in perms.publish if ".CONSUMER.CREATE." in s and "approval" in s]
    assert len(creates) == 1 and creates[0].endswith("." + mine)
    assert not any(s.startswith("k8sclaw.tool.approval.response") for s in perms.publish)
    assert all(not s.startswith("k8sclaw.") for s in perms.subscribe)
