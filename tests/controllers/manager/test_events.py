"""Events yield to reconciles: queued while one runs, posted once they pause, at the
latest after MAX_DELAY_SECONDS, and all at once on shutdown (flush)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import pytest

from k8sclaw_controllers.manager import _events, _kube
from tests.harness.kube import KubeEnv


@pytest.fixture
async def recorder(kube: KubeEnv) -> AsyncIterator[tuple[_events.Recorder, _kube.Kube]]:
    client = _kube.Kube.connect(_kube.load_configuration(str(kube.kubeconfig)))
    tasks: set[asyncio.Future[None]] = set()

    def spawn(coro: Coroutine[Any, Any, None]) -> None:
        tasks.add(asyncio.ensure_future(coro))

    yield _events.Recorder(client, spawn), client
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await client.close()


def _subject(kube: KubeEnv) -> dict[str, Any]:
    meta = {"name": "subject", "namespace": kube.namespace, "uid": "u-1"}
    return {"apiVersion": "k8sclaw.io/v1alpha1", "kind": "AgentRun", "metadata": meta}


async def _reasons(client: _kube.Kube, kube: KubeEnv) -> list[str]:
    return [e["reason"] for e in await client.items(_kube.core(kube.namespace, "events"))]


async def _until_posted(client: _kube.Kube, kube: KubeEnv, count: int) -> list[str]:
    for _ in range(200):
        reasons = await _reasons(client, kube)
        if len(reasons) >= count:
            return reasons
        await asyncio.sleep(0.025)
    raise AssertionError(f"only {await _reasons(client, kube)} posted")


async def test_queued_while_a_reconcile_runs_posted_when_it_ends(
    kube: KubeEnv, recorder: tuple[_events.Recorder, _kube.Kube]
) -> None:
    events, client = recorder
    with events.busy():
        events.record(_subject(kube), "JobCreated", "created Job subject", warning=False)
        await asyncio.sleep(0.3)  # six quiet periods: nothing may be posted meanwhile
        assert await _reasons(client, kube) == []
    assert await _until_posted(client, kube, 1) == ["JobCreated"]


async def test_a_never_idle_controller_still_posts_after_the_max_delay(
    kube: KubeEnv,
    recorder: tuple[_events.Recorder, _kube.Kube],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_events, "MAX_DELAY_SECONDS", 0.2)
    events, client = recorder
    with events.busy():
        events.record(_subject(kube), "Timeout", "the run timed out", warning=True)
        assert await _until_posted(client, kube, 1) == ["Timeout"]


async def test_flush_posts_everything_now(
    kube: KubeEnv, recorder: tuple[_events.Recorder, _kube.Kube]
) -> None:
    events, client = recorder
    with events.busy():
        for n in range(5):
            events.record(_subject(kube), f"Step{n}", "a step", warning=False)
        await events.flush(10)
        assert sorted(await _reasons(client, kube)) == [f"Step{n}" for n in range(5)]
