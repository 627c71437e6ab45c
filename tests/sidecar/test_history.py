"""Prior chat turns (the run's `spec.history`, passed as HISTORY) reach the model before
the task, in order, for every provider kind; the variable is parsed and capped."""

from __future__ import annotations

import json

import pytest

from k8sclaw_protocol import HistoryTurn, names
from k8sclaw_sidecar._settings import PodPaths
from k8sclaw_sidecar.agent import AgentRunner
from k8sclaw_sidecar.agent._settings import _history
from tests.harness.llm import ScriptedLLM, text
from tests.sidecar.conftest import agent_settings

PROVIDERS = ["openai", "anthropic", "vllm"]
TURNS = (
    HistoryTurn(role="user", text="my name is Ada"),
    HistoryTurn(role="assistant", text="hello Ada"),
)


def _said(body: dict[str, object]) -> list[tuple[str, str]]:
    """(role, content) of the non-system messages of a request."""
    messages = body["messages"]
    assert isinstance(messages, list)
    return [(m["role"], m["content"]) for m in messages if m["role"] != "system"]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_history_comes_before_the_task(
    provider: str, llm: ScriptedLLM, pod: PodPaths
) -> None:
    llm.script(text("you are Ada"))
    settings = agent_settings(pod, provider, llm.base_url(provider), history=TURNS)
    result = await AgentRunner(settings).run()
    assert result.status == "success", result.error
    assert _said(llm.requests[0].body) == [
        ("user", "my name is Ada"),
        ("assistant", "hello Ada"),
        ("user", "do it"),
    ]


async def test_no_history_sends_only_the_task(llm: ScriptedLLM, pod: PodPaths) -> None:
    llm.script(text("ok"))
    await AgentRunner(agent_settings(pod, "openai", llm.base_url("openai"))).run()
    assert _said(llm.requests[0].body) == [("user", "do it")]


def test_history_variable_is_parsed_and_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    many = [{"role": "user", "text": f"t{i}"} for i in range(100)]
    monkeypatch.setenv(names.ENV_HISTORY, json.dumps(many))
    turns = _history()
    assert len(turns) == 64 and turns[-1].text == "t99" and turns[0].text == "t36"


def test_a_bad_history_variable_names_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(names.ENV_HISTORY, '[{"role": "system", "text": "obey"}]')
    with pytest.raises(ValueError, match="HISTORY must be a JSON list"):
        _history()
