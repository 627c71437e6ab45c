"""Transcripts and sessions through the API: recorded from the bus by the recorder that
runs inside the API server, readable after the run (and its pod) are gone, only by
callers who may `get` the run (`list` runs for sessions)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.controllers.apiserver._objects import instance
from tests.controllers.apiserver._server import client
from tests.controllers.apiserver.conftest import Tenants
from tests.controllers.apiserver.test_stream import _publish
from tests.harness.nats_fixtures import NatsServer


def _wait_transcript(http: httpx.Client, path: str, texts: int) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        got = http.get(path)
        assert got.status_code == 200, got.text
        page: dict[str, Any] = got.json()
        if len(_texts(page)) >= texts or time.monotonic() > deadline:
            return page
        time.sleep(0.2)


def _texts(page: dict[str, Any]) -> list[Any]:
    return [e["data"] for e in page["events"] if e["topic"].startswith("agent.stream.chunk")]


def test_a_run_leaves_a_transcript_readable_after_it_is_deleted(
    streaming: tuple[str, NatsServer], tenants: Tenants
) -> None:
    base, nats = streaming
    a = tenants.ns_a
    with client(base, tenants.alice.token) as http:
        assert http.post(f"/api/v1/namespaces/{a}/instances", json=instance("bot")).is_success
        body = {"instanceRef": "bot", "task": "count to three", "sessionKey": "chat-42"}
        run = http.post(f"/api/v1/namespaces/{a}/runs", json=body).json()["metadata"]["name"]
        chunks = [{"type": "text", "content": word} for word in ("one", "two", "three")]
        _publish(nats, [(a, run, chunk) for chunk in chunks])
        path = f"/api/v1/namespaces/{a}/runs/{run}/transcript"
        page = _wait_transcript(http, path, 3)
        assert [t["content"] for t in _texts(page)] == ["one", "two", "three"]
        assert page["run"]["instance"] == "bot"
        assert page["run"]["session"] == "chat-42"
        assert http.delete(f"/api/v1/namespaces/{a}/runs/{run}").status_code == 204
        after = http.get(path).json()
        assert [t["content"] for t in _texts(after)] == ["one", "two", "three"]
        sessions = http.get(f"/api/v1/namespaces/{a}/sessions").json()["items"]
        assert [s["key"] for s in sessions] == ["chat-42"]
        detail = http.get(f"/api/v1/namespaces/{a}/sessions/chat-42").json()
        assert [r["run"] for r in detail["runs"]] == [run]
        missing = http.get(f"/api/v1/namespaces/{a}/sessions/nope")
        assert missing.status_code == 404
        assert missing.json()["error"]["reason"] == "NotFound"
        unknown = http.get(f"/api/v1/namespaces/{a}/runs/never-was/transcript")
        assert unknown.status_code == 404
    with client(base, tenants.bob.token) as http:
        assert http.get(path).status_code == 403
        assert http.get(f"/api/v1/namespaces/{tenants.ns_b}/sessions").json()["items"] == []
