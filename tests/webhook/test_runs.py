"""The watch-fed run index behind the concurrency rule: counting, pending admissions,
and the watch against the API server (sync, events; 410 Gone and re-lists are the
shared list-watch's, tested in tests/controllers/manager/test_informer.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import kubernetes
import pytest

from k8sclaw_controllers.manager import _kube
from k8sclaw_controllers.webhook import ClusterSource, _runs
from k8sclaw_protocol import names
from tests.harness.kube import KubeEnv
from tests.policy._builders import run_body

NS = "team-a"


def _item(name: str, instance: str = "alpha", phase: str | None = None, **meta: Any) -> Any:
    body: dict[str, Any] = {
        "metadata": {"name": name, "namespace": NS, "resourceVersion": "7", **meta},
        "spec": {"instanceRef": instance},
    }
    if phase:
        body["status"] = {"phase": phase}
    return body


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _index(*items: Any) -> tuple[_runs.RunIndex, Clock]:
    clock = Clock()
    index = _runs.RunIndex(clock)
    index.listed(list(items))
    return index, clock


def test_unsynced_index_defers_to_a_live_list() -> None:
    assert _runs.RunIndex().count(NS, "alpha", "x") is None


def test_counts_only_active_runs_of_the_instance_and_namespace() -> None:
    index, _ = _index(
        _item("a"),
        _item("b", phase="Running"),
        _item("done", phase="Succeeded"),
        _item("failed", phase="Failed"),
        _item("leaving", deletionTimestamp="2026-01-01T00:00:00Z"),
        _item("other", instance="beta"),
    )
    assert index.count(NS, "alpha", exclude="") == 2
    assert index.count(NS, "alpha", exclude="a") == 1
    assert index.count("elsewhere", "alpha", exclude="") == 0


def test_watch_events_move_runs_in_and_out() -> None:
    index, _ = _index(_item("a"))
    index.changed("ADDED", _item("b"))
    assert index.count(NS, "alpha", "") == 2
    index.changed("MODIFIED", _item("a", phase="Succeeded"))
    assert index.count(NS, "alpha", "") == 1
    index.changed("DELETED", _item("b"))
    assert index.count(NS, "alpha", "") == 0
    index.interrupted()
    assert index.count(NS, "alpha", "") is None  # a failed watch defers to a live LIST


def test_a_relabelled_run_moves_to_its_new_instance() -> None:
    index, _ = _index(_item("a"))
    index.changed("MODIFIED", _item("a", instance="beta"))
    assert (index.count(NS, "alpha", ""), index.count(NS, "beta", "")) == (0, 1)


def test_admitted_runs_count_until_the_watch_shows_them_once() -> None:
    index, _ = _index(_item("a"))
    index.admitted(NS, "b", "alpha")
    assert index.count(NS, "alpha", "") == 2
    index.changed("ADDED", _item("b"))
    assert index.count(NS, "alpha", "") == 2
    index.admitted(NS, "a", "alpha")  # already known: not counted twice
    assert index.count(NS, "alpha", "") == 2


def test_admitted_runs_never_stored_expire() -> None:
    index, clock = _index()
    index.admitted(NS, "refused-later", "alpha")
    assert index.count(NS, "alpha", "") == 1
    clock.now += _runs.PENDING_TTL + 1
    assert index.count(NS, "alpha", "") == 0


class SignallingIndex(_runs.RunIndex):
    """A RunIndex that wakes the test on every list and event (no polling)."""

    def __init__(self) -> None:
        super().__init__()
        self.wake = asyncio.Event()

    def listed(self, items: list[dict[str, Any]]) -> None:
        super().listed(items)
        self.wake.set()

    def changed(self, kind: str, obj: dict[str, Any]) -> None:
        super().changed(kind, obj)
        self.wake.set()

    async def until(self, predicate: Any) -> None:
        async with asyncio.timeout(30):
            while not predicate():
                self.wake.clear()
                await self.wake.wait()


@pytest.fixture
async def watched(kube: KubeEnv) -> AsyncIterator[SignallingIndex]:
    client = _kube.Kube.connect(_kube.load_configuration(str(kube.kubeconfig)), limit=1)
    index = SignallingIndex()
    task = asyncio.create_task(_runs.keep(client, index))
    try:
        yield index
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()


def _create(kube: KubeEnv, name: str) -> None:
    body = run_body(name=name, namespace=kube.namespace)
    kubernetes.client.CustomObjectsApi(kube.api_client).create_namespaced_custom_object(
        names.GROUP, names.API_VERSION, kube.namespace, "agentruns", body
    )


async def test_watch_syncs_and_follows_creates(kube: KubeEnv, watched: SignallingIndex) -> None:
    await watched.until(lambda: watched.synced)
    await asyncio.to_thread(_create, kube, "first")
    await watched.until(lambda: watched.count(kube.namespace, "alpha", "") == 1)
    kube_client = _kube.Kube.connect(_kube.load_configuration(str(kube.kubeconfig)))
    try:
        source = ClusterSource(kube_client, watched)
        assert await source.active_runs(kube.namespace, "alpha", exclude="") == 1
        source.admitted(kube.namespace, "second", "alpha")
        assert await source.active_runs(kube.namespace, "alpha", exclude="") == 2
    finally:
        await kube_client.close()
