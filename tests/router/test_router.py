"""The router: a chat message becomes one AgentRun; its result becomes one reply."""

from __future__ import annotations

from pathlib import Path

from k8sclaw_controllers.router import Conversation, run_name
from k8sclaw_protocol import names
from tests.harness.kube import KubeEnv
from tests.harness.nats_fixtures import NatsServer
from tests.router._harness import INSTANCE, eventually, routing, world


async def test_a_message_becomes_a_labelled_run_and_its_result_a_reply(
    nats: NatsServer, kube: KubeEnv, tmp_path: Path
) -> None:
    async with world(nats, kube, tmp_path) as w, routing(w):
        await w.say("what time is it?", "m-1", chat="c-9", threadId="t-3")
        runs = await eventually(w.runs, what="the run")
        run = runs[0]
        meta = run.metadata
        assert meta.labels[names.LABEL_SOURCE_CHANNEL] == "telegram"
        assert meta.labels[names.LABEL_COMPONENT] == "router"
        assert meta.labels[names.LABEL_INSTANCE] == INSTANCE
        assert meta.annotations[names.ANNOTATION_SOURCE_CHAT] == "c-9"
        assert meta.annotations[names.ANNOTATION_SOURCE_THREAD] == "t-3"
        assert meta.annotations[names.ANNOTATION_SOURCE_SENDER] == "u-1"
        assert meta.annotations[names.ANNOTATION_SOURCE_MESSAGE] == "m-1"
        assert run.spec.task == "what time is it?"
        assert run.spec.instance_ref == INSTANCE and not run.spec.history
        conversation = Conversation(w.ns, INSTANCE, "telegram", "c-9", "t-3")
        assert run.spec.session_key == conversation.session_key
        assert run.name == run_name(conversation, "m-1")
        await w.finish(run, result="noon")
        replies = await eventually(w.texts, what="the reply")
        assert [(d.text, d.chat_id, d.thread_id, d.reply_to) for d in replies] == [
            ("noon", "c-9", "t-3", "m-1")
        ]
        assert replies[0].id == run.metadata.uid
        await eventually(lambda: _annotated(w, run.name), what="the reply-sent mark")


async def _annotated(w, name: str) -> bool:  # type: ignore[no-untyped-def]
    runs = {r.name: r for r in await w.runs()}
    return names.ANNOTATION_REPLY_SENT in runs[name].metadata.annotations


async def test_a_redelivered_message_starts_one_run(
    nats: NatsServer, kube: KubeEnv, tmp_path: Path
) -> None:
    async with world(nats, kube, tmp_path) as w:
        async with routing(w) as router:
            await w.say("hello", "m-1")
            await w.say("hello", "m-1")
            await eventually(w.runs, what="the run")
            await eventually(
                lambda: router.stats.runs_created + router.stats.duplicates >= 2, what="both"
            )
        async with routing(w) as again:  # and once more after a restart
            await w.say("hello", "m-1")
            await eventually(lambda: again.stats.duplicates >= 1, what="the restart")
        assert len(await w.runs()) == 1
