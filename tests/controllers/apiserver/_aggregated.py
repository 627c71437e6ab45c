"""The aggregated API under test: the API server with its TLS listener, registered with
the emulator as the APIService `v1alpha1.transcripts.k8sclaw.io`, and a seeded transcript.

Needs the emulator: a real kube-apiserver cannot reach a server in this test process.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import kubernetes

from k8sclaw_controllers import transcripts
from k8sclaw_controllers.apiserver import Settings
from k8sclaw_controllers.apiserver._main import Process
from k8sclaw_protocol import events
from tests.harness.kube import KubeEnv
from tests.harness.nats_fixtures import free_port

APISERVICE = "v1alpha1.transcripts.k8sclaw.io"
GROUP = "transcripts.k8sclaw.io"
SERVICE = ("k8sclaw-system", "k8sclaw-apiserver")


@dataclass(frozen=True)
class Served:
    """Where the API server listens (plain URL, TLS port)."""

    base: str
    secure_port: int
    process: Process


@contextmanager
def running_secure(settings: Settings) -> Iterator[Served]:
    """Both listeners of the API server in a thread, until the block ends."""
    settings = replace(
        settings, host="127.0.0.1", port=free_port(), secure_host="127.0.0.1", secure_port=0
    )
    process = Process(settings)
    thread = threading.Thread(target=asyncio.run, args=(process.serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not process.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start; see the log above")
        time.sleep(0.02)
    try:
        yield Served(f"http://127.0.0.1:{settings.port}", process.secure_port(), process)
    finally:
        process.stop()
        thread.join(timeout=30)


def register(kube: KubeEnv, port: int) -> None:
    """The APIService for a server on a self-signed pair, hence `insecureSkipTLSVerify`
    here; the shipped one is verified by the caBundle the server writes
    (`test_secure_tls.py`)."""
    assert kube.emulator is not None
    kube.emulator.route_service(*SERVICE, "127.0.0.1", port)
    body = {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": APISERVICE},
        "spec": {
            "group": GROUP,
            "version": "v1alpha1",
            "service": {"namespace": SERVICE[0], "name": SERVICE[1], "port": 443},
            "insecureSkipTLSVerify": True,
            "groupPriorityMinimum": 1000,
            "versionPriority": 15,
        },
    }
    api = kubernetes.client.ApiregistrationV1Api(kube.api_client)
    api.create_api_service(body)


def unregister(kube: KubeEnv) -> None:
    api = kubernetes.client.ApiregistrationV1Api(kube.api_client)
    api.delete_api_service(APISERVICE)


def seed(data_dir: Path, namespace: str, run: str, session: str = "chat-1") -> None:
    """A finished run's transcript: text, a tool call and its result, the result."""
    items: list[tuple[str, str, Any]] = [
        (
            events.AGENT_STREAM_CHUNK,
            "text",
            {"type": "text", "content": "Looking.", "index": 0},
        ),
        (
            events.AGENT_STREAM_CHUNK,
            "tool_call",
            {"type": "tool_use", "content": 'read_file {"path": "a.txt"}', "index": 1},
        ),
        (
            events.AGENT_STREAM_CHUNK,
            "tool_result",
            {"type": "tool_result", "content": "hello from a.txt", "index": 2},
        ),
        (
            events.AGENT_STREAM_CHUNK,
            "text",
            {"type": "text", "content": "It says hi.", "index": 3},
        ),
        (
            events.AGENT_RUN_COMPLETED,
            "result",
            {"status": "success", "response": "It says hi.", "metrics": {}},
        ),
    ]
    rows = [
        transcripts.NewEvent(
            seq=100 + i,
            namespace=namespace,
            run=run,
            topic=topic,
            kind=kind,  # type: ignore[arg-type]
            time_ms=1_700_000_000_000 + i,
            data_json=json.dumps(data),
        )
        for i, (topic, kind, data) in enumerate(items)
    ]
    info = transcripts.RunInfo(instance="bot", session_key=session, task="read a.txt")

    async def write() -> None:
        store = await transcripts.open_store(None, data_dir)
        try:
            await store.record(rows, {(namespace, run): info})
        finally:
            await store.close()

    asyncio.run(write())
