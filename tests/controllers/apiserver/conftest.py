"""Fixtures: an API server on the test cluster, and two users bound to two namespaces."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import kubernetes
import pytest

from k8sclaw_protocol import EventBus
from tests.controllers.apiserver._server import running, settings_for
from tests.harness.kube import KubeEnv
from tests.harness.nats_fixtures import NatsServer
from tests.harness.rbac_users import User, claw_rules, grant, make_user


@pytest.fixture
def api(kube: KubeEnv, tmp_path: Path) -> Iterator[str]:
    """Base URL of an API server without a bus."""
    with running(settings_for(kube.kubeconfig, tmp_path / "data")) as base:
        yield base


@pytest.fixture
def streaming(kube: KubeEnv, nats: NatsServer, tmp_path: Path) -> Iterator[tuple[str, NatsServer]]:
    # The controller owns the stream; the API server only reads it, as its own identity.
    asyncio.run(_make_stream(nats))
    creds = nats.creds_for("apiserver")
    settings = settings_for(kube.kubeconfig, tmp_path / "data", nats.url, creds)
    settings = replace(settings, ws_queue=32, access_cache_seconds=0.2)
    with running(settings) as base:
        yield base, nats


@dataclass(frozen=True)
class Tenants:
    """alice may do everything on the K8sClaw kinds in `ns_a` (and read pod logs there);
    bob only read them in `ns_b`; mallory has a token and no binding."""

    ns_a: str
    ns_b: str
    alice: User
    bob: User
    mallory: User


@pytest.fixture
def second_namespace(kube: KubeEnv) -> Iterator[str]:
    core = kubernetes.client.CoreV1Api(kube.api_client)
    name = f"t-{secrets.token_hex(4)}"
    core.create_namespace({"metadata": {"name": name, "labels": {"k8sclaw.io/test": "true"}}})
    yield name
    core.delete_namespace(name)


@pytest.fixture
def tenants(kube: KubeEnv, second_namespace: str) -> Tenants:
    client, ns_a, ns_b = kube.api_client, kube.namespace, second_namespace
    alice = make_user(client, ns_a, "alice")
    bob = make_user(client, ns_a, "bob")  # his account lives in ns_a; his rights in ns_b only
    mallory = make_user(client, ns_a, "mallory")
    everything = [
        *claw_rules("*"),
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    ]
    grant(client, ns_a, alice, everything)
    grant(client, ns_b, bob, claw_rules("get", "list", "watch"))
    return Tenants(ns_a, ns_b, alice, bob, mallory)


async def _make_stream(nats: NatsServer) -> None:
    bus = await EventBus.connect(nats.url, credentials=nats.creds_for("controller"))
    await bus.close()
