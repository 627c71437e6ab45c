"""The watch-fed run index behind the concurrency rule: counting, pending admissions,
and the watch against the API server (sync, events, re-list after 410 Gone)."""

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
    index.load({"metadata": {"resourceVersion": "5"}, "items": list(items)})
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
    assert index.resource_version == "5"


def test_watch_events_move_runs_in_and_out() -> None:
    index, _ = _index(_item("a"))
    index.apply({"type": "ADDED", "object": _item("b")})
    assert index.count(NS, "alpha", "") == 2
    index.apply({"type": "MODIFIED", "object": _item("a", phase="Succeeded")})
    assert index.count(NS, "alpha", "") == 1
    index.apply({"type": "DELETED", "object": _item("b")})
    assert index.count(NS, "alpha", "") == 0
    index.apply({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "99"}}})
    assert index.resource_version == "99"


def test_a_relabelled_run_moves_to_its_new_instance() -> None:
    index, _ = _index(_item("a"))
    index.apply({"type": "MODIFIED", "object": _item("a", instance="beta")})
    assert (index.count(NS, "alpha", ""), index.count(NS, "beta", "")) == (0, 1)


def test_admitted_runs_count_until_the_watch_shows_them_once() -> None:
    index, _ = _index(_item("a"))
    index.admitted(NS, "b", "alpha")
    assert index.count(NS, "alpha", "") == 2
    index.apply({"type": "ADDED", "object": _item("b")})
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
    """A RunIndex that wakes the test on every load and event (no polling)."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Condition()
        self.loads = 0

    def load(self, listing: dict[str, Any]) -> None:
        super().load(listing)
        self.loads += 1
        asyncio.get_running_loop().create_task(self._notify())

    def apply(self, event: dict[str, Any]) -> None:
        super().apply(event)
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def until(self, predicate: Any) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(predicate), timeout=30)


@pytest.fixture
async def watched(kube: KubeEnv) -> AsyncIterator[SignallingIndex]:
    watch = _runs.RunWatch(_kube.load_configuration(str(kube.kubeconfig)), SignallingIndex())
    task = asyncio.create_task(watch.run(retry=0))
    try:
        yield watch.index  # type: ignore[misc]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await watch.close()


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


async def test_watch_relists_after_its_history_is_compacted(kube: KubeEnv) -> None:
    if kube.emulator is None:
        pytest.skip("compaction is forced through the emulator")
    index = SignallingIndex()
    index.load({"metadata": {"resourceVersion": "1"}, "items": []})  # a stale start
    kube.emulator.compact()
    watch = _runs.RunWatch(_kube.load_configuration(str(kube.kubeconfig)), index)
    await asyncio.to_thread(_create, kube, "seen-by-relist")
    task = asyncio.create_task(watch.run(retry=0))
    try:
        await index.until(lambda: index.loads >= 2 and index.synced)
        assert index.count(kube.namespace, "alpha", "") == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await watch.close()
