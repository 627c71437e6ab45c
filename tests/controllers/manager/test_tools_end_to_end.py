"""Issue #5's end to end through the whole harness: the real controller makes the Job, the
process kubelet runs its three containers (agent, ipc-bridge, sandbox) as processes, the
scripted LLM asks for `write_file` then `execute_command` (`cat` in the sandbox), and the
run ends `Succeeded` with one `agent.run.completed` on real NATS."""

from __future__ import annotations

from typing import Any

import kubernetes
import pytest

from k8sclaw_protocol import Event, EventBus, events
from tests.controllers.manager import _harness
from tests.controllers.manager._harness import create, phase, run_body, wait_run
from tests.controllers.manager.test_end_to_end import setup_instance, terminal
from tests.harness.kube import KubeEnv
from tests.harness.llm import ScriptedLLM, calls, text, tool

pytestmark = pytest.mark.slow


async def _events_of(nats: Any, namespace: str, run: str) -> list[Event]:
    """Every event the stream kept for `run`, read after the fact (JetStream retains them),
    plus a short grace so a duplicate completion would be seen too."""
    bus = await EventBus.connect(
        nats.url, credentials=nats.creds_for("recorder"), manage_stream=False
    )
    seen: list[Event] = []
    try:
        async with bus.subscribe("agent.>", deliver="all") as sub:
            while True:
                try:
                    event = await sub.next(1.0)
                except TimeoutError:
                    return seen
                scope = events.parse_subject(event.subject or "")
                if (scope.namespace, scope.name) == (namespace, run):
                    seen.append(event)
    finally:
        await bus.close()


async def _exit_codes(kube: KubeEnv, run: str) -> dict[str, int | None]:
    """Exit code per container of the run's pod, once every container has terminated
    (the run can be Succeeded from the bus a moment before the kubelet reports them)."""

    def all_exited(pod: Any) -> bool:
        statuses = pod.status.container_statuses or []
        return bool(statuses) and all(s.state.terminated for s in statuses)

    pod = await _harness.wait_for(
        kubernetes.client.CoreV1Api(kube.api_client).list_namespaced_pod,
        all_exited,
        60,
        namespace=kube.namespace,
        label_selector=f"k8sclaw.io/agent-run={run}",
    )
    return {s.name: s.state.terminated.exit_code for s in pod.status.container_statuses}


async def test_write_then_cat_in_the_sandbox_succeeds_through_the_kubelet(
    kube: KubeEnv, kubelet: Any, llm: ScriptedLLM, nats: Any
) -> None:
    model = setup_instance(kube, llm)
    llm.script(
        calls(tool("write_file", path="notes.txt", content="hello from the agent")),
        calls(tool("execute_command", command="cat notes.txt")),
        text("The file says: hello from the agent"),
    )
    async with _harness.running(_harness.settings_for(kube, **nats.controller_settings())):
        create(
            kube,
            "agentruns",
            run_body("tools", model=model, cleanup="keep", sandbox={"enabled": True}),
        )
        run = await wait_run(kube, "tools", terminal, within=180)
    seen = await _events_of(nats, kube.namespace, "tools")
    assert phase(run) == "Succeeded", run["status"]
    assert run["status"]["result"] == "The file says: hello from the agent"
    topics = [e.topic for e in seen]
    assert topics.count(events.AGENT_RUN_COMPLETED) == 1
    assert events.AGENT_STREAM_CHUNK in topics and events.AGENT_STATUS_UPDATE in topics
    tool_output = [
        e.data["content"]
        for e in seen
        if e.topic == events.AGENT_STREAM_CHUNK and e.data.get("type") == "tool_result"
    ]
    assert "hello from the agent" in tool_output[-1]  # `cat` ran in the sandbox container
    codes = await _exit_codes(kube, "tools")
    assert codes == {"agent": 0, "ipc-bridge": 0, "sandbox": 0}, codes
