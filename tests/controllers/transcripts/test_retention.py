"""Retention per instance: idle runs expire by days, instances are trimmed to their newest
events, emptied runs and sessions go, and the policy comes from ClawInstance annotations."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from k8sclaw_controllers import transcripts
from k8sclaw_controllers.manager import _kube
from k8sclaw_protocol import EventBus, events, names
from tests.controllers.transcripts._helpers import info, new_event, opened, publish_scoped
from tests.harness.kube import KubeEnv
from tests.harness.nats_fixtures import NatsServer
from tests.policy._builders import run_body

DAY_MS = 86_400_000


def _policy(**overrides: transcripts.Retention) -> transcripts.RetentionPolicy:
    return transcripts.RetentionPolicy(
        default=transcripts.Retention(days=30, max_events=None),
        overrides={("team-a", name): keep for name, keep in overrides.items()},
    )


async def test_idle_runs_expire_by_their_instance_days(
    store_url: str | None, tmp_path: Path
) -> None:
    async with opened(store_url, tmp_path) as store:
        await store.record(
            [new_event(1, run="a1"), new_event(2, run="b1"), new_event(3, run="b2")],
            {
                ("team-a", "a1"): info(instance="alpha", session="sa"),
                ("team-a", "b1"): info(instance="beta", session="sb"),
                ("team-a", "b2"): info(instance="beta", session="sb"),
            },
        )
        now = int(time.time() * 1000)
        policy = _policy(alpha=transcripts.Retention(days=60))
        kept = await store.sweep(policy, now_ms=now + 29 * DAY_MS)
        assert kept == transcripts.SweepResult(events=0, runs=0, sessions=0)
        swept = await store.sweep(policy, now_ms=now + 31 * DAY_MS)
        runs = [r.run for r in await store.runs("team-a")]
        sessions = [s.key for s in await store.sessions("team-a")]
        gone = await store.transcript("team-a", "b1")
    assert swept == transcripts.SweepResult(events=2, runs=2, sessions=1)
    assert runs == ["a1"] and sessions == ["sa"]
    assert gone.run is None and gone.events == []


async def test_an_instance_keeps_only_its_newest_events(
    store_url: str | None, tmp_path: Path
) -> None:
    async with opened(store_url, tmp_path) as store:
        runs = {
            ("team-a", "old"): info(instance="gamma", session="s-old"),
            ("team-a", "new"): info(instance="gamma", session="s-new"),
            ("team-a", "other"): info(instance="delta"),
        }
        batch = [new_event(s, run="old") for s in range(1, 5)]
        batch += [new_event(s, run="new") for s in range(5, 9)]
        batch += [new_event(s, run="other") for s in range(9, 15)]
        await store.record(batch, runs)
        policy = _policy(gamma=transcripts.Retention(days=None, max_events=3))
        swept = await store.sweep(policy)
        again = await store.sweep(policy)
        new = await store.transcript("team-a", "new")
        other = await store.transcript("team-a", "other")
        listed = [r.run for r in await store.runs("team-a")]
        sessions = sorted(s.key for s in await store.sessions("team-a"))
    assert swept == transcripts.SweepResult(events=5, runs=1, sessions=1)
    assert again == transcripts.SweepResult(events=0, runs=0, sessions=0)
    assert [e.seq for e in new.events] == [0, 6, 7, 8]
    assert new.run is not None and new.run.event_count == 3
    assert other.run is not None and other.run.event_count == 6  # another instance: untouched
    assert listed == ["new", "other"] and sessions == ["s-1", "s-new"]


def test_policy_from_annotations_overrides_the_default_and_ignores_junk() -> None:
    default = transcripts.Retention(days=30, max_events=1000)

    def instance(name: str, **annotations: str) -> dict[str, object]:
        return {"metadata": {"name": name, "namespace": "team-a", "annotations": annotations}}

    policy = transcripts.policy_from_instances(
        [
            instance("a", **{transcripts.ANNOTATION_DAYS: "7"}),
            instance(
                "b", **{transcripts.ANNOTATION_MAX_EVENTS: "10", transcripts.ANNOTATION_DAYS: "x"}
            ),
            instance("c", **{transcripts.ANNOTATION_DAYS: "-1"}),
            {"metadata": None},
        ],
        default,
    )
    assert policy.for_instance("team-a", "a") == transcripts.Retention(days=7, max_events=1000)
    assert policy.for_instance("team-a", "b") == transcripts.Retention(days=30, max_events=10)
    assert policy.for_instance("team-a", "c") == default
    assert policy.for_instance("team-b", "a") == default


async def _trimmed(store: transcripts.SqlStore, ns: str, count: int) -> None:
    while True:
        page = await store.transcript(ns, "run-1", after=0, limit=1)
        if page.run is not None and page.run.event_count <= count:
            return
        await asyncio.sleep(0.05)


async def test_the_sweeper_enforces_annotated_retention_from_the_cluster(
    store_url: str | None, tmp_path: Path, kube: KubeEnv
) -> None:
    ns = kube.namespace
    client = _kube.Kube.connect(_kube.load_configuration(str(kube.kubeconfig)))
    body = {
        "apiVersion": names.GROUP_VERSION,
        "kind": "ClawInstance",
        "metadata": {"name": "alpha", "annotations": {transcripts.ANNOTATION_MAX_EVENTS: "2"}},
        "spec": {"agents": {"default": {"model": "gpt-4o"}}},
    }
    try:
        await client.create(_kube.claw(ns, "clawinstances"), body)
        async with opened(store_url, tmp_path) as store:
            await store.record(
                [new_event(s, namespace=ns) for s in range(1, 6)], {(ns, "run-1"): info()}
            )
            policy = transcripts.kube_policy(client, transcripts.Retention(days=None))
            sweeper = asyncio.create_task(transcripts.run_sweeper(store, policy, interval=0.05))
            try:
                await asyncio.wait_for(_trimmed(store, ns, 2), 60)
            finally:
                sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sweeper
            page = await store.transcript(ns, "run-1")
    finally:
        await client.close()
    assert [e.seq for e in page.events] == [0, 4, 5]


async def _recorded_and_trimmed(store: transcripts.SqlStore, ns: str, last: int) -> None:
    while True:
        page = await store.transcript(ns, "run-1", after=0, limit=1)
        if page.run is not None and page.run.last_seq == last and page.run.event_count == 2:
            return
        await asyncio.sleep(0.05)


async def test_run_transcripts_records_and_enforces_retention(
    store_url: str | None, tmp_path: Path, kube: KubeEnv, nats: NatsServer
) -> None:
    ns = kube.namespace
    client = _kube.Kube.connect(_kube.load_configuration(str(kube.kubeconfig)))
    instance = {
        "apiVersion": names.GROUP_VERSION,
        "kind": "ClawInstance",
        "metadata": {"name": "alpha", "annotations": {transcripts.ANNOTATION_MAX_EVENTS: "2"}},
        "spec": {"agents": {"default": {"model": "gpt-4o"}}},
    }
    bus = await EventBus.connect(nats.url)
    try:
        await client.create(_kube.claw(ns, "clawinstances"), instance)
        await client.create(_kube.claw(ns, "agentruns"), run_body("run-1", ns))
        async with opened(store_url, tmp_path) as store:
            items = [(events.AGENT_STREAM_CHUNK, ns, "run-1", {"index": i}) for i in range(5)]
            published = await publish_scoped(bus, items)
            service = asyncio.create_task(
                transcripts.run_transcripts(bus, store, client, sweep_interval=0.05)
            )
            try:
                await asyncio.wait_for(_recorded_and_trimmed(store, ns, published[-1]), 60)
            finally:
                service.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await service
            page = await store.transcript(ns, "run-1")
    finally:
        await bus.close()
        await client.close()
    assert [e.seq for e in page.events] == [0, *published[-2:]]
    assert page.run is not None and page.run.session == "s-1"
