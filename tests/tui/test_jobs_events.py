"""`:jobs` and `:events` (k9s's views of the built-in kinds) against the harness API:
rows from a live watch started only when the view is first opened."""

from __future__ import annotations

import asyncio

from k8sclaw.kube import Kube
from k8sclaw.tui import K8sClawApp
from k8sclaw.tui._screens import TextScreen
from k8sclaw_protocol import names
from tests.harness.kube import KubeEnv
from tests.tui.test_cluster import _colon, connect, names_shown, post_event, seed_cluster, until
from tests.tui.test_offline import cells


def create_job(api: Kube, ns: str, name: str, run: str) -> None:
    """An agent Job as the controller labels it (its pod never runs here: no kubelet)."""
    labels = {names.LABEL_ROLE: names.ROLE_AGENT, names.LABEL_AGENT_RUN: run}
    container = {"name": "agent", "image": "busybox", "command": ["true"]}
    body = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "template": {
                "metadata": {"labels": labels},
                "spec": {"restartPolicy": "Never", "containers": [container]},
            },
        },
    }
    api.request("POST", f"/apis/batch/v1/namespaces/{ns}/jobs", what="jobs", body=body)


def _watching(app: K8sClawApp) -> set[str]:
    return {w.kind for w in app.watchers}


async def test_jobs_and_events_views_are_live_and_watched_only_once_opened(
    kube: KubeEnv,
) -> None:
    api = connect(kube.kubeconfig)
    seed_cluster(api, kube.namespace)
    ns = kube.namespace
    create_job(api, ns, "alpha-run-1", "alpha-run-1")
    post_event(api, ns, "alpha.1", "Reconciled", "instance ready")
    app = K8sClawApp(api, namespace=ns)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: names_shown(app) == ["alpha"], "seeded instance")
        assert not {"jobs", "events"} & _watching(app)  # nobody looked yet

        await _colon(pilot, "jobs")
        assert app.view.name == "jobs" and "jobs" in _watching(app)
        await until(pilot, lambda: names_shown(app) == ["alpha-run-1"], "the Job")
        [row] = cells(app)
        assert row[:2] == ["alpha-run-1", "alpha-run-1"] and row[2] in ("0/1", "1/1")
        assert row[3] in ("Pending", "Running", "Complete")  # a real cluster may run it
        assert ":jobs" in str(app.query_one("#tabs").render())
        await asyncio.to_thread(create_job, api, ns, "alpha-run-2", "alpha-run-2")
        await until(pilot, lambda: len(names_shown(app)) == 2, "a new Job, live")
        await pilot.press("d")
        assert isinstance(app.screen, TextScreen) and "Kind:         Job" in app.screen.text
        await pilot.press("escape", "x")
        assert "jobs are not deleted from here" in str(app.query_one("#message").render())

        await _colon(pilot, "events")
        assert app.view.name == "events"
        await until(pilot, lambda: len(cells(app)) == 1, "the Event")
        [event] = cells(app)
        assert event[1:5] == ["Normal", "Reconciled", "clawinstance/alpha", "1"]
        assert event[5] == "instance ready"
        await asyncio.to_thread(post_event, api, ns, "alpha.2", "ChannelDown", "slack gone")
        await until(pilot, lambda: len(cells(app)) == 2, "a new Event, live")
        await _colon(pilot, "ev")  # the short name, as k9s
        assert app.view.name == "events"
        await _colon(pilot, "ns default")  # a namespace switch re-watches the open view
        await until(pilot, lambda: app.namespace == "default", "switched")
        assert {"jobs", "events"} & _watching(app) == {"events"}
