"""spawn_subagent and send_channel_message end to end onto the bus; the run deadline."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest

from k8sclaw_protocol import Backoff, EventBus, IpcLayout, events, ipc, names
from k8sclaw_sidecar import _watch
from k8sclaw_sidecar._settings import PodPaths
from k8sclaw_sidecar.agent import AgentRunner, Toolbox
from k8sclaw_sidecar.bridge import Bridge, BridgeSettings
from tests.harness.llm import ScriptedLLM, calls, text, tool
from tests.harness.nats_fixtures import NatsServer
from tests.sidecar.conftest import agent_settings

FAST = Backoff(initial=0.02, maximum=0.2)


async def _next_file(directory: Path) -> dict[str, object]:
    """The one file that appears in `directory` (watched, 10 s at most)."""
    stop = asyncio.Event()
    async with asyncio.timeout(10):
        async for batch in _watch.watch_files(directory, stop):
            if batch:
                stop.set()
    return _only_file(directory)


def _answer(layout: IpcLayout, request_id: str, response: str) -> None:
    """What the bridge writes from the controller's `agent.followup`."""
    result = {"requestId": request_id, "run": "child", "status": "success", "response": response}
    body = json.dumps({"subagentResult": result}).encode()
    ipc.write_atomic(layout.input / ipc.unique_name("followup"), body)


def _only_file(directory: Path) -> dict[str, object]:
    [path] = [p for p in directory.iterdir() if not ipc.is_ignored(p)]
    data: dict[str, object] = json.loads(path.read_text())
    return data


async def test_spawn_and_message_tools_write_files_the_bridge_publishes(
    pod: PodPaths, nats: NatsServer
) -> None:
    toolbox = Toolbox(agent_settings(pod, "openai", "http://unused", agent_id="researcher"))
    layout = IpcLayout(pod.ipc)
    layout.ensure()
    waiting = asyncio.create_task(
        toolbox.call(
            "spawn_subagent", {"task": "summarise", "systemPrompt": "be brief", "skills": ["k8s"]}
        )
    )
    request = await _next_file(layout.spawn)
    spawn = {
        "task": "summarise",
        "systemPrompt": "be brief",
        "agentId": "researcher",
        "requestId": request["requestId"],
    }
    assert request == {**spawn, "skills": ["k8s"]}
    _answer(layout, "someone-else", "not this one")  # another call's answer is ignored
    assert not waiting.done()
    _answer(layout, str(request["requestId"]), "the summary")
    out, err = await asyncio.wait_for(waiting, 10)
    assert not err and out.endswith("finished:\nthe summary"), out
    assert toolbox.spawns == 1
    out, err = await toolbox.call("send_channel_message", {"channel": "slack", "text": "hi"})
    assert not err and "slack" in out
    assert _only_file(layout.messages) == {"channel": "slack", "text": "hi"}

    bus = await EventBus.connect(nats.url, backoff=FAST, credentials=nats.creds_for("controller"))
    try:
        async with bus.subscribe("agent.spawn.>") as spawns, bus.subscribe("channel.>") as sends:
            bridge = Bridge(BridgeSettings(pod.ipc, "run-t", "alice", nats.url, "team-a"), bus)
            running = asyncio.create_task(bridge.run())
            spawned, sent = await spawns.next(10), await sends.next(10)
            bridge.stop.set()
            assert await asyncio.wait_for(running, 10) == 0
    finally:
        await bus.close()
    assert (spawned.topic, spawned.data) == (
        events.AGENT_SPAWN_REQUEST,
        {**spawn, "skills": ["k8s"]},
    )
    assert (sent.topic, sent.data) == (
        events.CHANNEL_MESSAGE_SEND,
        {"channel": "slack", "text": "hi"},
    )
    assert spawned.subject == "k8sclaw.agent.spawn.request.team-a.run-t"
    assert spawned.metadata == {
        "agentRunID": "run-t",
        "instanceName": "alice",
        "namespace": "team-a",
    }


@pytest.mark.parametrize(
    ("name", "args", "error"),
    [
        ("send_channel_message", {"channel": "irc", "text": "x"}, "unknown channel 'irc'"),
        ("send_channel_message", {"channel": "slack"}, "bad arguments"),
        ("spawn_subagent", {"task": ""}, "bad arguments"),
        ("spawn_subagent", {"__invalid__": "{"}, "not a JSON object"),
    ],
)
async def test_bad_tool_arguments_are_reported_and_write_nothing(
    pod: PodPaths, name: str, args: dict[str, object], error: str
) -> None:
    toolbox = Toolbox(agent_settings(pod, "openai", "http://unused"))
    IpcLayout(pod.ipc).ensure()
    out, is_error = await toolbox.call(name, args)
    assert is_error and error in out, out
    assert not any((pod.ipc / "spawn").iterdir()) and not any((pod.ipc / "messages").iterdir())
    assert toolbox.spawns == 0


def test_the_agent_offers_exactly_the_tools_the_policy_engine_gates(pod: PodPaths) -> None:
    """The runner's tool table uses the shared names, each with a handler: a tool the
    policy engine knows by another spelling could never be denied."""
    toolbox = Toolbox(agent_settings(pod, "openai", "http://unused"))
    assert toolbox.offered == list(names.TOOLS)
    assert [s["name"] for s in toolbox.schemas()] == list(names.TOOLS)
    assert all(callable(getattr(toolbox, f"_tool_{name}", None)) for name in names.TOOLS)


async def test_spawned_subagents_are_counted_in_the_metrics(
    llm: ScriptedLLM, pod: PodPaths
) -> None:
    llm.script(
        calls(tool("spawn_subagent", task="a"), tool("spawn_subagent", task="b")), text("ok")
    )
    settings = agent_settings(pod, "anthropic", llm.base_url("anthropic"), subagent_timeout=0.3)
    result = await AgentRunner(settings).run()
    assert result.status == "success", result.error
    assert (result.metrics.subagent_spawns, result.metrics.tool_calls) == (2, 2)
    assert len(list((pod.ipc / "spawn").glob("request-*.json"))) == 2
    # Nobody answered: each call told the model so after its (bounded) wait.
    assert json.dumps(llm.requests[1].body).count("no answer from the sub-agent") == 2


async def test_the_run_deadline_stops_a_model_that_keeps_streaming(
    llm: ScriptedLLM, pod: PodPaths
) -> None:
    hold = threading.Event()
    llm.script(text("thinking very slowly", hold=hold))
    settings = agent_settings(pod, "openai", llm.base_url("openai"), deadline_seconds=1.5)
    try:
        result = await AgentRunner(settings).run()
    finally:
        hold.set()  # the scripted model was still mid-answer when the runner gave up
    assert result.status == "error"
    assert result.error and "run deadline of 1.5s exceeded" in result.error
    assert len(llm.requests) == 1  # cut off inside the model's turn, not before it
    chunks = sorted((pod.ipc / "output").glob("stream-*.json"))
    assert [json.loads(p.read_text())["content"] for p in chunks] == ["thinking "]
