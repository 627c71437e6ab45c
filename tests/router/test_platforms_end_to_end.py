"""End to end per platform (Telegram by long polling and by webhook, Slack in Socket Mode
and through the signed Events API, Discord, WhatsApp), one set of tests: a
person on the scripted platform → the real `k8sclaw-channel <type>` → router and approval
relay → controller, process kubelet, agent and scripted LLM → the reply in the same chat
and thread.

One conversation per platform covers: the reply, the second turn continuing the first
(the model receives it), the bot's own message starting nothing, an `ask`-gated
`execute_command` posting a card that a non-approver cannot decide and an approver
approves (the command runs), the next call's card denied (reported to the chat and to the
model; each decision an Event naming the platform user and `via channel:<type>`), and the
answer arriving split at the platform's limit, complete. A second test per platform
shows a wrong token as `Error` on the ClawInstance's channel status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from tests.controllers.manager import _harness
from tests.controllers.manager._harness import create, instance_body
from tests.harness.kube import KubeEnv
from tests.harness.llm import ScriptedLLM, calls, text, tool
from tests.harness.nats_fixtures import NatsServer
from tests.router import _e2e
from tests.router._e2e import INSTANCE, Platform, Said, until

pytestmark = pytest.mark.slow
NOBODY = "not-a-person-here"


@pytest.fixture(params=_e2e.PLATFORMS)
async def chat(request: pytest.FixtureRequest) -> AsyncIterator[Platform]:
    async with _e2e.platform(request.param) as made:
        yield made


def _setup(kube: KubeEnv, llm: ScriptedLLM, chat: Platform) -> None:
    """An instance with a sandbox, `execute_command` gated `ask` by its policy, and the
    chat's channel (approvers: nobody present yet)."""
    core = kubernetes.client.CoreV1Api(kube.api_client)
    core.create_namespaced_secret(
        kube.namespace,
        {"metadata": {"name": "alice-openai-key"}, "stringData": {"OPENAI_API_KEY": "sk-test"}},
    )
    _e2e.create_channel_secret(kube, chat)
    rules = [{"tool": "execute_command", "action": "ask"}]
    create(
        kube,
        "clawpolicies",
        {"metadata": {"name": "gate"}, "spec": {"toolGating": {"rules": rules}}},
    )
    body = instance_body(
        INSTANCE,
        authRefs=[{"provider": "openai", "secret": "alice-openai-key"}],
        policyRef="gate",
        channels=[_e2e.channel_spec(chat, [NOBODY])],
    )
    default = body["spec"]["agents"]["default"]
    default.update(baseURL=llm.base_url("openai"), sandbox={"enabled": True})
    create(kube, "clawinstances", body)


def _long_answer(limit: int) -> tuple[str, list[str]]:
    """An answer of words, about 2.5 times `limit` (below the run result's 16 KiB cap)."""
    size = limit * 5 // 2
    assert size < 16_000
    words = [f"w{i}" for i in range(size // 6)]
    return " ".join(words), words


async def _said(chat: Platform, predicate: Any, what: str) -> Said:
    return await until(lambda: next((s for s in chat.texts() if predicate(s.text)), None), what)


async def test_a_conversation_with_history_approvals_and_a_split_reply(
    kube: KubeEnv,
    kubelet: Any,
    *,
    llm: ScriptedLLM,
    nats: NatsServer,
    chat: Platform,
    tmp_path: Path,
) -> None:
    _setup(kube, llm, chat)
    settings = _harness.settings_for(kube, **nats.controller_settings())
    async with (
        _harness.running(settings),
        _e2e.router(nats, kube, tmp_path),
        _e2e.channel(nats, kube, chat),
    ):
        limit = chat.part_chars
        answer, words = _long_answer(limit)
        llm.script(
            text("Nice to meet you, Ada."),
            calls(tool("execute_command", command="echo approved-output")),
            calls(tool("execute_command", command="echo never-run")),
            text(answer),
        )
        # 1. A message → a run → the reply in the same chat (and thread).
        await chat.say("my name is Ada")
        first = await _said(chat, lambda t: t == "Nice to meet you, Ada.", "the first reply")
        assert first.where == chat.where
        # The bot's own message (an echo of its post) starts nothing.
        await chat.say_as_bot("Nice to meet you, Ada.")
        # 2. The second message continues the conversation; its tool call is gated `ask`.
        await chat.say("what is my name? run the check")
        card = await until(lambda: next(iter(chat.cards()), None), "the approval card")
        assert card.where == chat.where
        assert "execute_command" in card.text and "echo approved-output" in card.text
        await chat.press(card, "approve", chat.user)  # not (yet) an approver
        refused = await _said(chat, lambda t: t.startswith("Only the approvers"), "a refusal")
        assert refused.where == chat.where
        _e2e.set_approvers(kube, chat, [p for p in (chat.user, chat.outsider) if p])
        if chat.bystander is not None:  # someone else in the chat, not listed
            await chat.press(card, "approve", chat.bystander)
            await until(lambda: len(_refusals(chat)) == 2, "the bystander's refusal")
        if chat.outsider is not None:  # an approver, but pressing from another chat: nothing
            await chat.press(card, "approve", chat.outsider)
        await chat.press(card, "approve", chat.user)
        await _said(chat, lambda t: t.startswith("Approved by"), "the approval notice")
        # The run's next call is asked for again; a deny is reported.
        await until(lambda: len(chat.cards()) == 2, "the second card")
        assert "echo never-run" in chat.cards()[1].text
        await chat.press(chat.cards()[1], "deny", chat.user)
        await _said(chat, lambda t: t.startswith("Denied by"), "the deny notice")
        # The answer arrives split at the platform's limit and complete.
        await until(lambda: _has_all(chat, words), "every word of the long answer")
    parts = [s for s in chat.texts() if set(s.text.split()) <= set(words)]
    assert all(s.where == chat.where for s in chat.texts()), chat.texts()
    presses = 3 + (chat.bystander is not None) + (chat.outsider is not None)
    assert chat.presses_answered() in (None, presses)  # no spinner left on any button
    assert len(_refusals(chat)) == (1 if chat.bystander is None else 2)
    notices = [s.text.split(" by ")[0] for s in chat.texts() if " by " in s.text]
    assert notices == ["Approved", "Denied"]  # each decided once, by the approver
    assert len(parts) >= 2, f"{len(answer)} characters not split at {limit}"
    assert " ".join(p.text for p in parts).split() == words  # in order, nothing lost
    assert all(len(p.text) <= limit for p in parts)
    said = [
        (m["role"], m.get("content"))
        for m in llm.requests[1].body["messages"]
        if m["role"] in ("user", "assistant")
    ]
    assert said == [
        ("user", "my name is Ada"),
        ("assistant", "Nice to meet you, Ada."),
        ("user", "what is my name? run the check"),
    ]
    assert "approved-output" in _tool_result(llm, 2)
    denied = _tool_result(llm, 3)
    assert "never-run" not in denied and "denied" in denied.lower(), denied
    decided = await until(lambda: _decided_events(kube), "the ApprovalDecided Events")
    who = f"{chat.name}:{chat.user}"
    assert all(who in m and f"via channel:{chat.name}" in m for m in decided), decided
    assert len(llm.requests) == 4  # the bot's own message made no run
    assert len(_e2e.list_runs(kube)) == 2


def _decided_events(kube: KubeEnv) -> list[str] | None:
    core = kubernetes.client.CoreV1Api(kube.api_client)
    found = [
        str(e.message)
        for e in core.list_namespaced_event(kube.namespace).items
        if e.reason == "ApprovalDecided"
    ]
    return found if len(found) == 2 else None


def _refusals(chat: Platform) -> list[Said]:
    return [s for s in chat.texts() if s.text.startswith("Only the approvers")]


def _has_all(chat: Platform, words: list[str]) -> bool:
    seen = set(" ".join(s.text for s in chat.texts()).split())
    return all(w in seen for w in words)


def _tool_result(llm: ScriptedLLM, index: int) -> str:
    messages = llm.requests[index].body["messages"]
    return str([m["content"] for m in messages if m.get("role") == "tool"][-1])


async def test_a_wrong_token_shows_error_on_the_instance(
    kube: KubeEnv, nats: NatsServer, chat: Platform
) -> None:
    _e2e.create_channel_secret(kube, chat)
    create(kube, "clawinstances", instance_body(INSTANCE, channels=[_e2e.channel_spec(chat, [])]))
    settings = _harness.settings_for(kube, **nats.controller_settings())
    async with _harness.running(settings):
        await until(lambda: _channel_status(kube), "the instance's first status", 60)
        async with _e2e.channel(nats, kube, chat, extra=chat.bad_token_env()):
            status = await until(
                lambda: (s := _channel_status(kube)) and s["status"] == "Error" and s,
                "the channel's Error status",
                60,
            )
    assert "unauthorized" in status["message"].lower(), status
    ready = {c["type"]: c for c in _e2e.get_instance(kube)["status"]["conditions"]}["Ready"]
    assert ready["status"] == "False"


def _channel_status(kube: KubeEnv) -> dict[str, Any] | None:
    channels = (_e2e.get_instance(kube).get("status") or {}).get("channels") or []
    return channels[0] if channels else None
