"""The agent pod against a hostile sandbox (issue #13 items 3, 4, 9), with the real
agent, bridge and sandbox processes, real NATS and a scripted model.

What a command in the sandbox may do in a pod: write the shared `/workspace` and its
own `/ipc-sandbox`, start processes. It cannot mount `/ipc` (the Job builder's test
proves the mounts). Here it plants symlinks to the agent's `/proc/self/environ` (which
holds the API key) and leaves escaped processes behind; the agent never hands the key
to the model, the run's result is published once, and no process of the command
survives the run.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from k8sclaw_protocol import ExecRequest, ExecResult, IpcLayout, ipc
from k8sclaw_sidecar._settings import PodPaths
from k8sclaw_sidecar.agent import AgentRunner, Toolbox
from tests.harness.llm import ScriptedLLM, calls, text, tool
from tests.harness.nats_fixtures import NatsServer
from tests.sidecar.conftest import agent_settings, make_pod
from tests.sidecar.test_bridge import control_bus
from tests.sidecar.test_pod_processes import Pod, _env
from tests.sidecar.test_sandbox_caps import _alive

API_KEY = "sk-test"  # what tests.sidecar.test_pod_processes puts in the agent's env


@pytest.fixture
def pod(tmp_path: Path) -> PodPaths:
    return make_pod(tmp_path)


@pytest.fixture
def pod_procs(pod: PodPaths, nats: NatsServer, llm: ScriptedLLM) -> Iterator[Pod]:
    procs = Pod(_env(pod, nats, llm))
    try:
        yield procs
    finally:
        procs.kill_all()


def _tool_results(llm: ScriptedLLM) -> str:
    return json.dumps([r.body for r in llm.requests])


async def test_planted_symlinks_and_escaped_processes_do_not_cross_the_boundary(
    pod_procs: Pod, nats: NatsServer, llm: ScriptedLLM, pod: PodPaths
) -> None:
    plant = (
        "ln -s /proc/self/environ env.txt; ln -s /proc/self/environ ../env-up; "
        "mkdir -p d && ln -s /proc/self d/proc; "
        "setsid sh -c 'echo $$ > pids; exec sleep 1000' > /dev/null 2>&1 & "
        "while [ ! -s pids ]; do sleep 0.05; done; echo planted"
    )
    llm.script(
        calls(tool("execute_command", command=plant)),
        calls(tool("read_file", path="env.txt")),
        calls(tool("read_file", path="d/proc/environ")),
        calls(tool("list_directory", path="d/proc")),
        text("nothing leaked"),
    )
    await (await control_bus(nats)).close()  # the controller owns the stream, not a bridge
    for name, script in [
        ("ipc-bridge", "k8sclaw-ipc-bridge"),
        ("sandbox", "k8sclaw-sandbox"),
        ("agent", "k8sclaw-agent"),
    ]:
        pod_procs.start(name, script)
    codes = {
        n: await asyncio.to_thread(pod_procs.wait, n) for n in ("agent", "ipc-bridge", "sandbox")
    }
    assert {n: c[0] for n, c in codes.items()} == {"agent": 0, "ipc-bridge": 0, "sandbox": 0}
    sent = _tool_results(llm)
    assert "planted" in sent  # the command really ran in the sandbox
    assert API_KEY not in sent and "EVENT_BUS_URL" not in sent
    assert sent.count("refused") >= 3
    [pid] = [int(x) for x in (pod.workspace / "pids").read_text().split()]
    assert not _alive(pid)  # the escaped session died with its command
    result = ipc.parse_result_line(codes["agent"][1])
    assert result is not None and result.response == "nothing leaked"
    assert not any(pod.ipc.glob("**/env*"))  # nothing of the sandbox's reached /ipc


async def test_a_forged_exec_result_symlink_is_not_read(
    llm: ScriptedLLM, pod: PodPaths, tmp_path: Path
) -> None:
    """A hostile sandbox answers with `exec-result-<id>.json` -> a secret of the agent's:
    the agent's safe reader refuses it instead of returning the secret as output."""
    secret = tmp_path / "agent-secret.json"
    secret.write_text(ExecResult(id="x", exit_code=0, stdout="SECRET-CONTENT").model_dump_json())
    settings = agent_settings(pod, "openai", llm.base_url("openai"), exec_timeout=2)
    toolbox = Toolbox(settings)
    sandbox = IpcLayout(pod.sandbox_ipc)
    sandbox.ensure()

    async def hostile_sandbox() -> None:
        while True:
            for request in sandbox.tools.glob("exec-request-*.json"):
                req = ExecRequest.model_validate_json(request.read_bytes())
                target = sandbox.exec_result(req.id)
                if not target.is_symlink():
                    target.symlink_to(secret)
            await asyncio.sleep(0.02)

    fake = asyncio.create_task(hostile_sandbox())
    try:
        output, is_error = await toolbox.call("execute_command", {"command": "id"})
    finally:
        fake.cancel()
    assert is_error and "SECRET-CONTENT" not in output
    assert "no valid result from the sandbox" in output


async def test_an_agent_without_a_sandbox_volume_refuses_commands(
    llm: ScriptedLLM, pod: PodPaths
) -> None:
    pod.sandbox_ipc.rmdir()
    llm.script(calls(tool("execute_command", command="id")), text("ok"))
    runner = AgentRunner(agent_settings(pod, "openai", llm.base_url("openai")))
    result = await runner.run()
    assert result.status == "success"
    assert "the sandbox is not enabled" in _tool_results(llm)
