"""Run the controller manager in the test's event loop and wait on watches, not sleeps."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import kubernetes

from k8sclaw_controllers.manager import Settings, _operator
from tests.harness.kube import KubeEnv

GROUP, VERSION = "k8sclaw.io", "v1alpha1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings_for(kube: KubeEnv, **overrides: Any) -> Settings:
    base = Settings(
        namespaces=(kube.namespace,),
        kubeconfig=str(kube.kubeconfig),
        event_bus_url="",
        metrics_host="127.0.0.1",
        metrics_port=0,
    )
    return replace(base, **overrides)


@contextlib.asynccontextmanager
async def running(settings: Settings, clock: Any = None) -> AsyncIterator[asyncio.Task[None]]:
    """The manager running until the block ends (or the caller cancels the task); its
    schedules read `clock` (a virtual one in the schedule tests) when given."""
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(_operator.run(settings, stop=stop, ready=ready, clock=clock))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()
    assert ready.is_set(), "the controller did not become ready within 30 s"
    try:
        yield task
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)


def custom(kube: KubeEnv) -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(kube.api_client)


def create(kube: KubeEnv, plural: str, body: dict[str, Any]) -> dict[str, Any]:
    kind = {
        "agentruns": "AgentRun",
        "clawinstances": "ClawInstance",
        "clawpolicies": "ClawPolicy",
        "skillpacks": "SkillPack",
        "clawschedules": "ClawSchedule",
    }[plural]
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, **body}
    result: dict[str, Any] = custom(kube).create_namespaced_custom_object(
        GROUP, VERSION, kube.namespace, plural, body
    )
    return result


def instance_body(name: str = "alice", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"agents": {"default": {"model": "gpt-4o"}}, **spec},
    }


def run_body(name: str, instance: str = "alice", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"k8sclaw.io/instance": instance}},
        "spec": {
            "instanceRef": instance,
            "sessionKey": f"s-{name}",
            "task": "say hi",
            "model": {"model": "gpt-4o"},  # provider, Secret and endpoint: the instance's
            **spec,
        },
    }


async def wait_for(
    list_fn: Callable[..., Any], predicate: Callable[[Any], bool], within: int = 30, **kwargs: Any
) -> Any:
    """Block (in a thread, on a watch) until some listed object satisfies `predicate`."""

    def blocking() -> Any:
        listing = list_fn(**kwargs)
        items = listing["items"] if isinstance(listing, dict) else listing.items
        for item in items:
            if predicate(item):
                return item
        version = (
            listing["metadata"]["resourceVersion"]
            if isinstance(listing, dict)
            else listing.metadata.resource_version
        )
        watch = kubernetes.watch.Watch()
        for event in watch.stream(
            list_fn, resource_version=version, timeout_seconds=within, **kwargs
        ):
            if predicate(event["object"]):
                watch.stop()
                return event["object"]
        raise TimeoutError(f"no object matched within {within}s")

    return await asyncio.to_thread(blocking)


async def wait_run(
    kube: KubeEnv, name: str, predicate: Callable[[dict[str, Any]], bool], within: int = 30
) -> dict[str, Any]:
    """Wait until AgentRun `name` satisfies `predicate`."""
    api = custom(kube)

    def match(obj: dict[str, Any]) -> bool:
        return bool(obj["metadata"]["name"] == name and predicate(obj))

    result: dict[str, Any] = await wait_for(
        api.list_namespaced_custom_object,
        match,
        within,
        group=GROUP,
        version=VERSION,
        namespace=kube.namespace,
        plural="agentruns",
    )
    return result


def phase(obj: dict[str, Any]) -> str:
    return str((obj.get("status") or {}).get("phase") or "")
