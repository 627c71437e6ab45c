"""Conversations: order within a chat, history, "queued", failures, restarts, typing."""

from __future__ import annotations

from pathlib import Path

from k8sclaw_controllers.manager import _kube
from k8sclaw_protocol import names
from tests.harness.kube import KubeEnv
from tests.harness.nats_fixtures import NatsServer
from tests.router._harness import eventually, routing, world


async def test_the_second_message_waits_and_then_sees_the_first_turn(
    nats: NatsServer, kube: KubeEnv, tmp_path: Path
) -> None:
    async with world(nats, kube, tmp_path) as w, routing(w) as router:
        await w.say("my name is Ada", "m-1")
        await w.say("what is my name?", "m-2")
        await w.say("and in another chat", "m-3", chat="c-2")
        runs = await eventually(lambda: _count(w, 2), what="two runs (one per chat)")
        first = next(r for r in runs if r.spec.task == "my name is Ada")
        assert {r.spec.task for r in runs} == {"my name is Ada", "and in another chat"}
        assert (
            len(router.chats[(w.ns, first.metadata.labels[names.LABEL_CHAT_SESSION])].waiting) == 1
        )
        await w.finish(first, result="hello Ada")
        runs = await eventually(lambda: _count(w, 3), what="the queued message's run")
        second = next(r for r in runs if r.spec.task == "what is my name?")
        assert second.spec.session_key == first.spec.session_key
        assert [(t.role, t.text) for t in second.spec.history or []] == [
            ("user", "my name is Ada"),
            ("assistant", "hello Ada"),
        ]
        assert [d.text for d in w.texts()] == ["hello Ada"]


async def _count(w, n: int):  # type: ignore[no-untyped-def]
    runs = await w.runs()
    return runs if len(runs) >= n else None


async def test_a_failed_run_gets_a_short_friendly_error(
    nats: NatsServer, kube: KubeEnv, tmp_path: Path
) -> None:
    async with world(nats, kube, tmp_path) as w, routing(w):
        await w.say("do it", "m-1")
        (run,) = await eventually(w.runs, what="the run")
        await w.finish(run, error="model said 401 " + "x" * 2000)
        (reply,) = await eventually(w.texts, what="the error reply")
        assert reply.text.startswith("Sorry, I could not finish that. (model said 401")
        assert len(reply.text) < 400


async def test_a_run_at_the_concurrency_limit_is_acknowledged(
    nats: NatsServer, kube: KubeEnv, tmp_path: Path
) -> None:
    async with world(nats, kube, tmp_path) as w, routing(w) as router:
        await w.say("do it", "m-1")
        (run,) = await eventually(w.runs, what="the run")
        queued = {
            "type": "Queued",
            "status": "True",
            "reason": "ConcurrencyLimit",
            "message": "5 runs are running, the limit is 5",
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        }
        await w.set_status(run, {"phase": "Pending", "conditions": [queued]})
        (notice,) = await eventually(w.texts, what="the queued notice")
        assert notice.text.startswith("Queued") and notice.chat_id == "c-1"
        await eventually(lambda: router.stats.queued_notices == 1, what="one notice")
        await w.set_status(run, {"phase": "Pending", "conditions": [queued], "podName": "p"})
        await w.finish(run, result="done")
        await eventually(lambda: len(w.texts()) == 2, what="the reply")
        assert [d.text for d in w.texts()] == [notice.text, "done"]


async def test_the_reply_is_posted_once_across_restarts(
    nats: NatsServer, kube: KubeEnv, tmp_path: Path
) -> None:
    async with world(nats, kube, tmp_path) as w:
        async with routing(w):
            await w.say("do it", "m-1")
            (run,) = await eventually(w.runs, what="the run")
        await w.finish(run, result="finished while the router was away")
        async with routing(w) as second:
            await eventually(lambda: second.stats.replies == 1, what="the reply after restart")
        async with routing(w) as third:
            await w.say("next", "m-2")
            await eventually(lambda: _count(w, 2), what="the next run")
            assert third.stats.replies == 0
        assert [d.text for d in w.texts()] == ["finished while the router was away"]


async def test_typing_is_sent_while_the_run_is_in_progress(
    nats: NatsServer, kube: KubeEnv, tmp_path: Path
) -> None:
    async with world(nats, kube, tmp_path) as w, routing(w, typing_seconds=0.2):
        await w.say("think hard", "m-1")
        (run,) = await eventually(w.runs, what="the run")
        typing = await eventually(lambda: w.texts("typing"), what="a typing indicator")
        assert typing[0].chat_id == "c-1"
        await w.finish(run, result="ok")
        await eventually(w.texts, what="the reply")


async def test_later_messages_take_the_turns_from_memory_not_the_store(
    nats: NatsServer, kube: KubeEnv, tmp_path: Path
) -> None:
    async with world(nats, kube, tmp_path) as w, routing(w) as router:
        await w.say("my name is Ada", "m-1")
        (first,) = await eventually(w.runs, what="the first run")
        assert router.histories.store_reads == 1
        await w.finish(first, result="hello Ada")
        await eventually(w.texts, what="the first reply")
        # The finished run is deleted (history limit, TTL): the router still holds its turn.
        await w.kube.delete(_kube.claw(w.ns, "agentruns", first.name))
        await eventually(lambda: (w.ns, first.name) not in router.runs, what="the delete seen")
        await w.say("what is my name?", "m-2")
        (second,) = await eventually(w.runs, what="the second run")
        assert [(t.role, t.text) for t in second.spec.history or []] == [
            ("user", "my name is Ada"),
            ("assistant", "hello Ada"),
        ]
        assert router.histories.store_reads == 1  # no second read: nothing was recorded
