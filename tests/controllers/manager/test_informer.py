"""The manager's list-watch and informer: the API semantics (against the emulator, or a
real API server with K8SCLAW_TEST_KUBECONFIG), the edges a healthy server rarely shows
(410 Gone, errors, server-ended watches, huge objects) against a scripted HTTP server,
and per-object ordering and coalescing."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import kubernetes
import pytest
from aiohttp import web

from k8sclaw_controllers.manager import _informer, _kube
from tests.harness.kube import KubeEnv

Body = dict[str, Any]


@dataclass
class Recorder:
    """A Sink that remembers what it was told, and wakes waiters."""

    lists: list[list[str]] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)
    interruptions: int = 0
    bodies: list[Body] = field(default_factory=list)
    changed_event: asyncio.Event = field(default_factory=asyncio.Event)

    def listed(self, items: list[Body]) -> None:
        self.lists.append([i["metadata"]["name"] for i in items])
        self.bodies.extend(items)
        self.changed_event.set()

    def changed(self, kind: str, obj: Body) -> None:
        self.events.append((kind, obj["metadata"]["name"]))
        self.bodies.append(obj)
        self.changed_event.set()

    def interrupted(self) -> None:
        self.interruptions += 1
        self.changed_event.set()

    async def until(self, check: Callable[[], bool]) -> None:
        async with asyncio.timeout(20):
            while not check():
                self.changed_event.clear()
                await self.changed_event.wait()


@contextlib.asynccontextmanager
async def watching(kube: _kube.Kube, path: str, sink: Any, labels: str = "") -> AsyncIterator[None]:
    task = asyncio.create_task(_informer.list_watch(kube, path, sink, labels))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# -- against the API server (emulator or real) -----------------------------------------------


def configmap(name: str, **labels: str) -> Body:
    return {"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}


async def test_lists_then_follows_changes_in_order(kube: KubeEnv) -> None:
    core = kubernetes.client.CoreV1Api(kube.api_client)
    core.create_namespaced_config_map(kube.namespace, configmap("before", app="x"))
    client = _kube.Kube.connect(_kube.load_configuration(str(kube.kubeconfig)), limit=0)
    sink = Recorder()
    path = f"/api/v1/namespaces/{kube.namespace}/configmaps"
    try:
        async with watching(client, path, sink, "app=x"):
            await sink.until(lambda: bool(sink.lists))
            assert "before" in sink.lists[0]
            listed = next(b for b in sink.bodies if b["metadata"]["name"] == "before")
            assert (listed["apiVersion"], listed["kind"]) == ("v1", "ConfigMap")
            await asyncio.to_thread(
                core.create_namespaced_config_map, kube.namespace, configmap("other")
            )
            await asyncio.to_thread(
                core.create_namespaced_config_map, kube.namespace, configmap("after", app="x")
            )
            await asyncio.to_thread(
                core.patch_namespaced_config_map, "after", kube.namespace, {"data": {"k": "w"}}
            )
            await asyncio.to_thread(core.delete_namespaced_config_map, "after", kube.namespace)
            await sink.until(lambda: ("DELETED", "after") in sink.events)
    finally:
        await client.close()
    assert sink.events == [("ADDED", "after"), ("MODIFIED", "after"), ("DELETED", "after")]


# -- the edges, against a scripted API server ----------------------------------------------


def item(name: str, rv: str, size: int = 0) -> Body:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv}, "pad": "x" * size}


@dataclass
class Script:
    """What the scripted server answers: LIST bodies and WATCH event lists, in turn."""

    lists: list[tuple[int, Body]]
    watches: list[list[Body]]
    requests: list[dict[str, str]] = field(default_factory=list)
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    quiet: asyncio.Event = field(default_factory=asyncio.Event)


async def _serve(script: Script, request: web.Request) -> web.StreamResponse:
    query = dict(request.query)
    script.requests.append(query)
    if query.get("watch") != "true":
        status, body = script.lists.pop(0) if script.lists else (500, {"message": "no more"})
        return web.json_response(body, status=status)
    response = web.StreamResponse()
    await response.prepare(request)
    if not script.watches:  # a quiet watch, until the server shuts down
        script.quiet.set()
        await script.closing.wait()
        return response
    for event in script.watches.pop(0):
        await response.write(json.dumps(event).encode() + b"\n")
    return response  # the server ends this watch


@contextlib.asynccontextmanager
async def scripted(script: Script) -> AsyncIterator[_kube.Kube]:
    async def serve(request: web.Request) -> web.StreamResponse:
        return await _serve(script, request)

    app = web.Application()
    app.router.add_get("/api/v1/configmaps", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    config = kubernetes.client.Configuration()
    config.host = f"http://127.0.0.1:{port}"
    client = _kube.Kube.connect(config, limit=0)
    try:
        yield client
    finally:
        script.closing.set()
        await client.close()
        await runner.cleanup()


def listing(rv: str, *items: Body) -> tuple[int, Body]:
    body = {"apiVersion": "v1", "kind": "ConfigMapList", "metadata": {"resourceVersion": rv}}
    return 200, {**body, "items": list(items)}


async def test_a_watch_the_server_ends_resumes_from_the_last_version() -> None:
    script = Script(
        lists=[listing("10", item("a", "9"))],
        watches=[
            [{"type": "ADDED", "object": item("b", "11")}],
            [{"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "15"}}}],
            [{"type": "MODIFIED", "object": item("b", "16")}],
        ],
    )
    sink = Recorder()
    async with scripted(script) as client, watching(client, "/api/v1/configmaps", sink):
        await asyncio.wait_for(script.quiet.wait(), 20)
    versions = [r.get("resourceVersion") for r in script.requests if r.get("watch")]
    assert versions[:4] == ["10", "11", "15", "16"]
    assert sink.lists == [["a"]] and sink.events == [("ADDED", "b"), ("MODIFIED", "b")]
    assert all(r.get("allowWatchBookmarks") == "true" for r in script.requests if r.get("watch"))


async def test_410_gone_relists_and_reports_what_vanished_as_deleted() -> None:
    gone = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}
    script = Script(
        lists=[listing("10", item("a", "8"), item("b", "9")), listing("20", item("b", "19"))],
        watches=[[{"type": "ERROR", "object": gone}]],
    )
    calls: list[tuple[str | None, Body]] = []
    done = asyncio.Event()

    async def handler(body: Body, kind: str | None) -> None:
        calls.append((kind, body))
        if kind == "DELETED":
            done.set()

    informer = _informer.Informer(handler)
    async with scripted(script) as client, watching(client, "/api/v1/configmaps", informer):
        await asyncio.wait_for(done.wait(), 20)
    assert [(k, b["metadata"]["name"]) for k, b in calls] == [
        (None, "a"),
        (None, "b"),
        (None, "b"),
        ("DELETED", "a"),
    ]
    tombstone = calls[-1][1]
    assert tombstone == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"namespace": "ns", "name": "a"},
    }


async def test_a_failed_list_is_retried_and_reported_interrupted() -> None:
    script = Script(
        lists=[(500, {"message": "etcd down"}), listing("3", item("a", "2"))], watches=[]
    )
    sink = Recorder()
    async with scripted(script) as client, watching(client, "/api/v1/configmaps", sink):
        await sink.until(lambda: bool(sink.lists))
    assert sink.interruptions == 1 and sink.lists == [["a"]]


async def test_an_object_larger_than_a_stream_buffer_arrives_whole() -> None:
    big = item("big", "11", size=600_000)
    script = Script(lists=[listing("10")], watches=[[{"type": "ADDED", "object": big}]])
    sink = Recorder()
    async with scripted(script) as client, watching(client, "/api/v1/configmaps", sink):
        await sink.until(lambda: bool(sink.events))
    assert sink.bodies[-1] == big


# -- per-object ordering and coalescing ----------------------------------------------------


async def test_one_call_per_object_at_a_time_and_bursts_coalesce_to_the_latest() -> None:
    release = asyncio.Event()
    calls: list[tuple[str, str]] = []

    async def handler(body: Body, kind: str | None) -> None:
        calls.append((body["metadata"]["name"], body["metadata"]["resourceVersion"]))
        if body["metadata"]["name"] == "a":
            await release.wait()

    informer = _informer.Informer(handler)
    informer.changed("ADDED", item("a", "1"))
    informer.changed("MODIFIED", item("a", "2"))
    informer.changed("MODIFIED", item("a", "3"))
    informer.changed("ADDED", item("b", "4"))  # another object is not held up by "a"
    await asyncio.sleep(0)
    assert calls == [("a", "1"), ("b", "4")]
    release.set()
    await asyncio.gather(*informer.tasks)
    assert calls == [("a", "1"), ("b", "4"), ("a", "3")]


async def test_a_failing_handler_does_not_stop_the_next_event(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    async def handler(body: Body, kind: str | None) -> None:
        calls.append(body["metadata"]["resourceVersion"])
        if len(calls) == 1:
            informer.changed("MODIFIED", item("a", "2"))
            raise RuntimeError("boom")

    informer = _informer.Informer(handler)
    informer.changed("ADDED", item("a", "1"))
    while informer.tasks:
        await asyncio.gather(*informer.tasks)
    assert calls == ["1", "2"] and "boom" in caplog.text


async def test_a_silent_watch_is_closed_by_the_watchdog() -> None:
    script = Script(lists=[], watches=[])
    async with scripted(script) as client:
        params = {"watch": "true", "resourceVersion": "1"}
        with pytest.raises(TimeoutError, match="no data"):
            async for _ in client.stream_lines("/api/v1/configmaps", params, read_timeout=0.2):
                pass
    assert script.quiet.is_set()


async def test_nothing_is_handled_before_handling_starts_and_then_only_the_latest() -> None:
    handling = asyncio.Event()
    calls: list[tuple[str | None, str]] = []

    async def handler(body: Body, kind: str | None) -> None:
        calls.append((kind, body["metadata"]["resourceVersion"]))

    informer = _informer.Informer(handler, handling)
    informer.listed([item("a", "1"), item("b", "2")])
    informer.changed("MODIFIED", item("a", "3"))
    await asyncio.sleep(0.01)
    assert calls == [] and informer.knows(("ns", "a")) and informer.knows(("ns", "c")) is False
    handling.set()
    await asyncio.gather(*informer.tasks)
    assert calls == [("MODIFIED", "3"), (None, "2")]
