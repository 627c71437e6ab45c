"""The API server enforces transcript retention: its sweeper runs at start, with the
limits a ClawInstance's annotations set."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import kubernetes

from k8sclaw_controllers import transcripts
from tests.controllers.apiserver._objects import instance
from tests.controllers.apiserver._server import ADMIN_TOKEN, client, running, settings_for
from tests.controllers.transcripts._helpers import info, new_event
from tests.harness.kube import KubeEnv


def _seed(data_dir: Path, namespace: str, count: int) -> None:
    async def go() -> None:
        store = await transcripts.open_store(None, data_dir)
        try:
            batch = [
                new_event(seq, run="old-run", namespace=namespace) for seq in range(1, count + 1)
            ]
            await store.record(batch, {(namespace, "old-run"): info(instance="alpha")})
        finally:
            await store.close()

    asyncio.run(go())


def test_instance_max_events_is_enforced_by_the_server(kube: KubeEnv, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    _seed(data_dir, kube.namespace, 5)
    body = instance("alpha")
    body["metadata"]["annotations"] = {transcripts.ANNOTATION_MAX_EVENTS: "2"}
    custom = kubernetes.client.CustomObjectsApi(kube.api_client)
    custom.create_namespaced_custom_object(
        "k8sclaw.io", "v1alpha1", kube.namespace, "clawinstances", body
    )
    path = f"/api/v1/namespaces/{kube.namespace}/runs/old-run/transcript"
    with (
        running(settings_for(kube.kubeconfig, data_dir)) as base,
        client(base, ADMIN_TOKEN) as http,
    ):
        deadline = time.monotonic() + 60
        while True:
            seqs = [e["seq"] for e in http.get(path).json()["events"] if e["seq"] > 0]
            if len(seqs) <= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert seqs == [4, 5]  # the newest two kept
