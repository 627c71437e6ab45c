"""SlackAdapter on the real slack-sdk against the scripted Slack (Web API, Socket Mode, Events
API): what a person does arrives once with the right ids, bots are not heard, replies land in
the thread split and formatted, approvals round-trip, and Slack's failures map to the
adapter contract's errors without ever crashing `run` on hostile input."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from k8sclaw_controllers.channels._adapter import (
    ChannelConfig,
    PlatformError,
    RateLimitedError,
    UnauthorizedError,
    UnavailableError,
)
from k8sclaw_controllers.channels.slack import SlackAdapter
from k8sclaw_protocol._chat import (
    MAX_TEXT_BYTES,
    ApprovalCard,
    Delivery,
    InboundMessage,
)
from k8sclaw_protocol._instance import ChannelMode
from tests.channels._recorder import Recorder
from tests.harness.platforms.slack import ScriptedSlack

CHAT = "C0GENERAL"


def make_adapter(slack: ScriptedSlack, mode: ChannelMode | None = None, **env: str) -> SlackAdapter:
    config = ChannelConfig(
        channel="slack",
        instance="alpha",
        namespace="team-a",
        env={**slack.env(), **env},
        mode=mode,
        listen_host="127.0.0.1",
        listen_port=0,
    )
    return SlackAdapter(config)


@contextlib.asynccontextmanager
async def running(adapter: SlackAdapter, recorder: Recorder) -> AsyncIterator[asyncio.Task[None]]:
    """`adapter.run` as a task until Connected; cancelled and closed afterwards."""
    task = asyncio.create_task(adapter.run(recorder))
    try:
        await recorder.until(
            lambda: ("Connected", None) in recorder.states or task.done(), "Connected"
        )
        if task.done():
            task.result()
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        await adapter.close()


@pytest.fixture
async def connected(slack: ScriptedSlack) -> AsyncIterator[tuple[SlackAdapter, Recorder]]:
    adapter, recorder = make_adapter(slack), Recorder()
    async with running(adapter, recorder):
        yield adapter, recorder


def delivery(**fields: Any) -> Delivery:
    return Delivery.model_validate({"id": "d-1", "channel": "slack", "chatId": CHAT, **fields})


# -- receiving ------------------------------------------------------------------------------


async def test_user_message_becomes_one_inbound_message(
    slack: ScriptedSlack, connected: tuple[SlackAdapter, Recorder]
) -> None:
    _, recorder = connected
    event = slack.message(CHAT, "hello &lt;world&gt;", user_profile={"display_name": "Ada"})
    envelope = slack.send_event(event)
    await recorder.until(lambda: len(recorder.messages) == 1, "the message")
    assert recorder.messages[0] == InboundMessage(
        channel="slack",
        message_id=event["ts"],
        chat_id=CHAT,
        thread_id=event["ts"],  # top level: the reply opens a thread under it
        sender_id="U0PERSON",
        sender_name="Ada",
        text="hello <world>",
    )
    await slack.until(lambda: envelope in slack.acks, "the ack")


async def test_thread_reply_and_mention_keep_the_thread_and_arrive_once(
    slack: ScriptedSlack, connected: tuple[SlackAdapter, Recorder]
) -> None:
    _, recorder = connected
    reply = slack.message(CHAT, "and then?", thread_ts="1699999999.000001")
    slack.send_event(reply)
    mention = slack.message(CHAT, f"<@{slack.bot_user_id}> deploy it")
    slack.send_event(mention)
    slack.send_event({**mention, "type": "app_mention"})  # Slack sends both for a mention
    await recorder.until(lambda: len(recorder.messages) >= 2, "two messages")
    await slack.until(lambda: len(slack.acks) == 3, "three acks")
    assert [(m.thread_id, m.text) for m in recorder.messages] == [
        ("1699999999.000001", "and then?"),
        (mention["ts"], "deploy it"),
    ]


@pytest.mark.parametrize(
    "extra",
    [
        {"bot_id": "B0OTHER"},
        {"subtype": "bot_message", "bot_id": "B0BOT"},
        {"user": "U0BOTUSER"},
        {"subtype": "message_changed"},
        {"subtype": "channel_join"},
        {"bot_profile": {"id": "B0OTHER"}},
    ],
    ids=["other-bot", "bot-message", "own-user", "edit", "join", "bot-profile"],
)
async def test_bots_and_non_person_messages_are_not_heard(
    slack: ScriptedSlack, connected: tuple[SlackAdapter, Recorder], extra: dict[str, Any]
) -> None:
    _, recorder = connected
    ignored = slack.send_event(slack.message(CHAT, "a bot speaking", **extra))
    slack.send_event(slack.message(CHAT, "sentinel"))
    await recorder.until(lambda: "sentinel" in recorder.texts(), "the sentinel")
    await slack.until(lambda: ignored in slack.acks, "the ignored event's ack")
    assert recorder.texts() == ["sentinel"]


async def test_hostile_frames_and_events_never_crash_run(
    slack: ScriptedSlack, connected: tuple[SlackAdapter, Recorder]
) -> None:
    _, recorder = connected
    for frame in ["not json", "{broken", "[1, 2]", "{}", '{"type": "events_api"}']:
        slack.send_frame(frame)
    slack.send_frame({"type": "events_api", "envelope_id": "e1", "payload": "nonsense"})
    slack.send_frame({"type": "interactive", "envelope_id": "e2", "payload": {"actions": 5}})
    slack.send_event({"type": "message", "channel": ["C1"], "user": {}, "text": 7, "ts": 1})
    slack.send_event(slack.message("C1<!channel>", "bad chat id"))
    slack.send_event(slack.message(CHAT, "\x00\x1b[2J\u202eevil\x7f" + "é" * MAX_TEXT_BYTES))
    slack.send_event(slack.message(CHAT, "sentinel"))
    await recorder.until(lambda: "sentinel" in recorder.texts(), "the sentinel")
    huge = recorder.messages[0].text
    assert huge.startswith("[2Jevil")
    assert len(huge.encode()) <= MAX_TEXT_BYTES
    assert len(recorder.messages) == 2
    slack.send_disconnect()  # Slack's routine refresh: the SDK reconnects, run goes on
    await slack.until(lambda: slack.connections_opened == 2 and slack.connected == 1, "refresh")
    slack.send_event(slack.message(CHAT, "after refresh"))
    await recorder.until(lambda: "after refresh" in recorder.texts(), "a message after refresh")
    assert [s for s, _ in recorder.states] == ["Connected"]


# -- sending --------------------------------------------------------------------------------


async def test_reply_longer_than_slack_limit_arrives_in_thread_split_complete_formatted(
    slack: ScriptedSlack, connected: tuple[SlackAdapter, Recorder]
) -> None:
    adapter, _ = connected
    paragraph = "**Result** of [the docs](https://example.com/a?b=1&c=2) for x<y. " * 40
    markdown = "# Summary\n\n" + "\n\n".join(f"{i}: {paragraph}" for i in range(17))
    assert len(markdown) > adapter.text_limit
    parts = adapter.render(markdown)
    await adapter.send_text(delivery(threadId="1700000000.000042", text=markdown), parts)
    assert len(slack.posts) == len(parts) > 1
    assert all(p.channel == CHAT and p.thread_ts == "1700000000.000042" for p in slack.posts)
    assert all(0 < len(p.text) <= 3_000 for p in slack.posts)
    joined = " ".join(p.text for p in slack.posts)
    assert joined.startswith("*Summary*")
    assert joined.count("*Result*") == 17 * 40
    assert joined.count("<https://example.com/a?b=1&amp;c=2|the docs>") == 17 * 40
    assert "x&lt;y" in joined and "**" not in joined
    assert [i for i in range(17) if f"{i}: *Result*" in joined] == list(range(17))
    assert slack.posts[0].args["unfurl_links"] is False


async def test_approval_card_buttons_come_back_as_actions(
    slack: ScriptedSlack, connected: tuple[SlackAdapter, Recorder]
) -> None:
    adapter, recorder = connected
    card = ApprovalCard(
        approval_id="ap-7", run="alpha-ch-x1", tool="execute_command", summary="rm -rf <!here>"
    )
    await adapter.send_approval(delivery(kind="approval", threadId="1700.1", approval=card))
    (posted,) = slack.posts
    assert posted.thread_ts == "1700.1"
    summary = {"type": "plain_text", "text": "rm -rf <!here>", "emoji": False}
    assert posted.blocks[1]["text"] == summary  # verbatim, so no mention is parsed
    buttons = {e["action_id"]: e["value"] for e in posted.blocks[2]["elements"]}
    assert buttons == {"approve": "ap-7", "deny": "ap-7"}
    slack.send_action(slack.button_press(posted, "approve", user="U0BOSS"))
    slack.send_action(slack.button_press(posted, "deny", user="U0OTHER"))
    await recorder.until(lambda: len(recorder.messages) == 2, "two presses")
    decisions = [(m.sender_id, m.action and m.action.decision) for m in recorder.messages]
    assert decisions == [("U0BOSS", "approve"), ("U0OTHER", "deny")]
    first = recorder.messages[0]
    assert (first.chat_id, first.thread_id, first.text) == (CHAT, "1700.1", "")
    assert first.action is not None and first.action.approval_id == "ap-7"


async def test_typing_is_an_hourglass_on_the_message_until_the_reply(
    slack: ScriptedSlack, connected: tuple[SlackAdapter, Recorder]
) -> None:
    adapter, _ = connected
    asked = delivery(kind="typing", threadId="1700.5", replyTo="1700.5")
    await adapter.send_typing(asked)
    await adapter.send_typing(asked)  # repeated while the run works: no error
    await adapter.send_typing(delivery(kind="typing"))  # nothing to react to: nothing posted
    await adapter.send_text(delivery(threadId="1700.5", replyTo="1700.5"), ["done"])
    reaction = ("hourglass_flowing_sand", CHAT, "1700.5")
    assert slack.reactions == [("add", *reaction), ("remove", *reaction)]
    assert [p.text for p in slack.posts] == ["done"]


# -- failures -------------------------------------------------------------------------------


async def test_bad_token_is_unauthorized_and_never_connected(slack: ScriptedSlack) -> None:
    recorder = Recorder()
    adapter = make_adapter(slack, SLACK_BOT_TOKEN="xoxb-wrong")
    with pytest.raises(UnauthorizedError, match="invalid_auth"):
        await asyncio.wait_for(adapter.run(recorder), 5)
    adapter = make_adapter(slack, SLACK_APP_TOKEN="")
    with pytest.raises(UnauthorizedError, match="SLACK_APP_TOKEN"):
        await asyncio.wait_for(adapter.run(recorder), 5)
    slack.revoke()
    with pytest.raises(UnauthorizedError):
        await adapter.send_text(delivery(), ["hi"])
    assert recorder.states == []
    await adapter.close()


async def test_rate_limit_carries_slack_retry_after(
    slack: ScriptedSlack, connected: tuple[SlackAdapter, Recorder]
) -> None:
    adapter, _ = connected
    slack.fail("chat.postMessage", "ratelimited", status=429, Retry_After="7")
    with pytest.raises(RateLimitedError) as caught:
        await adapter.send_text(delivery(), ["hi"])
    assert caught.value.retry_after == 7.0
    await adapter.send_text(delivery(), ["hi"])
    assert [p.text for p in slack.posts] == ["hi"]
    slack.fail("apps.connections.open", "ratelimited", status=429, Retry_After="30")
    with pytest.raises(RateLimitedError) as caught:
        await asyncio.wait_for(adapter.run(Recorder()), 5)
    assert caught.value.retry_after == 30.0


@pytest.mark.parametrize(
    ("error", "status", "expected"),
    [
        ("channel_not_found", 200, PlatformError),
        ("missing_scope", 200, UnauthorizedError),
        ("token_revoked", 200, UnauthorizedError),
        ("service_unavailable", 503, UnavailableError),
        ("ratelimited", 200, RateLimitedError),
    ],
    ids=["refused", "scope", "revoked", "5xx", "ratelimited-200"],
)
async def test_slack_failures_map_to_the_adapter_errors(
    slack: ScriptedSlack, error: str, status: int, expected: type[PlatformError]
) -> None:
    adapter = make_adapter(slack)
    slack.fail("chat.postMessage", error, status=status)
    with pytest.raises(PlatformError, match=error) as caught:
        await adapter.send_text(delivery(), ["hi"])
    assert type(caught.value) is expected
    await adapter.close()


@pytest.mark.parametrize("abrupt", [False, True], ids=["close-frame", "connection-cut"])
async def test_server_down_is_unavailable_and_a_later_run_reconnects(
    slack: ScriptedSlack, abrupt: bool
) -> None:
    adapter, recorder = make_adapter(slack), Recorder()
    async with running(adapter, recorder) as task:
        slack.down(abrupt)
        with pytest.raises(UnavailableError):
            await asyncio.wait_for(task, 5)
    with pytest.raises(UnavailableError):
        await adapter.send_text(delivery(), ["hi"])
    with pytest.raises(UnavailableError):
        await asyncio.wait_for(adapter.run(recorder), 5)
    slack.up()
    recorder.states.clear()
    async with running(adapter, recorder):
        slack.send_event(slack.message(CHAT, "back"))
        await recorder.until(lambda: recorder.texts() == ["back"], "a message after the outage")


# -- Events API webhook ---------------------------------------------------------------------


async def test_webhook_answers_challenge_and_refuses_bad_or_stale_signatures(
    slack: ScriptedSlack,
) -> None:
    adapter, recorder = make_adapter(slack, mode="webhook"), Recorder()
    async with running(adapter, recorder):
        base = f"http://127.0.0.1:{adapter.webhook_port}/slack"
        now = int(time.time())
        challenge = {"type": "url_verification", "challenge": "c-123", "token": "t"}
        assert await slack.post_event(f"{base}/events", challenge, now) == (200, "c-123")
        event = slack.event_callback(slack.message(CHAT, "via webhook"))
        assert (await slack.post_event(f"{base}/events", event, now, secret="wrong"))[0] == 401
        assert (await slack.post_event(f"{base}/events", event, now - 600))[0] == 401
        assert (await slack.post_event(f"{base}/events", event, now))[0] == 200
        await slack.post_event(f"{base}/events", event, now)  # Slack's retry: heard once
        card = await _post_card(adapter, slack)
        press = slack.button_press(card, "deny")
        assert (await slack.post_action(f"{base}/actions", press, now, secret="x"))[0] == 401
        assert (await slack.post_action(f"{base}/actions", press, now))[0] == 200
        await recorder.until(lambda: len(recorder.messages) == 2, "message and press")
    assert recorder.messages[0].text == "via webhook"
    assert recorder.messages[1].action is not None
    assert recorder.messages[1].action.decision == "deny"
    assert not any(method == "apps.connections.open" for method, _ in slack.calls)


async def _post_card(adapter: SlackAdapter, slack: ScriptedSlack) -> Any:
    card = ApprovalCard(approval_id="ap-1", run="r", tool="t", summary="s")
    await adapter.send_approval(delivery(kind="approval", approval=card))
    return slack.posts[-1]


# -- rendering ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "mrkdwn"),
    [
        ("**bold** and *it*", "*bold* and _it_"),
        ("## Heading", "*Heading*"),
        ("[site](https://a.example/x)", "<https://a.example/x|site>"),
        ("[x](javascript:alert(1))", "x (javascript:alert(1))"),
        ("<!channel> & <@U1>", "&lt;!channel&gt; &amp; &lt;@U1&gt;"),
        ("- one\n- two", "• one\n• two"),
        ("~~old~~", "~old~"),
        ("```python\nif a<b: **x**\n```", "```\nif a&lt;b: **x**\n```"),
        ("a\x00b\u202ec", "abc"),
        (
            "| a | **b** |\n|---|---|\n| 1 | 2 |\nafter",
            "```\n| a | **b** |\n|---|---|\n| 1 | 2 |\n```\nafter",
        ),
    ],
    ids=[
        "emphasis",
        "heading",
        "link",
        "unsafe-link",
        "escapes",
        "bullets",
        "strike",
        "code",
        "controls",
        "table",
    ],
)
def test_markdown_becomes_mrkdwn(slack: ScriptedSlack, markdown: str, mrkdwn: str) -> None:
    assert make_adapter(slack).render(markdown) == [mrkdwn]


def test_split_keeps_code_blocks_closed_and_drops_nothing(slack: ScriptedSlack) -> None:
    code = "\n".join(f"line {i} <tag>" for i in range(600))
    parts = make_adapter(slack).render(f"intro\n\n```\n{code}\n```\nend")
    assert len(parts) > 1 and all(len(p) <= 3_000 and p.count("```") % 2 == 0 for p in parts)
    lines = [ln for p in parts for ln in p.splitlines() if ln.startswith("line ")]
    assert lines == [f"line {i} &lt;tag&gt;" for i in range(600)]
    assert json.dumps(parts).count("intro") == 1 and parts[-1].endswith("end")
