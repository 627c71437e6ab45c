"""The IPC bridge in-process against real NATS: both directions, dedupe, done without result."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from k8sclaw_protocol import (
    AgentResult,
    Backoff,
    Event,
    EventBus,
    ExecResult,
    IpcLayout,
    StreamChunk,
    Subscription,
    busauth,
    events,
    ipc,
)
from k8sclaw_sidecar import _watch
from k8sclaw_sidecar.bridge import (
    EXIT_BUS_UNAVAILABLE,
    EXIT_NO_RESULT,
    Bridge,
    BridgeSettings,
    SettingsError,
    ToolGate,
    run_bridge,
)
from tests.harness.nats_fixtures import NatsServer, free_port

FAST = Backoff(initial=0.02, maximum=0.2)
RUN = "run-b"
NS = "team-a"
UID = "uid-b"
SCOPE = (NS, RUN)


def settings_for(root: Path, nats: NatsServer, **kw: Any) -> BridgeSettings:
    """The bridge's settings as its pod would have them: its own run-scoped credentials."""
    creds = nats.run_creds(NS, RUN, UID)
    return BridgeSettings(root, RUN, "alice", nats.url, NS, creds, UID, **kw)


async def control_bus(nats: NatsServer) -> EventBus:
    """The test's side of the bus, as the controller (it also creates the stream)."""
    return await EventBus.connect(nats.url, backoff=FAST, credentials=nats.creds_for("controller"))


async def bridge_bus(settings: BridgeSettings) -> EventBus:
    """The bridge's connection, made the way `run_bridge` makes it."""
    return await EventBus.connect(
        settings.bus_url,
        backoff=FAST,
        credentials=settings.creds,
        inbox_prefix=busauth.scoped_inbox("run", NS, RUN),
        manage_stream=False,
    )


@dataclass
class Running:
    bridge: Bridge
    task: asyncio.Task[int]
    layout: IpcLayout
    bus: EventBus


@asynccontextmanager
async def bridge_on(
    root: Path, nats: NatsServer, gate: ToolGate | None = None
) -> AsyncIterator[Running]:
    bus = await control_bus(nats)
    settings = settings_for(root, nats)
    own = await bridge_bus(settings)
    bridge = Bridge(settings, own, gate)
    bridge.layout.ensure()
    task = asyncio.create_task(bridge.run())
    try:
        yield Running(bridge, task, IpcLayout(root), bus)
    finally:
        bridge.stop.set()
        await asyncio.wait_for(task, 10)
        await own.close()
        await bus.close()


def _matching(directory: Path, match: str) -> list[Path]:
    return sorted(p for p in directory.iterdir() if match in p.name)


async def wait_for_files(directory: Path, match: str, count: int = 1) -> list[Path]:
    """The files in `directory` whose names contain `match`, once there are `count`."""
    stop = asyncio.Event()
    async with asyncio.timeout(10):
        async for _ in _watch.watch_files(directory, stop, lambda p: match in p.name):
            found = _matching(directory, match)
            if len(found) >= count:
                stop.set()
                return found
    raise AssertionError("unreachable")


async def next_on(sub: Subscription) -> Event:
    return await sub.next(10)


async def test_followups_from_the_bus_land_in_input(tmp_path: Path, nats: NatsServer) -> None:
    async with bridge_on(tmp_path, nats) as r:
        followup = {"text": "and also this", "sessionKey": "s"}
        await r.bus.publish(Event.new(events.AGENT_FOLLOWUP, followup), scope=SCOPE)
        [path] = await wait_for_files(r.layout.input, "followup-")
        assert json.loads(path.read_text()) == followup
        no = Event.new(events.AGENT_FOLLOWUP, {"text": "no"})
        await r.bus.publish(no, scope=(NS, "another-run"))
        await r.bus.publish(no, scope=("team-b", RUN))  # same run name, other namespace
        await r.bus.publish(Event.new(events.AGENT_FOLLOWUP, {"text": "second"}), scope=SCOPE)
        files = await wait_for_files(r.layout.input, "followup-", 2)
        texts = sorted(json.loads(p.read_text())["text"] for p in files)
        assert texts == ["and also this", "second"]  # the other run's follow-up is not ours


async def test_exec_results_from_the_bus_are_written_and_bad_ones_dropped(
    tmp_path: Path, nats: NatsServer
) -> None:
    async with bridge_on(tmp_path, nats) as r:
        topic = events.TOOL_EXEC_RESULT
        bad = Event.new(topic, {"id": "../../etc", "exitCode": 0})
        await r.bus.publish(bad, scope=SCOPE)
        good = ExecResult(id="e1", exit_code=3, stdout="out", stderr="err")
        await r.bus.publish(Event.new(topic, json.loads(good.to_json_bytes())), scope=SCOPE)
        [path] = await wait_for_files(r.layout.tools, "exec-result-")
        assert path == r.layout.exec_result("e1")
        assert ExecResult.model_validate_json(path.read_bytes()) == good
        assert [p.name for p in r.layout.tools.iterdir()] == ["exec-result-e1.json"]


async def test_each_file_version_is_published_once_and_the_result_last(
    tmp_path: Path, nats: NatsServer
) -> None:
    bus = await control_bus(nats)
    try:
        async with bus.subscribe("agent.>") as sub, bridge_on(tmp_path, nats) as r:
            chunk = StreamChunk(type="text", content="hi", index=0)
            ipc.write_atomic(r.layout.stream_chunk(0), chunk)
            assert (await next_on(sub)).data == {"type": "text", "content": "hi", "index": 0}
            ipc.write_atomic(r.layout.stream_chunk(0), chunk)  # same bytes again: no event
            ipc.write_atomic(r.layout.stream_chunk(1), chunk.model_copy(update={"index": 1}))
            ipc.write_atomic(r.layout.result, AgentResult(status="success", response="ok"))
            second, completed = await next_on(sub), await next_on(sub)
            assert (second.topic, second.data["index"]) == (events.AGENT_STREAM_CHUNK, 1)
            assert completed.topic == events.AGENT_RUN_COMPLETED
            assert completed.subject == f"k8sclaw.agent.run.completed.{NS}.{RUN}"
            assert completed.metadata == {
                "agentRunID": RUN,
                "instanceName": "alice",
                "namespace": NS,
            }
            assert await asyncio.wait_for(r.task, 10) == 0  # exits once the result is out
            with pytest.raises(TimeoutError):
                await sub.next(0.3)
    finally:
        await bus.close()


@pytest.mark.parametrize("result_file", [None, b'{"status": "maybe"}'], ids=["missing", "invalid"])
async def test_done_without_a_valid_result_publishes_run_failed(
    tmp_path: Path, nats: NatsServer, result_file: bytes | None
) -> None:
    bus = await control_bus(nats)
    try:
        async with bus.subscribe("agent.run.>") as sub, bridge_on(tmp_path, nats) as r:
            if result_file is not None:
                ipc.write_atomic(r.layout.result, result_file)
            ipc.write_atomic(r.layout.done, b'{"status": "error"}')
            failed = await next_on(sub)
            assert failed.topic == events.AGENT_RUN_FAILED
            assert "without writing a valid result.json" in failed.data["error"]
            assert await asyncio.wait_for(r.task, 10) == EXIT_NO_RESULT
            if result_file is not None:
                assert any(r.layout.errors.glob("*-output-result.json"))  # quarantined
    finally:
        await bus.close()


async def test_done_after_a_missed_result_event_still_publishes_the_result(
    tmp_path: Path, nats: NatsServer
) -> None:
    """`done` is the backstop: a result whose file event was lost still goes out, once."""
    bus = await control_bus(nats)
    try:
        async with bus.subscribe("agent.run.>") as sub:
            bridge = Bridge(settings_for(tmp_path, nats), bus)
            bridge.layout.ensure()
            ipc.write_atomic(bridge.layout.result, AgentResult(status="success", response="late"))
            await bridge._handle_batch([bridge.layout.done])  # no watcher: the event was lost
            assert (await next_on(sub)).data["response"] == "late"
            assert bridge.stop.is_set() and bridge.exit_code == 0
            await bridge._handle_batch([bridge.layout.result, bridge.layout.done])
            with pytest.raises(TimeoutError):
                await sub.next(0.3)  # neither a second completion nor a failure
    finally:
        await bus.close()


async def test_error_result_publishes_completed_and_failed(
    tmp_path: Path, nats: NatsServer
) -> None:
    bus = await control_bus(nats)
    try:
        async with bus.subscribe("agent.run.>") as sub, bridge_on(tmp_path, nats) as r:
            ipc.write_atomic(r.layout.result, AgentResult(status="error", error="HTTP 401"))
            topics = {(await next_on(sub)).topic, (await next_on(sub)).topic}
            assert topics == {events.AGENT_RUN_COMPLETED, events.AGENT_RUN_FAILED}
            assert await asyncio.wait_for(r.task, 10) == 0
    finally:
        await bus.close()


def test_settings_resolve_flags_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_RUN_ID", "r-env")
    monkeypatch.setenv("POD_NAMESPACE", "team-a")
    monkeypatch.delenv("K8SCLAW_IPC_DIR", raising=False)
    settings = BridgeSettings.from_args(["--instance", "alice"])
    assert (settings.run_id, settings.namespace, settings.instance) == ("r-env", "team-a", "alice")
    assert settings.ipc_dir == Path("/ipc")
    assert BridgeSettings.from_args(["--namespace", "team-b"]).namespace == "team-b"
    monkeypatch.delenv("AGENT_RUN_ID")
    with pytest.raises(SettingsError, match="AGENT_RUN_ID"):
        BridgeSettings.from_args([])
    monkeypatch.setenv("AGENT_RUN_ID", "r-env")
    monkeypatch.delenv("POD_NAMESPACE")
    with pytest.raises(SettingsError, match="POD_NAMESPACE"):
        BridgeSettings.from_args([])


def test_settings_read_the_run_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_RUN_ID", "r")
    monkeypatch.setenv("POD_NAMESPACE", "team-a")
    monkeypatch.setenv(busauth.ENV_BUS_CREDS_DIR, "/var/run/k8sclaw/bus")
    monkeypatch.setenv(busauth.ENV_RUN_UID, "u-1")
    monkeypatch.setenv(busauth.ENV_RUN_CREATED, "2026-12-04T10:00:00Z")
    settings = BridgeSettings.from_args(["--result-timeout", "5"])
    assert settings.creds == Path("/var/run/k8sclaw/bus/user.creds")
    assert settings.run_uid == "u-1" and settings.result_timeout == 5.0
    assert settings.run_created == datetime(2026, 12, 4, 10, tzinfo=UTC)
    for bad in ("0", "soon"):
        with pytest.raises(SettingsError, match="result timeout"):
            BridgeSettings.from_args(["--result-timeout", bad])


async def test_events_carry_the_namespace_when_known(tmp_path: Path, nats: NatsServer) -> None:
    bus = await control_bus(nats)
    try:
        async with bus.subscribe("agent.>") as sub:
            bridge = Bridge(settings_for(tmp_path, nats), bus)
            bridge.layout.ensure()
            ipc.write_atomic(bridge.layout.status, b'{"phase": "thinking"}')
            await bridge._handle_batch([bridge.layout.status])
            got = await next_on(sub)
            assert got.metadata == {
                events.META_AGENT_RUN_ID: RUN,
                events.META_INSTANCE_NAME: "alice",
                events.META_NAMESPACE: "team-a",
            }
    finally:
        await bus.close()


async def test_a_recreated_run_does_not_see_its_predecessors_followups(
    tmp_path: Path, nats: NatsServer
) -> None:
    bus = await control_bus(nats)
    try:
        old = Event.new(events.AGENT_FOLLOWUP, {"text": "for the old run"})
        await bus.publish(old, scope=SCOPE)
        await asyncio.sleep(0.05)
        created = datetime.now(UTC)
        await asyncio.sleep(0.05)
        await bus.publish(Event.new(events.AGENT_FOLLOWUP, {"text": "mine"}), scope=SCOPE)
        settings = settings_for(tmp_path, nats, run_created=created)
        own = await bridge_bus(settings)
        bridge = Bridge(settings, own)
        bridge.layout.ensure()
        task = asyncio.create_task(bridge.run())
        try:
            [path] = await wait_for_files(bridge.layout.input, "followup-")
            assert json.loads(path.read_text()) == {"text": "mine"}
            await asyncio.sleep(0.3)
            assert len(_matching(bridge.layout.input, "followup-")) == 1
        finally:
            bridge.stop.set()
            await asyncio.wait_for(task, 10)
            await own.close()
    finally:
        await bus.close()


async def test_an_oversized_result_is_published_truncated_not_retried_forever(
    tmp_path: Path, nats: NatsServer
) -> None:
    """Issue #13 item 5: a result of emoji (12 bytes each under ensure_ascii)."""
    bus = await control_bus(nats)
    try:
        async with bus.subscribe("agent.run.>") as sub, bridge_on(tmp_path, nats) as r:
            response = "\N{GRINNING FACE}" * 300_000  # 1.2 MB as UTF-8
            ipc.write_atomic(r.layout.result, AgentResult(status="success", response=response))
            completed = await next_on(sub)
            assert completed.topic == events.AGENT_RUN_COMPLETED
            assert completed.data["status"] == "success"
            assert completed.data["response"].startswith("\N{GRINNING FACE}" * 1000)
            assert "truncated" in completed.data["response"][-40:]
            assert await asyncio.wait_for(r.task, 10) == 0
    finally:
        await bus.close()


async def test_bridge_exits_non_zero_when_the_bus_is_down_at_the_result(
    tmp_path: Path, nats: NatsServer
) -> None:
    bus = await control_bus(nats)  # creates the stream
    await bus.close()
    settings = settings_for(tmp_path, nats, result_timeout=1.0)
    stop = asyncio.Event()
    task = asyncio.create_task(run_bridge(settings, stop))
    layout = IpcLayout(tmp_path)
    await asyncio.sleep(1.0)  # connected and subscribed
    await asyncio.to_thread(nats.stop)
    ipc.write_atomic(layout.result, AgentResult(status="success", response="kept on the log"))
    assert await asyncio.wait_for(task, 60) == EXIT_BUS_UNAVAILABLE


async def test_bridge_exits_non_zero_when_the_bus_never_answers(tmp_path: Path) -> None:
    settings = BridgeSettings(
        tmp_path, RUN, "alice", f"nats://127.0.0.1:{free_port()}", NS, result_timeout=1.0
    )
    task = asyncio.create_task(run_bridge(settings))
    await asyncio.sleep(0.5)
    assert not task.done()  # still waiting for the bus while the agent works
    layout = IpcLayout(tmp_path)
    layout.ensure()
    ipc.write_atomic(layout.result, AgentResult(status="success", response="on the log"))
    assert await asyncio.wait_for(task, 60) == EXIT_BUS_UNAVAILABLE
