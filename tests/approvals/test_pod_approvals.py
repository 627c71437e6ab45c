"""Agent + IPC bridge + sandbox as processes on real NATS with a scripted LLM: an
`ask`-gated `execute_command` pauses until a decision arrives on the bus."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from k8sclaw_protocol import ApprovalDecision, Event, EventBus, ipc
from k8sclaw_protocol import events as ev
from k8sclaw_sidecar._settings import PodPaths
from tests.harness.llm import ScriptedLLM, calls, text, tool
from tests.harness.nats_fixtures import NatsServer
from tests.sidecar.conftest import make_pod
from tests.sidecar.test_pod_processes import FAST, Pod, _env

NS, RUN = "team-a", "run-e2e"
Outcome = tuple[Event, str]
"""The approval request the controller saw and the agent's stdout."""


@pytest.fixture
def pod(tmp_path: Path) -> PodPaths:
    return make_pod(tmp_path)


@pytest.fixture
def gated(pod: PodPaths, nats: NatsServer, llm: ScriptedLLM) -> Iterator[Pod]:
    env = _env(pod, nats, llm)
    env.update(TOOLS_ASK="execute_command", K8SCLAW_APPROVAL_TIMEOUT_SECONDS="60")
    procs = Pod(env)
    try:
        yield procs
    finally:
        procs.kill_all()


def _script(llm: ScriptedLLM) -> None:
    llm.script(
        calls(tool("execute_command", command="echo gated-output")),
        text("finished"),
    )


async def _start(pod_procs: Pod) -> None:
    for name, script in [
        ("ipc-bridge", "k8sclaw-ipc-bridge"),
        ("sandbox", "k8sclaw-sandbox"),
        ("agent", "k8sclaw-agent"),
    ]:
        pod_procs.start(name, script)


async def _asked(bus: EventBus) -> Event:
    """The run's approval request, as the controller receives it."""
    async with bus.subscribe(ev.scoped_filter(ev.TOOL_APPROVAL_REQUEST), deliver="all") as sub:
        return await sub.next(60)


async def _decide(bus: EventBus, approval_id: str, decision: str, reason: str = "") -> None:
    body = ApprovalDecision.model_validate(
        {"id": approval_id, "decision": decision, "decidedBy": "alice", "via": "kubernetes"}
        | ({"reason": reason} if reason else {})
    )
    event = Event.new(ev.TOOL_APPROVAL_RESPONSE, body.model_dump(by_alias=True, exclude_none=True))
    await bus.publish(event, scope=(NS, RUN))


def _tool_result_seen_by_model(llm: ScriptedLLM) -> str:
    """The tool message the model got in its second request."""
    messages = llm.requests[-1].body["messages"]
    return next(m["content"] for m in messages if m.get("role") == "tool")


async def _finish(pod_procs: Pod) -> dict[str, tuple[int, str, str]]:
    names = ("agent", "ipc-bridge", "sandbox")
    return {n: await asyncio.to_thread(pod_procs.wait, n) for n in names}


async def _bus(nats: NatsServer) -> EventBus:
    return await EventBus.connect(nats.url, backoff=FAST, credentials=nats.creds_for("controller"))


async def _run_gated(
    gated: Pod, nats: NatsServer, decide: Callable[[EventBus, Event], Awaitable[None]]
) -> Outcome:
    """Start the pod, wait for its approval request, `decide` it, then wait for every
    process to exit (all three must exit 0); the request and the agent's output."""
    bus = await _bus(nats)
    try:
        await _start(gated)
        asked = await _asked(bus)
        await decide(bus, asked)
        codes = await _finish(gated)
    finally:
        await bus.close()
    assert {n: c[0] for n, c in codes.items()} == {"agent": 0, "ipc-bridge": 0, "sandbox": 0}
    return asked, codes["agent"][1]


async def test_approve_runs_the_command_and_the_model_gets_its_output(
    gated: Pod, nats: NatsServer, llm: ScriptedLLM, pod: PodPaths
) -> None:
    _script(llm)

    async def approve(bus: EventBus, asked: Event) -> None:
        assert not list(pod.sandbox_ipc.glob("tools/exec-request-*"))  # paused, not run
        await _decide(bus, asked.data["id"], "approve")

    asked, output = await _run_gated(gated, nats, approve)
    assert asked.subject == f"k8sclaw.tool.approval.request.{NS}.{RUN}"
    assert asked.data["tool"] == "execute_command"
    assert json.loads(asked.data["summary"]) == {"command": "echo gated-output"}
    assert "gated-output" in _tool_result_seen_by_model(llm)
    result = ipc.parse_result_line(output)
    assert result is not None and result.response == "finished"


async def test_deny_is_reported_to_the_model_and_nothing_runs(
    gated: Pod, nats: NatsServer, llm: ScriptedLLM, pod: PodPaths
) -> None:
    _script(llm)

    async def deny(bus: EventBus, asked: Event) -> None:
        await _decide(bus, asked.data["id"], "deny", reason="not on prod")

    await _run_gated(gated, nats, deny)
    told = _tool_result_seen_by_model(llm)
    assert "refused" in told and "denied by alice via kubernetes: not on prod" in told
    assert "gated-output" not in told
    assert not list(pod.sandbox_ipc.glob("tools/exec-request-*"))


async def test_no_answer_in_time_is_a_refusal(
    gated: Pod, nats: NatsServer, llm: ScriptedLLM, pod: PodPaths
) -> None:
    _script(llm)
    gated.env["K8SCLAW_APPROVAL_TIMEOUT_SECONDS"] = "1"

    async def wait(bus: EventBus, asked: Event) -> None:
        return None

    await _run_gated(gated, nats, wait)
    assert "nobody approved the call within 1s" in _tool_result_seen_by_model(llm)
    assert not list(pod.sandbox_ipc.glob("tools/exec-request-*"))


async def test_the_model_sees_the_gated_tool(
    gated: Pod, nats: NatsServer, llm: ScriptedLLM
) -> None:
    """`ask` no longer withholds the tool: it is offered (and advertised) to the model."""
    llm.script(text("nothing to do"))
    await (await _bus(nats)).close()  # the stream exists, as the controller makes it
    await _start(gated)
    codes = await _finish(gated)
    assert {n: c[0] for n, c in codes.items()} == {"agent": 0, "ipc-bridge": 0, "sandbox": 0}
    assert "execute_command" in llm.requests[0].tool_names
    system = json.dumps(llm.requests[0].body["messages"][0])
    assert "execute_command waits for a person's approval" in system
