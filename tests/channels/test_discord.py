"""DiscordAdapter with the real discord.py against the scripted Discord server: what a
person does arrives once with the right ids, what the bot sends lands where it should,
and failures come back as the adapter contract's errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager, suppress

import pytest

from k8sclaw_controllers.channels import _discord_format
from k8sclaw_controllers.channels._adapter import (
    ChannelConfig,
    PlatformError,
    RateLimitedError,
    UnauthorizedError,
    UnavailableError,
)
from k8sclaw_controllers.channels.discord import DiscordAdapter
from k8sclaw_protocol._chat import (
    MAX_TEXT_BYTES,
    ApprovalCard,
    Delivery,
)
from tests.channels._recorder import Recorder
from tests.harness.platforms import _discord_payloads as p
from tests.harness.platforms.discord import TOKEN, ScriptedDiscord

WAIT = 5.0


def _adapter(server: ScriptedDiscord, token: str = TOKEN) -> DiscordAdapter:
    env = {
        "DISCORD_BOT_TOKEN": token,
        "DISCORD_API_URL": server.api_url,
        "DISCORD_GATEWAY_URL": server.gateway_url,
    }
    return DiscordAdapter(ChannelConfig(channel="discord", instance="i", namespace="ns", env=env))


@asynccontextmanager
async def running(
    server: ScriptedDiscord, token: str = TOKEN
) -> AsyncIterator[tuple[DiscordAdapter, Recorder, asyncio.Task[None]]]:
    """The adapter's `run` in a task, Connected, cancelled and closed afterwards."""
    adapter, recorder = _adapter(server, token), Recorder()
    task = asyncio.create_task(adapter.run(recorder))
    task.add_done_callback(lambda _: recorder.changed.set())
    try:
        await recorder.until(lambda: recorder.connected or task.done())
        yield adapter, recorder, task
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError, PlatformError):
            await asyncio.wait_for(task, WAIT)
        await adapter.close()


def _delivery(**fields: object) -> Delivery:
    base = {"id": "d1", "channel": "discord", "chatId": p.CHANNEL_ID}
    return Delivery.model_validate(base | fields)


async def test_a_person_s_message_arrives_once_with_chat_thread_and_sender(
    discord_server: ScriptedDiscord,
) -> None:
    async with running(discord_server) as (_, recorder, _task):
        in_channel = await discord_server.user_message("hello")
        in_thread = await discord_server.user_message("in a thread", channel=p.THREAD_ID)
        in_dm = await discord_server.user_message("privately", channel=p.DM_CHANNEL_ID)
        await recorder.until(lambda: len(recorder.messages) == 3)
    first, second, third = recorder.messages
    assert (first.message_id, first.chat_id, first.thread_id) == (in_channel, p.CHANNEL_ID, None)
    assert (first.sender_id, first.sender_name, first.text) == (p.USER_ID, "alice", "hello")
    assert (second.message_id, second.chat_id, second.thread_id) == (
        in_thread,
        p.CHANNEL_ID,
        p.THREAD_ID,
    )
    assert (third.message_id, third.chat_id, third.thread_id) == (in_dm, p.DM_CHANNEL_ID, None)
    assert discord_server.identifies == 1


async def test_without_a_gateway_override_the_gateway_is_asked_from_rest(
    discord_server: ScriptedDiscord,
) -> None:
    env = {"DISCORD_BOT_TOKEN": TOKEN, "DISCORD_API_URL": discord_server.api_url}
    config = ChannelConfig(channel="discord", instance="i", namespace="ns", env=env)
    adapter, recorder = DiscordAdapter(config), Recorder()
    task = asyncio.create_task(adapter.run(recorder))
    task.add_done_callback(lambda _: recorder.changed.set())
    try:
        await recorder.until(lambda: recorder.connected or task.done())
        assert recorder.connected
    finally:
        task.cancel()
        await _settled(task)
        await adapter.close()
    assert discord_server.identifies == 1


async def test_own_and_other_bots_messages_are_ignored(discord_server: ScriptedDiscord) -> None:
    async with running(discord_server) as (_, recorder, _task):
        await discord_server.user_message("my own reply", author=p.BOT_USER)
        await discord_server.user_message("another bot", author=p.OTHER_BOT)
        last = await discord_server.user_message("a person")
        await recorder.until(lambda: bool(recorder.messages))
        await discord_server.user_message("a person again")
        await recorder.until(lambda: len(recorder.messages) == 2)
    assert recorder.messages[0].message_id == last
    assert [m.text for m in recorder.messages] == ["a person", "a person again"]


async def test_a_long_reply_arrives_split_complete_and_formatted_in_the_thread(
    discord_server: ScriptedDiscord,
) -> None:
    words = [f"word{i}" for i in range(900)]
    code = "\n".join(f"line {i} of the listing" for i in range(120))
    markdown = "**Result**\n\n" + " ".join(words) + "\n\n```python\n" + code + "\n```\ndone"
    adapter = _adapter(discord_server)
    try:
        parts = adapter.render(markdown)
        delivery = _delivery(threadId=p.THREAD_ID, replyTo="1000000000000000099")
        await adapter.send_text(delivery, parts)
    finally:
        await adapter.close()
    sent = discord_server.sent
    assert len(parts) >= 3
    assert [s.content for s in sent] == parts
    assert {s.channel_id for s in sent} == {p.THREAD_ID}
    assert all(len(s.content) <= adapter.text_limit for s in sent)
    assert all(s.content.count("```") % 2 == 0 for s in sent)  # every part renders alone
    joined = "\n".join(s.content for s in sent)
    assert joined.startswith("**Result**")
    assert all(w in joined.split() for w in words)
    assert all(f"line {i} of the listing" in joined for i in range(120))
    assert sent[0].body["message_reference"]["message_id"] == 1000000000000000099
    assert all("message_reference" not in s.body for s in sent[1:])
    assert all(s.body["allowed_mentions"]["parse"] == [] for s in sent)


async def test_an_approval_card_has_buttons_and_a_press_comes_back_as_an_action(
    discord_server: ScriptedDiscord,
) -> None:
    card = ApprovalCard(
        approval_id="ap-1", run="run-1", tool="execute_command", summary="rm -rf /tmp/x"
    )
    async with running(discord_server) as (adapter, recorder, _task):
        await adapter.send_approval(_delivery(kind="approval", approval=card))
        await discord_server.wait_until(lambda: bool(discord_server.sent))
        posted = discord_server.sent[0]
        (row,) = posted.body["components"]
        buttons = row["components"]
        assert (row["type"], [b["type"] for b in buttons]) == (1, [2, 2])
        assert [(b["label"], b["custom_id"]) for b in buttons] == [
            ("Approve", "approve:ap-1"),
            ("Deny", "deny:ap-1"),
        ]
        assert "rm -rf /tmp/x" in posted.content
        await discord_server.press("somebody-else:ap-1", message_id="1000000000000000050")
        press = await discord_server.press(
            "deny:ap-1", message_id="1000000000000000050", channel=p.THREAD_ID
        )
        await recorder.until(lambda: bool(recorder.messages))
        await discord_server.wait_until(lambda: bool(discord_server.callbacks))
    (action,) = recorder.messages
    assert action.action is not None
    assert (action.action.approval_id, action.action.decision) == ("ap-1", "deny")
    assert (action.sender_id, action.message_id) == (p.USER_ID, press)
    assert (action.chat_id, action.thread_id) == (p.CHANNEL_ID, p.THREAD_ID)
    assert action.text == ""
    assert discord_server.callbacks == [(press, {"type": 6})]


async def test_typing_shows_in_the_chat(discord_server: ScriptedDiscord) -> None:
    adapter = _adapter(discord_server)
    try:
        await adapter.send_typing(_delivery(kind="typing", threadId=p.THREAD_ID))
    finally:
        await adapter.close()
    assert discord_server.typing == [p.THREAD_ID]


@pytest.mark.parametrize("where", ["rest", "gateway"])
async def test_a_bad_token_is_unauthorized_and_never_connected(
    discord_server: ScriptedDiscord, where: str
) -> None:
    discord_server.refuse_identify = where == "gateway"
    token = TOKEN if where == "gateway" else "wrong-token"
    adapter, recorder = _adapter(discord_server, token), Recorder()
    try:
        with pytest.raises(UnauthorizedError, match="unauthorized"):
            await asyncio.wait_for(adapter.run(recorder), WAIT)
        if where == "rest":
            with pytest.raises(UnauthorizedError):
                await adapter.send_text(_delivery(), ["hi"])
    finally:
        await adapter.close()
    assert ("Connected", None) not in recorder.states
    assert token not in str(recorder.states)


async def test_an_empty_token_is_refused_without_a_request(discord_server: ScriptedDiscord) -> None:
    adapter = _adapter(discord_server, token="  ")
    with pytest.raises(UnauthorizedError):
        await adapter.run(Recorder())
    assert discord_server.identifies == 0


async def test_a_429_comes_back_with_the_server_s_retry_after(
    discord_server: ScriptedDiscord,
) -> None:
    discord_server.rate_limit(retry_after=61.5)
    adapter = _adapter(discord_server)
    try:
        with pytest.raises(RateLimitedError) as refused:
            await adapter.send_text(_delivery(), ["first", "second"])
        assert refused.value.retry_after == 61.5
        assert discord_server.sent == []
        await adapter.send_text(_delivery(), ["second"])  # the runtime's retry
    finally:
        await adapter.close()
    assert [s.content for s in discord_server.sent] == ["second"]


async def test_server_down_is_unavailable_and_a_later_run_resumes_without_loss(
    discord_server: ScriptedDiscord,
) -> None:
    async with running(discord_server) as (adapter, recorder, task):
        await discord_server.stop()
        with pytest.raises(UnavailableError):
            await asyncio.wait_for(task, WAIT)
        await recorder.until(lambda: recorder.states[-1][0] == "Disconnected")
        with pytest.raises(UnavailableError):
            await asyncio.wait_for(adapter.run(recorder), WAIT)
        with pytest.raises(UnavailableError):
            await adapter.send_text(_delivery(), ["lost?"])
        await discord_server.user_message("posted while the bot was away")
        await discord_server.start()
        again = asyncio.create_task(adapter.run(recorder))
        try:
            await recorder.until(lambda: recorder.connected)
            await discord_server.user_message("back")
            await recorder.until(lambda: len(recorder.messages) == 2)
            await adapter.send_text(_delivery(), ["reply"])
        finally:
            again.cancel()
            with suppress(asyncio.CancelledError):
                await again
    assert [m.text for m in recorder.messages] == ["posted while the bot was away", "back"]
    assert (discord_server.identifies, discord_server.resumes) == (1, 1)
    assert [s.content for s in discord_server.sent] == ["reply"]


async def test_a_reconnect_request_resumes_and_replays_what_was_missed(
    discord_server: ScriptedDiscord,
) -> None:
    async with running(discord_server) as (_, recorder, task):
        await discord_server.request_reconnect()
        await discord_server.user_message("during the reconnect")
        await recorder.until(lambda: bool(recorder.messages))
        await discord_server.wait_until(lambda: discord_server.resumes == 1)
        assert not task.done()
    assert [m.text for m in recorder.messages] == ["during the reconnect"]
    assert discord_server.identifies == 1


async def test_hostile_text_is_cleaned_and_capped(discord_server: ScriptedDiscord) -> None:
    huge = "ä" * (MAX_TEXT_BYTES + 5000)
    async with running(discord_server) as (_, recorder, _task):
        await discord_server.user_message("bell\x07 esc\x1b[31m rtl\u202egnp.exe\ttab\nline")
        await discord_server.user_message(huge)
        await recorder.until(lambda: len(recorder.messages) == 2)
    cleaned, capped = recorder.messages
    assert cleaned.text == "bell esc[31m rtlgnp.exe\ttab\nline"
    assert len(capped.text.encode()) <= MAX_TEXT_BYTES
    assert capped.text == "ä" * (MAX_TEXT_BYTES // 2)


BAD_FRAMES: dict[str, str | bytes] = {
    "not json": "{this is not json",
    "json but not an object": json.dumps([1, 2, 3]),
    "message without fields": json.dumps({"op": 0, "t": "MESSAGE_CREATE", "d": {}}),
    "interaction without fields": json.dumps(
        {"op": 0, "t": "INTERACTION_CREATE", "d": {"type": 3}}
    ),
    "unknown op": json.dumps({"op": 42, "d": None}),
    "unknown event": json.dumps({"op": 0, "t": "NOPE", "d": {}}),
}


@pytest.mark.parametrize("frame", list(BAD_FRAMES.values()), ids=list(BAD_FRAMES))
async def test_malformed_frames_never_crash_run(
    discord_server: ScriptedDiscord, frame: str | bytes
) -> None:
    adapter, recorder = _adapter(discord_server), Recorder()
    try:
        await _one_run(discord_server, adapter, recorder, frame, "after the frame")
        await _one_run(discord_server, adapter, recorder, None, "next run")
    finally:
        await adapter.close()
    texts = [m.text for m in recorder.messages]
    assert texts == ["after the frame", "next run"]  # a run that ended resumes: none lost


async def _one_run(
    server: ScriptedDiscord,
    adapter: DiscordAdapter,
    recorder: Recorder,
    frame: str | bytes | None,
    text: str,
) -> None:
    """One `run`: push `frame`, then a message; the run either hears it or ends with a
    contract error (a reconnect), never anything else."""
    recorder.states.clear()
    task = asyncio.create_task(adapter.run(recorder))
    task.add_done_callback(lambda _: recorder.changed.set())
    try:
        await recorder.until(lambda: recorder.connected or task.done())
        if frame is not None:
            await server.send_raw(frame)
        await server.user_message(text)
        await recorder.until(lambda: task.done() or any(m.text == text for m in recorder.messages))
    finally:
        task.cancel()
        await _settled(task)


async def _settled(task: Awaitable[None]) -> None:
    """Wait for a run task; only the contract's errors (or cancellation) may come out."""
    with suppress(asyncio.CancelledError, PlatformError):
        await asyncio.wait_for(task, WAIT)


async def test_deliveries_to_non_discord_ids_are_refused(discord_server: ScriptedDiscord) -> None:
    adapter = _adapter(discord_server)
    try:
        with pytest.raises(PlatformError, match="not a Discord"):
            await adapter.send_text(_delivery(chatId="../../guilds/1"), ["x"])
        with pytest.raises(PlatformError, match="not a Discord"):
            await adapter.send_typing(_delivery(chatId="\u0661\u0662"))  # Arabic-Indic digits
        long_id = ApprovalCard(approval_id="a" * 120, run="r", tool="t", summary="s")
        with pytest.raises(PlatformError, match="100"):
            await adapter.send_approval(_delivery(kind="approval", approval=long_id))
    finally:
        await adapter.close()
    assert discord_server.sent == []


RENDER_CASES = {
    "short": ("**bold** and `code`", ["**bold** and `code`"]),
    "empty": ("\n \n", []),
    "controls": ("a\x00b\x1b[2Jc\u202ed", ["ab[2Jcd"]),
}


@pytest.mark.parametrize(("markdown", "parts"), list(RENDER_CASES.values()), ids=list(RENDER_CASES))
def test_render_keeps_markdown_and_drops_controls(markdown: str, parts: list[str]) -> None:
    assert _discord_format.render(markdown) == parts


def test_render_cuts_a_word_without_spaces_hard_and_loses_nothing() -> None:
    text = "x" * 5000
    parts = _discord_format.render(text)
    assert "".join(parts) == text
    assert all(0 < len(part) <= _discord_format.TEXT_LIMIT for part in parts)


def test_render_closes_and_reopens_a_code_block_at_a_cut() -> None:
    code = "\n".join(f"print({i})" for i in range(400))
    parts = _discord_format.render(f"Here:\n```python\n{code}\n```\nbye")
    assert len(parts) >= 2
    assert all(part.count("```") % 2 == 0 for part in parts)
    assert all(part.startswith("```python") for part in parts[1:])
    assert all(f"print({i})" in "\n".join(parts) for i in range(400))
    assert parts[-1].endswith("bye")


def test_an_approval_card_text_fits_and_cannot_break_out_of_its_code_block() -> None:
    card = ApprovalCard(
        approval_id="a", run="r`un", tool="t", summary="```\n@everyone " + "y" * 4000
    )
    text = _discord_format.approval_text(card)
    assert len(text) <= _discord_format.TEXT_LIMIT
    assert text.count("```") == 2
    assert text.endswith("\u2026\n```")
