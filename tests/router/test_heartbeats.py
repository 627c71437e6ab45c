"""A heartbeat ClawSchedule with `deliverTo` posts each run's result to that chat, once,
through the router's reply path (the same as a chat message's run). The manager runs on
the wall clock (`@every 2s`); the test plays the agent by writing the run's result."""

from __future__ import annotations

from pathlib import Path

from k8sclaw_controllers.manager import _kube
from k8sclaw_protocol import AgentRun, names, schedule_label
from tests.controllers.manager import _harness
from tests.harness.kube import KubeEnv
from tests.harness.nats_fixtures import NatsServer
from tests.router._harness import INSTANCE, World, eventually, routing, world


def _schedule(**spec: object) -> dict[str, object]:
    return {
        "apiVersion": names.GROUP_VERSION,
        "kind": "ClawSchedule",
        "metadata": {"name": "pulse"},
        "spec": {
            "instanceRef": INSTANCE,
            "schedule": "@every 2s",
            "task": "anything to report?",
            "type": "heartbeat",
            "concurrencyPolicy": "Forbid",
            **spec,
        },
    }


async def _heartbeat_runs(w: World) -> list[AgentRun]:
    label = schedule_label("pulse")
    return [r for r in await w.runs() if r.metadata.labels.get(names.LABEL_SCHEDULE) == label]


async def test_a_heartbeat_posts_its_result_to_the_chat_once(
    nats: NatsServer, kube: KubeEnv, tmp_path: Path
) -> None:
    target = {"channel": "telegram", "chatId": "c-hb", "threadId": "t-1"}
    async with world(nats, kube, tmp_path) as w:
        async with (
            routing(w, typing_seconds=0.2) as router,
            _harness.running(_harness.settings_for(kube)),
        ):
            path = _kube.claw(w.ns, "clawschedules")
            await w.kube.create(path, _schedule(deliverTo=target))
            (run, *_) = await eventually(lambda: _heartbeat_runs(w), what="the heartbeat run")
            # No more ticks: each further run would post its own (correct) message.
            await w.kube.patch(f"{path}/pulse", {"spec": {"suspend": True}})
            meta = run.metadata
            assert meta.labels[names.LABEL_SOURCE_CHANNEL] == "telegram"
            assert meta.annotations[names.ANNOTATION_SOURCE_CHAT] == "c-hb"
            assert meta.annotations[names.ANNOTATION_SOURCE_THREAD] == "t-1"
            await w.finish(run, result="all quiet")
            (reply,) = await eventually(w.texts, what="the heartbeat's message")
            assert (reply.text, reply.chat_id, reply.thread_id) == ("all quiet", "c-hb", "t-1")
            assert reply.id == meta.uid
            await eventually(
                lambda: _annotated(w, run.name), what="the reply-sent mark on the heartbeat run"
            )
            assert router.stats.replies == 1
            assert not w.texts("typing")  # nobody in the chat is waiting for a heartbeat
        async with routing(w) as again:  # a restarted router does not post it again
            await eventually(lambda: (w.ns, run.name) in again.runs, what="the run seen again")
            assert again.stats.replies == 0
        assert [d.text for d in w.texts()] == ["all quiet"]  # exactly one message


async def test_a_scheduled_run_without_heartbeat_type_posts_nothing(
    nats: NatsServer, kube: KubeEnv, tmp_path: Path
) -> None:
    """`deliverTo` on another type is ignored (the CRD's CEL rule refuses it where the API
    server evaluates CEL; the controller ignores it everywhere)."""
    target = {"channel": "telegram", "chatId": "c-hb"}
    async with world(nats, kube, tmp_path) as w, routing(w) as router:
        body = _schedule(type="scheduled", deliverTo=target)
        try:
            await w.kube.create(_kube.claw(w.ns, "clawschedules"), body)
        except _kube.KubeError as exc:  # a real kube-apiserver: CEL refused it
            assert "deliverTo is only for type heartbeat" in str(exc)
            return
        async with _harness.running(_harness.settings_for(kube)):
            (run, *_) = await eventually(lambda: _heartbeat_runs(w), what="the scheduled run")
            assert names.LABEL_SOURCE_CHANNEL not in run.metadata.labels
            await w.kube.patch(
                _kube.claw(w.ns, "clawschedules", "pulse"), {"spec": {"suspend": True}}
            )
            await w.finish(run, result="done")
            await eventually(
                lambda: _terminal(w, run.name), what="the scheduled run's end observed"
            )
        assert router.stats.replies == 0 and not w.texts()


async def _annotated(w: World, name: str) -> bool:
    body = await w.kube.get(_kube.claw(w.ns, "agentruns", name))
    return names.ANNOTATION_REPLY_SENT in (body["metadata"].get("annotations") or {})


async def _terminal(w: World, name: str) -> bool:
    body = await w.kube.get(_kube.claw(w.ns, "agentruns", name))
    return AgentRun.from_wire(body).is_terminal
