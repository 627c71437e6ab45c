"""Helpers shared by the fidelity tests: API handles and waiting on watches (never sleeps)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

import kubernetes

from k8sclaw_protocol import names
from tests.harness.kube import KubeEnv

GROUP = names.GROUP
VERSION = names.API_VERSION
PLURAL = "agentruns"


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def core(kube: KubeEnv) -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(kube.api_client)


def custom(kube: KubeEnv) -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(kube.api_client)


def agent_run(name: str, task: str = "say hello", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AgentRun",
        "metadata": {"name": name},
        "spec": {
            "instanceRef": "demo",
            "sessionKey": f"{name}-session",
            "task": task,
            "model": {"provider": "openai", "model": "gpt-4o"},
            **spec,
        },
    }
    return body


def wait_for(
    list_fn: Callable[..., Any],
    predicate: Callable[[dict[str, Any]], bool],
    timeout: int = 30,
    **kwargs: Any,
) -> dict[str, Any]:
    """Watch `list_fn` until an event's object (as a dict) satisfies `predicate`."""
    watch = kubernetes.watch.Watch()
    for event in watch.stream(list_fn, timeout_seconds=timeout, **kwargs):
        obj = event["object"]
        if not isinstance(obj, dict):
            obj = kubernetes.client.ApiClient().sanitize_for_serialization(obj)
        if predicate(obj):
            watch.stop()
            return obj
    raise AssertionError(f"condition not met within {timeout}s")


def wait_gone(list_fn: Callable[..., Any], name: str, timeout: int = 30, **kwargs: Any) -> None:
    """Block until the object `name` does not exist (DELETED event, or already absent)."""
    listing = list_fn(field_selector=f"metadata.name={name}", **kwargs)
    items = listing["items"] if isinstance(listing, dict) else listing.items
    if not items:
        return
    rv = (
        listing["metadata"]["resourceVersion"]
        if isinstance(listing, dict)
        else listing.metadata.resource_version
    )
    watch = kubernetes.watch.Watch()
    for event in watch.stream(
        list_fn,
        field_selector=f"metadata.name={name}",
        resource_version=rv,
        timeout_seconds=timeout,
        **kwargs,
    ):
        if event["type"] == "DELETED":
            watch.stop()
            return
    raise AssertionError(f"{name} still exists after {timeout}s")


def raw(
    kube: KubeEnv,
    method: str,
    path: str,
    body: Any = None,
    content_type: str = "application/json",
    **query: str,
) -> tuple[int, dict[str, Any]]:
    """One HTTP call through the configured client (auth included): (status code, JSON body)."""
    client = kube.api_client
    request = client.param_serialize(
        method,
        path,
        query_params=list(query.items()),
        body=body,
        auth_settings=["BearerToken"],
        header_params={"Content-Type": content_type, "Accept": "application/json"},
    )
    response = client.call_api(*request)
    data = response.read()
    return response.status, json.loads(data) if data else {}
