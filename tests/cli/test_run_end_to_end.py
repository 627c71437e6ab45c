"""`k8sclaw run --wait/--follow` and `runs logs -f` end to end: the real controller, the
process kubelet, the scripted LLM and NATS; the CLI runs as a subprocess like a user's."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import kubernetes
import pytest

from tests.controllers.manager import _harness
from tests.harness.kube import KubeEnv
from tests.harness.llm import ScriptedLLM, error, text

pytestmark = pytest.mark.slow


def _instance(kube: KubeEnv, llm: ScriptedLLM) -> None:
    kubernetes.client.CoreV1Api(kube.api_client).create_namespaced_secret(
        kube.namespace,
        {"metadata": {"name": "alice-openai-key"}, "stringData": {"OPENAI_API_KEY": "sk-test"}},
    )
    default = {"model": "gpt-4o", "provider": "openai", "baseURL": llm.base_url("openai")}
    auth = [{"provider": "openai", "secret": "alice-openai-key"}]
    _harness.create(
        kube, "clawinstances", _harness.instance_body(agents={"default": default}, authRefs=auth)
    )


async def _k8sclaw(kube: KubeEnv, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "k8sclaw",
        *args,
        "--kubeconfig",
        str(kube.kubeconfig),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 150)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.mark.parametrize("flag", ["--wait", "--follow"])
async def test_run_prints_the_answer_and_exits_0(
    kube: KubeEnv, kubelet: Any, llm: ScriptedLLM, nats: Any, flag: str
) -> None:
    _instance(kube, llm)
    llm.script(text("forty-two", input_tokens=3, output_tokens=2))
    async with _harness.running(_harness.settings_for(kube, event_bus_url=nats.url)):
        code, out, err = await _k8sclaw(kube, "run", "what is the answer?", flag)
    assert code == 0, err
    assert out.splitlines()[-1] == "forty-two", out
    assert "agentrun/" in err and "created" in err


async def test_run_that_fails_exits_non_zero_with_the_error(
    kube: KubeEnv, kubelet: Any, llm: ScriptedLLM, nats: Any
) -> None:
    _instance(kube, llm)
    llm.script(error(401, "invalid key sk-test"))
    async with _harness.running(_harness.settings_for(kube, event_bus_url=nats.url)):
        code, out, err = await _k8sclaw(kube, "run", "hi", "--wait")
    assert code == 1, (out, err)
    assert "failed:" in err and "401" in err and "Traceback" not in err
    assert "hint: see `k8sclaw runs get" in err


async def test_runs_logs_follow_streams_until_the_run_ends(
    kube: KubeEnv, kubelet: Any, llm: ScriptedLLM, nats: Any
) -> None:
    _instance(kube, llm)
    llm.script(text("streamed answer"))
    async with _harness.running(_harness.settings_for(kube, event_bus_url=nats.url)):
        code, out, err = await _k8sclaw(kube, "runs", "create", "hi", "--timeout", "2m")
        assert code == 0, err
        name = out.strip().split("/")[-1]
        code, out, err = await _k8sclaw(kube, "runs", "logs", name, "-f")
    assert code == 0, err
    # The agent's log ends with its result marker: the stream ran until the container ended.
    assert '"response":"streamed answer"' in out and "__K8SCLAW_END__" in out, out
