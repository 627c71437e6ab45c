"""The bridge against hostile `/ipc` entries: special files, symlinks, oversized and
non-UTF-8 files never stop it, and every valid result goes out exactly once (issue #13
items 6 and the fuzz acceptance)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from k8sclaw_protocol import (
    AgentResult,
    ExecRequest,
    OutboundMessage,
    SpawnRequest,
    events,
    ipc,
)
from k8sclaw_sidecar.bridge import ToolGate
from tests.harness.nats_fixtures import NatsServer
from tests.sidecar.test_bridge import bridge_on, control_bus, next_on


async def test_special_files_are_quarantined_and_the_result_still_goes_out(
    tmp_path: Path, nats: NatsServer
) -> None:
    bus = await control_bus(nats)
    try:
        async with bus.subscribe("agent.>") as sub, bridge_on(tmp_path, nats) as r:
            os.symlink("/proc/self/mem", r.layout.output / "stream-0.json")
            os.mkfifo(r.layout.output / "stream-1.json")
            os.symlink("/proc/self/environ", r.layout.messages / "send-1.json")
            (r.layout.output / "stream-2.json").write_bytes(b"\xff" * (ipc.MAX_FILE_BYTES + 1))
            ipc.write_atomic(r.layout.result, AgentResult(status="success", response="ok"))
            got = await next_on(sub)
            assert (got.topic, got.data["response"]) == (events.AGENT_RUN_COMPLETED, "ok")
            assert await asyncio.wait_for(r.task, 20) == 0
        moved = sorted(p.name.split("-", 1)[1] for p in r.layout.errors.glob("*.json"))
        assert moved == [
            "messages-send-1.json",
            "output-stream-0.json",
            "output-stream-1.json",
            "output-stream-2.json",
        ]
        assert os.readlink(next(r.layout.errors.glob("*-stream-0.json"))) == "/proc/self/mem"
    finally:
        await bus.close()


async def test_files_for_tools_the_run_may_not_use_are_quarantined(
    tmp_path: Path, nats: NatsServer
) -> None:
    """#13 item 3: the bridge enforces the run's tool policy on what it publishes."""
    gate = ToolGate(frozenset({"read_file", "send_channel_message"}))
    bus = await control_bus(nats)
    try:
        async with bus.subscribe(">") as sub, bridge_on(tmp_path, nats, gate) as r:
            ipc.write_atomic(r.layout.spawn / "request-1.json", SpawnRequest(task="escalate"))
            ipc.write_atomic(r.layout.exec_request("x1"), ExecRequest(id="x1", command="id"))
            msg = OutboundMessage(channel="telegram", text="allowed")
            ipc.write_atomic(r.layout.messages / "send-1.json", msg)
            got = await next_on(sub)
            assert (got.topic, got.data["text"]) == (events.CHANNEL_MESSAGE_SEND, "allowed")
            ipc.write_atomic(r.layout.result, AgentResult(status="success", response="ok"))
            assert (await next_on(sub)).topic == events.AGENT_RUN_COMPLETED
            assert await asyncio.wait_for(r.task, 20) == 0
        moved = sorted(p.name.split("-", 1)[1] for p in r.layout.errors.glob("*.json"))
        assert moved == ["spawn-request-1.json", "tools-exec-request-x1.json"]
        reasons = " ".join(p.read_text() for p in r.layout.errors.glob("*.reason"))
        assert "spawn_subagent" in reasons and "execute_command" in reasons
    finally:
        await bus.close()


def test_the_gate_reads_the_policy_as_the_agent_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLS_ALLOW", "execute_command,spawn_subagent")
    monkeypatch.setenv("TOOLS_DENY", "spawn_subagent")
    gate = ToolGate.from_env()
    assert gate.permits(events.TOOL_EXEC_REQUEST)
    assert not gate.permits(events.AGENT_SPAWN_REQUEST)
    assert not gate.permits(events.CHANNEL_MESSAGE_SEND)
    assert gate.permits(events.AGENT_RUN_COMPLETED)  # not tool-backed: always
