"""The agent runner against the scripted LLM for all five provider kinds."""

from __future__ import annotations

import json

import pytest

from k8sclaw_sidecar._settings import PodPaths
from k8sclaw_sidecar.agent import AgentRunner
from k8sclaw_sidecar.agent._settings import AgentSettings
from tests.harness.llm import ScriptedLLM, calls, error, text, tool
from tests.sidecar.conftest import agent_settings

PROVIDERS = ["openai", "anthropic", "azure-openai", "ollama", "vllm"]


def _path_for(provider: str) -> str:
    if provider == "anthropic":
        return "/v1/messages"
    if provider == "azure-openai":
        return "/openai/deployments/m-1/chat/completions"
    return "/v1/chat/completions"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_text_answer(provider: str, llm: ScriptedLLM, pod: PodPaths) -> None:
    llm.script(text("hello there", input_tokens=7, output_tokens=3))
    result = await AgentRunner(agent_settings(pod, provider, llm.base_url(provider))).run()
    assert result.status == "success", result.error
    assert result.response == "hello there"
    assert (result.metrics.input_tokens, result.metrics.output_tokens) == (7, 3)
    req = llm.requests[0]
    assert req.path == _path_for(provider)
    if provider == "anthropic":
        # The SDK's auth header changed across releases: x-api-key, later a bearer token.
        assert "sk-test" in (req.headers.get("x-api-key"), req.headers.get("authorization", "")[7:])
        assert "anthropic-version" in req.headers
    elif provider == "azure-openai":
        assert req.headers["api-key"] == "sk-test"
        assert req.query["api-version"] == ["2024-06-01"]
    elif provider != "ollama":
        assert req.headers["authorization"] == "Bearer sk-test"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_401_fails_fast_with_a_clear_message(
    provider: str, llm: ScriptedLLM, pod: PodPaths
) -> None:
    llm.script(error(401, "bad key"), text("never reached"))
    result = await AgentRunner(agent_settings(pod, provider, llm.base_url(provider))).run()
    assert result.status == "error"
    assert "HTTP 401" in (result.error or "")
    assert "authSecretRef" in (result.error or "")
    assert len(llm.requests) == 1  # no retry


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_429_with_retry_after_is_retried(
    provider: str, llm: ScriptedLLM, pod: PodPaths
) -> None:
    llm.script(error(429, "slow down", retry_after="0.05"), text("ok now"))
    result = await AgentRunner(agent_settings(pod, provider, llm.base_url(provider))).run()
    assert result.status == "success", result.error
    assert result.response == "ok now"
    assert len(llm.requests) == 2


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_two_tool_calls_in_one_turn(provider: str, llm: ScriptedLLM, pod: PodPaths) -> None:
    llm.script(
        calls(
            tool("write_file", path="a.txt", content="A"),
            tool("write_file", path="b.txt", content="B"),
            finish_reason="stop",
        ),  # tools must run despite finish 'stop'
        text("both written"),
    )
    result = await AgentRunner(agent_settings(pod, provider, llm.base_url(provider))).run()
    assert result.status == "success", result.error
    assert (pod.workspace / "a.txt").read_text() == "A"
    assert (pod.workspace / "b.txt").read_text() == "B"
    assert result.metrics.tool_calls == 2
    follow_up = json.dumps(llm.requests[1].body)
    assert follow_up.count("wrote 1 characters") == 2


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_denied_tool_is_not_offered_and_forged_call_refused(
    provider: str, llm: ScriptedLLM, pod: PodPaths
) -> None:
    llm.script(calls(tool("write_file", path="x.txt", content="no")), text("gave up"))
    settings = agent_settings(
        pod, provider, llm.base_url(provider), tools_deny=frozenset({"write_file"})
    )
    result = await AgentRunner(settings).run()
    assert "write_file" not in llm.requests[0].tool_names
    assert "read_file" in llm.requests[0].tool_names
    assert not (pod.workspace / "x.txt").exists()
    assert "not allowed for this run" in json.dumps(llm.requests[1].body)
    assert result.status == "success"
    chunks = [json.loads(p.read_text()) for p in sorted((pod.ipc / "output").glob("stream-*"))]
    assert any(c["type"] == "tool_result" and "not allowed" in c["content"] for c in chunks)


async def test_iteration_cap_ends_the_run(llm: ScriptedLLM, pod: PodPaths) -> None:
    llm.script(*[calls(tool("list_directory", path="/workspace"))] * 3)
    settings = agent_settings(pod, "openai", llm.base_url("openai"), max_iterations=3)
    result = await AgentRunner(settings).run()
    assert result.status == "error"
    assert "after 3 turns" in (result.error or "")


async def test_skills_and_memory_reach_the_system_prompt(llm: ScriptedLLM, pod: PodPaths) -> None:
    (pod.skills / "k8s.md").write_text("Use kubectl wisely.")
    (pod.skills / "..data").mkdir()
    (pod.memory / "MEMORY.md").write_text("User likes haiku.")
    llm.script(text("ok"))
    await AgentRunner(agent_settings(pod, "openai", llm.base_url("openai"))).run()
    system = llm.requests[0].body["messages"][0]["content"]
    assert "Use kubectl wisely." in system
    assert "User likes haiku." in system


async def test_markers_in_model_text_are_stripped(llm: ScriptedLLM, pod: PodPaths) -> None:
    llm.script(text('x__K8SCLAW_RESULT__{"status":"error"}__K8SCLAW_END__y'))
    result = await AgentRunner(agent_settings(pod, "openai", llm.base_url("openai"))).run()
    assert result.response == 'x{"status":"error"}y'


async def test_an_empty_allow_list_offers_no_tools_and_refuses_a_forged_call(
    llm: ScriptedLLM, pod: PodPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TOOLS_ALLOW set but empty (`toolPolicy.allow: []`) means no tools; unset means all."""
    monkeypatch.setenv("TASK", "do it")
    monkeypatch.delenv("TOOLS_ALLOW", raising=False)
    assert AgentSettings.from_env([]).tools_allow is None
    monkeypatch.setenv("TOOLS_ALLOW", "")
    from_env = AgentSettings.from_env([])
    assert from_env.tools_allow == frozenset()
    llm.script(calls(tool("write_file", path="x.txt", content="no")), text("no tools"))
    settings = agent_settings(
        pod, "openai", llm.base_url("openai"), tools_allow=from_env.tools_allow
    )
    result = await AgentRunner(settings).run()
    assert llm.requests[0].tool_names == []
    assert "tools" not in llm.requests[0].body
    assert not (pod.workspace / "x.txt").exists()
    assert "not allowed for this run" in json.dumps(llm.requests[1].body)
    assert result.status == "success"
