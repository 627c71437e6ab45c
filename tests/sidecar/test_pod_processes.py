"""End to end: agent + ipc-bridge + sandbox as local processes, real NATS, scripted LLM.

This is what the process kubelet runs inside a Pod; here the three console scripts run
directly on a temp `/ipc`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from watchfiles import awatch

from k8sclaw_protocol import Backoff, Event, EventBus, events, ipc
from k8sclaw_sidecar._settings import PodPaths
from tests.harness.llm import ScriptedLLM, calls, text, tool
from tests.harness.nats_fixtures import NatsServer

FAST = Backoff(initial=0.02, maximum=0.2)


def _env(pod: PodPaths, nats: NatsServer, llm: ScriptedLLM) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("K8SCLAW_", "OPENAI"))}
    env.update(
        K8SCLAW_IPC_DIR=str(pod.ipc),
        K8SCLAW_WORKSPACE_DIR=str(pod.workspace),
        K8SCLAW_SKILLS_DIR=str(pod.skills),
        K8SCLAW_MEMORY_DIR=str(pod.memory),
        K8SCLAW_TMP_DIR=str(pod.tmp),
        K8SCLAW_SANDBOX_IPC_DIR=str(pod.sandbox_ipc),
        AGENT_RUN_ID="run-e2e",
        INSTANCE_NAME="alice",
        EVENT_BUS_URL=nats.url,
        POD_NAMESPACE="team-a",
        K8SCLAW_BUS_CREDS_DIR=str(nats.run_creds("team-a", "run-e2e", "uid-e2e").parent),
        AGENT_RUN_UID="uid-e2e",
        TASK="write then cat",
        MODEL_PROVIDER="openai",
        MODEL_NAME="m-1",
        MODEL_BASE_URL=llm.base_url("openai"),
        OPENAI_API_KEY="sk-test",
    )
    return env


class Pod:
    """The three containers as processes; all killed at the end whatever happened."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.procs: dict[str, subprocess.Popen[str]] = {}

    def start(self, name: str, script: str) -> None:
        path = shutil.which(script)
        assert path, f"{script} not installed"
        self.procs[name] = subprocess.Popen(
            [path], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def wait(self, name: str, timeout: float = 90) -> tuple[int, str, str]:
        proc = self.procs[name]
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            err += f"\n{name} did not exit within {timeout}s; killed"
        return proc.returncode, out, err

    def kill_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


@pytest.fixture
def pod_procs(pod: PodPaths, nats: NatsServer, llm: ScriptedLLM) -> Iterator[Pod]:
    procs = Pod(_env(pod, nats, llm))
    try:
        yield procs
    finally:
        procs.kill_all()


async def _create_stream(nats: NatsServer) -> None:
    """As the controller does at start: the bridge has no right to create the stream."""
    bus = await EventBus.connect(nats.url, backoff=FAST, credentials=nats.creds_for("controller"))
    await bus.close()


def _script(llm: ScriptedLLM) -> None:
    llm.script(
        calls(tool("write_file", path="notes.txt", content="hello from the agent")),
        calls(tool("execute_command", command="cat notes.txt")),
        text("The file says: hello from the agent"),
    )


async def _collect(bus: EventBus, done: asyncio.Event, seen: list[Event]) -> None:
    async with bus.subscribe("agent.>", deliver="all") as sub:
        while True:
            ev = await sub.next(60)
            seen.append(ev)
            if ev.topic == events.AGENT_RUN_COMPLETED:
                done.set()


async def test_write_then_cat_run_succeeds_through_the_bus(
    pod_procs: Pod, nats: NatsServer, llm: ScriptedLLM, pod: PodPaths
) -> None:
    _script(llm)
    bus = await EventBus.connect(nats.url, backoff=FAST, credentials=nats.creds_for("controller"))
    seen: list[Event] = []
    done = asyncio.Event()
    collector = asyncio.create_task(_collect(bus, done, seen))
    for name, script in [
        ("ipc-bridge", "k8sclaw-ipc-bridge"),
        ("sandbox", "k8sclaw-sandbox"),
        ("agent", "k8sclaw-agent"),
    ]:
        pod_procs.start(name, script)
    codes = {
        n: await asyncio.to_thread(pod_procs.wait, n) for n in ("agent", "ipc-bridge", "sandbox")
    }
    await asyncio.wait_for(done.wait(), 30)
    await asyncio.sleep(0.3)  # a duplicate completion would arrive now
    collector.cancel()
    await bus.close()
    assert {n: c[0] for n, c in codes.items()} == {"agent": 0, "ipc-bridge": 0, "sandbox": 0}, codes
    result = ipc.parse_result_line(codes["agent"][1])
    assert result is not None and result.status == "success"
    assert result.response == "The file says: hello from the agent"
    assert codes["agent"][1].splitlines()[:-1] == [  # what `kubectl logs -f` shows
        "→ write_file: notes.txt (20 chars)",
        "→ execute_command: cat notes.txt",
        "The file says: hello from the agent",
    ]
    topics = [e.topic for e in seen]
    assert topics.count(events.AGENT_RUN_COMPLETED) == 1
    assert events.AGENT_STREAM_CHUNK in topics and events.AGENT_STATUS_UPDATE in topics
    assert events.TOOL_EXEC_REQUEST not in topics  # subscribed to agent.> only
    completed = next(e for e in seen if e.topic == events.AGENT_RUN_COMPLETED)
    assert completed.subject == "k8sclaw.agent.run.completed.team-a.run-e2e"
    assert completed.metadata == {
        "agentRunID": "run-e2e",
        "instanceName": "alice",
        "namespace": "team-a",
    }
    assert completed.data["metrics"]["toolCalls"] == 2
    tool_results = [
        e.data["content"]
        for e in seen
        if e.topic == events.AGENT_STREAM_CHUNK and e.data["type"] == "tool_result"
    ]
    assert "hello from the agent" in tool_results[-1]  # cat ran in the sandbox
    assert (pod.ipc / "done").exists()


async def test_nats_restart_mid_run_loses_no_result(
    pod_procs: Pod, nats: NatsServer, llm: ScriptedLLM, pod: PodPaths
) -> None:
    llm.script(text("answer after the outage"))
    await _create_stream(nats)
    pod_procs.start("ipc-bridge", "k8sclaw-ipc-bridge")
    # Wait until the bridge is up (it creates the /ipc layout), then take NATS away.
    async for _ in awatch(pod.ipc, rust_timeout=50, yield_on_timeout=True):
        if (pod.ipc / "errors").exists():
            break
    await asyncio.to_thread(nats.stop)
    pod_procs.start("agent", "k8sclaw-agent")
    code, _, err = await asyncio.to_thread(pod_procs.wait, "agent")
    assert code == 0, err
    assert pod_procs.procs["ipc-bridge"].poll() is None  # still trying to publish
    await asyncio.to_thread(nats.start)
    code, _, err = await asyncio.to_thread(pod_procs.wait, "ipc-bridge")
    assert code == 0, err
    bus = await EventBus.connect(nats.url, backoff=FAST, credentials=nats.creds_for("controller"))
    try:
        async with bus.subscribe(
            events.scoped_filter(events.AGENT_RUN_COMPLETED), deliver="all"
        ) as sub:
            ev = await sub.next(10)
            assert ev.data["response"] == "answer after the outage"
            with pytest.raises(TimeoutError):
                await sub.next(0.5)  # exactly one
    finally:
        await bus.close()


async def test_failed_run_publishes_run_failed_and_exits_nonzero(
    pod_procs: Pod, nats: NatsServer, llm: ScriptedLLM
) -> None:
    from tests.harness.llm import error

    llm.script(error(401, "bad key"))
    await _create_stream(nats)
    pod_procs.start("ipc-bridge", "k8sclaw-ipc-bridge")
    pod_procs.start("agent", "k8sclaw-agent")
    code, out, _ = await asyncio.to_thread(pod_procs.wait, "agent")
    assert code == 1
    assert "HTTP 401" in out
    assert (await asyncio.to_thread(pod_procs.wait, "ipc-bridge"))[0] == 0
    bus = await EventBus.connect(nats.url, backoff=FAST, credentials=nats.creds_for("controller"))
    try:
        async with bus.subscribe(
            events.scoped_filter(events.AGENT_RUN_FAILED), deliver="all"
        ) as sub:
            assert "HTTP 401" in (await sub.next(10)).data["error"]
    finally:
        await bus.close()
