"""`k8sclaw run --wait/--follow` and `runs logs -f` end to end: the real controller, the
process kubelet, the scripted LLM and NATS; the CLI runs as a subprocess like a user's."""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any

import kubernetes
import pytest

from tests.controllers.manager import _harness
from tests.harness.kube import KubeEnv
from tests.harness.llm import ScriptedLLM, calls, error, text, tool

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


def _command(kube: KubeEnv, *args: str) -> list[str]:
    return [sys.executable, "-m", "k8sclaw", *args, "--kubeconfig", str(kube.kubeconfig)]


async def _k8sclaw(kube: KubeEnv, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *_command(kube, *args),
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
    async with _harness.running(_harness.settings_for(kube, **nats.controller_settings())):
        code, out, err = await _k8sclaw(kube, "run", "what is the answer?", flag)
    assert code == 0, err
    assert out.splitlines()[-1] == "forty-two", out
    assert out.count("forty-two") == 1 and "__K8SCLAW" not in out, out  # once, no marker
    assert "agentrun/" in err and "created" in err


async def test_run_that_fails_exits_non_zero_with_the_error(
    kube: KubeEnv, kubelet: Any, llm: ScriptedLLM, nats: Any
) -> None:
    _instance(kube, llm)
    llm.script(error(401, "invalid key sk-test"))
    async with _harness.running(_harness.settings_for(kube, **nats.controller_settings())):
        code, out, err = await _k8sclaw(kube, "run", "hi", "--wait")
    assert code == 1, (out, err)
    assert "failed:" in err and "401" in err and "Traceback" not in err
    assert "hint: see `k8sclaw runs get" in err


async def _read_until(stream: asyncio.StreamReader, needle: str, seconds: float = 60) -> str:
    """What `stream` printed up to (at least) `needle`; fails if it ends first."""
    got = b""
    async with asyncio.timeout(seconds):
        while needle.encode() not in got:
            data = await stream.read(4096)
            assert data, f"output ended before {needle!r}: {got.decode()!r}"
            got += data
    return got.decode()


async def test_runs_logs_follow_streams_the_answer_as_it_is_written(
    kube: KubeEnv, kubelet: Any, llm: ScriptedLLM, nats: Any
) -> None:
    _instance(kube, llm)
    hold = threading.Event()
    llm.script(
        calls(tool("list_directory", path="/workspace")),
        text("streamed answer, word by word", hold=hold),
    )
    async with _harness.running(_harness.settings_for(kube, **nats.controller_settings())):
        code, out, err = await _k8sclaw(kube, "runs", "create", "hi", "--timeout", "2m")
        assert code == 0, err
        name = out.strip().split("/")[-1]
        proc = await asyncio.create_subprocess_exec(
            *_command(kube, "runs", "logs", name, "-f"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            try:
                # The model is held after its first word: this text can only come live.
                partial = await _read_until(proc.stdout, "streamed ")
            finally:
                hold.set()
            rest, err_bytes = await asyncio.wait_for(proc.communicate(), 120)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 0, err_bytes.decode()
    assert "answer" not in partial, partial  # seen while the model was still "typing"
    assert partial + rest.decode() == (
        "→ list_directory: /workspace\nstreamed answer, word by word\n"
    )  # printed once, no raw marker line


async def test_runs_logs_after_cleanup_prints_the_stored_answer(
    kube: KubeEnv, kubelet: Any, llm: ScriptedLLM, nats: Any
) -> None:
    """With `cleanup: delete` (the default) the pod is gone once the run ends; `runs logs`
    then shows the answer the controller stored, not `pods "…" not found`."""
    _instance(kube, llm)
    llm.script(text("kept after cleanup", input_tokens=3, output_tokens=2))
    async with _harness.running(_harness.settings_for(kube, **nats.controller_settings())):
        code, out, err = await _k8sclaw(kube, "run", "hi", "--wait")
        assert code == 0, err
        name = err.split("agentrun/")[1].split()[0]
        await _pods_gone(kube, name)
    code, out, err = await _k8sclaw(kube, "runs", "logs", name)
    assert code == 0, err
    assert out == "kept after cleanup\n"
    assert "removed after it finished (Succeeded)" in err and "not found" not in err


async def _pods_gone(kube: KubeEnv, run: str, seconds: float = 60) -> None:
    core = kubernetes.client.CoreV1Api(kube.api_client)

    async def poll() -> None:
        while True:
            if not core.list_namespaced_pod(kube.namespace, label_selector=f"job-name={run}").items:
                return
            await asyncio.sleep(0.2)

    await asyncio.wait_for(poll(), seconds)
