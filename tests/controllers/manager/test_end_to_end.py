"""AgentRun to Succeeded/Failed with the process kubelet, the scripted LLM and real NATS."""

from __future__ import annotations

from typing import Any

import kubernetes
import pytest

from tests.controllers.manager import _harness
from tests.controllers.manager._harness import create, instance_body, phase, run_body, wait_run
from tests.harness.kube import KubeEnv
from tests.harness.llm import ScriptedLLM, error, text

pytestmark = pytest.mark.slow


def setup_instance(kube: KubeEnv, llm: ScriptedLLM, **spec: Any) -> dict[str, Any]:
    """Instance `alice` with an OpenAI key Secret and its model at the scripted LLM
    (`spec` adds fields to its spec); returns the model block for a run."""
    kubernetes.client.CoreV1Api(kube.api_client).create_namespaced_secret(
        kube.namespace,
        {"metadata": {"name": "alice-openai-key"}, "stringData": {"OPENAI_API_KEY": "sk-test"}},
    )
    instance = instance_body(
        authRefs=[{"provider": "openai", "secret": "alice-openai-key"}], **spec
    )
    instance["spec"]["agents"]["default"]["baseURL"] = llm.base_url("openai")
    create(kube, "clawinstances", instance)
    return {
        "provider": "openai",
        "model": "gpt-4o",
        "baseURL": llm.base_url("openai"),
        "authSecretRef": "alice-openai-key",
    }


def terminal(obj: dict[str, Any]) -> bool:
    return phase(obj) in ("Succeeded", "Failed")


async def test_a_run_succeeds_with_its_result_in_status(
    kube: KubeEnv, kubelet: Any, llm: ScriptedLLM, nats: Any
) -> None:
    model = setup_instance(kube, llm)
    llm.script(text("hello from the agent", input_tokens=7, output_tokens=3))
    async with _harness.running(_harness.settings_for(kube, **nats.controller_settings())):
        create(kube, "agentruns", run_body("ok", model=model, cleanup="keep"))
        run = await wait_run(kube, "ok", terminal, within=120)
    status = run["status"]
    assert phase(run) == "Succeeded", status
    assert status["result"] == "hello from the agent"
    assert status["tokenUsage"]["inputTokens"] == 7
    assert status["tokenUsage"]["outputTokens"] == 3
    assert status["completedAt"]


async def test_a_failing_agent_fails_the_run_with_its_error(
    kube: KubeEnv, kubelet: Any, llm: ScriptedLLM, nats: Any
) -> None:
    model = setup_instance(kube, llm)
    llm.script(error(401, "invalid key sk-test"))
    async with _harness.running(_harness.settings_for(kube, **nats.controller_settings())):
        create(kube, "agentruns", run_body("bad", model=model))
        run = await wait_run(kube, "bad", terminal, within=120)
    assert phase(run) == "Failed", run["status"]
    assert "401" in run["status"]["error"]
