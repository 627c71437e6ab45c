"""A ClawSchedule on the wall clock: `@every 2s` makes runs, deleting it deletes them.

The manager runs with its real clock against the API (emulator or a real cluster); the
waits are watches, and the interval is short so the test takes seconds.
"""

from __future__ import annotations

import asyncio
from typing import Any

import kubernetes

from k8sclaw_protocol import schedule_label
from tests.controllers.manager import _harness
from tests.controllers.manager._harness import GROUP, VERSION, create, custom, instance_body
from tests.harness.kube import KubeEnv

Body = dict[str, Any]


async def wait_no_runs(kube: KubeEnv, selector: str, within: int = 60) -> None:
    """Block on a watch until no AgentRun matches `selector`."""
    api = custom(kube)
    args = (GROUP, VERSION, kube.namespace, "agentruns")

    def blocking() -> None:
        listing = api.list_namespaced_custom_object(*args, label_selector=selector)
        if not listing["items"]:
            return
        watch = kubernetes.watch.Watch()
        for _event in watch.stream(
            api.list_namespaced_custom_object,
            *args,
            label_selector=selector,
            resource_version=listing["metadata"]["resourceVersion"],
            timeout_seconds=within,
        ):
            if not api.list_namespaced_custom_object(*args, label_selector=selector)["items"]:
                watch.stop()
                return
        raise TimeoutError(f"runs matching {selector} still exist after {within}s")

    await asyncio.to_thread(blocking)


async def test_every_two_seconds_creates_runs_owned_by_the_schedule(kube: KubeEnv) -> None:
    create(kube, "clawinstances", instance_body())
    spec = {"instanceRef": "alice", "schedule": "@every 2s", "task": "ping"}
    body = {"metadata": {"name": "pulse"}, "spec": {**spec, "concurrencyPolicy": "Allow"}}
    create(kube, "clawschedules", body)
    selector = f"k8sclaw.io/schedule={schedule_label('pulse')}"
    seen: set[str] = set()

    def new_run(run: Body) -> bool:
        seen.add(run["metadata"]["name"])
        return len(seen) >= 2

    async with _harness.running(_harness.settings_for(kube)):
        await _harness.wait_for(
            custom(kube).list_namespaced_custom_object,
            new_run,
            60,
            group=GROUP,
            version=VERSION,
            namespace=kube.namespace,
            plural="agentruns",
            label_selector=selector,
        )
        for name in seen:
            prefix, _, seconds = name.rpartition("-")
            assert prefix == "pulse"
            assert int(seconds) % 2 == 0  # @every ticks are aligned to the epoch
        custom(kube).delete_namespaced_custom_object(
            GROUP, VERSION, kube.namespace, "clawschedules", "pulse"
        )
        await wait_no_runs(kube, selector)  # owner references: no orphaned scheduled runs
