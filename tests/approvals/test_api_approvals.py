"""The API server's approval routes under Kubernetes RBAC, with a real bus.

alice may do everything on the K8sClaw kinds in ns_a, bob may only read in ns_b, mallory
has a valid token and no binding (tests/controllers/apiserver/conftest.py)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import kubernetes

from k8sclaw_protocol import EventBus, events, names
from tests.controllers.apiserver._server import client
from tests.controllers.apiserver.conftest import (
    Tenants,
    second_namespace,
    streaming,
    tenants,
)
from tests.harness.kube import KubeEnv
from tests.harness.nats_fixtures import NatsServer
from tests.policy._builders import run_body

__all__ = ["second_namespace", "streaming", "tenants"]  # fixtures used here

PENDING = {"id": "a1b2", "tool": "execute_command", "summary": '{"command": "ls"}'}


def _waiting_run(kube: KubeEnv, namespace: str, name: str) -> None:
    """A run (created as admin) with one pending approval in its status."""
    custom = kubernetes.client.CustomObjectsApi(kube.api_client)
    args = (names.GROUP, names.API_VERSION, namespace, "agentruns")
    custom.create_namespaced_custom_object(*args, run_body(name=name, namespace=namespace))
    status = {"status": {"phase": "Running", "pendingApprovals": [PENDING]}}
    custom.patch_namespaced_custom_object_status(*args, name, status)


def _listed(base: str, token: str, namespace: str) -> Any:
    with client(base, token) as http:
        return http.get(f"/api/v1/namespaces/{namespace}/approvals")


def _decide(base: str, token: str, where: tuple[str, str, str], body: Any) -> Any:
    """POST a decision on (namespace, run, approval id)."""
    namespace, run, approval = where
    with client(base, token) as http:
        path = f"/api/v1/namespaces/{namespace}/runs/{run}/approvals/{approval}"
        return http.post(path, json=body)


async def _next_decision(nats: NatsServer, namespace: str, run: str) -> Any:
    bus = await EventBus.connect(nats.url, credentials=nats.creds_for("controller"))
    try:
        subject = events.scoped_filter(events.TOOL_APPROVAL_RESPONSE, namespace, run)
        async with bus.subscribe(subject, deliver="all") as sub:
            return await sub.next(10)
    finally:
        await bus.close()


def test_pending_approvals_are_listed_to_those_who_may_read_the_run(
    streaming: tuple[str, NatsServer], kube: KubeEnv, tenants: Tenants
) -> None:
    base, _ = streaming
    _waiting_run(kube, tenants.ns_a, "gated")
    reply = _listed(base, tenants.alice.token, tenants.ns_a)
    assert reply.status_code == 200, reply.text
    [item] = reply.json()["items"]
    assert item == {"run": "gated", "namespace": tenants.ns_a, **PENDING}
    for user in (tenants.bob, tenants.mallory):
        assert _listed(base, user.token, tenants.ns_a).json() == {"items": []}


def test_a_decision_needs_update_and_names_the_authenticated_user(
    streaming: tuple[str, NatsServer], kube: KubeEnv, tenants: Tenants
) -> None:
    base, nats = streaming
    _waiting_run(kube, tenants.ns_a, "gated")
    _waiting_run(kube, tenants.ns_b, "gated")
    forged = {"decision": "approve", "decidedBy": "system:admin"}
    alice = tenants.alice.token
    assert _decide(base, alice, (tenants.ns_a, "gated", "a1b2"), forged).status_code == 422
    for user, ns in ((tenants.bob, tenants.ns_b), (tenants.mallory, tenants.ns_a)):
        denied = _decide(base, user.token, (ns, "gated", "a1b2"), {"decision": "approve"})
        assert denied.status_code == 403, denied.text
    unknown = _decide(base, alice, (tenants.ns_a, "gated", "ffff"), {"decision": "deny"})
    assert unknown.status_code == 404 and "not pending" in unknown.text
    body = {"decision": "deny", "reason": "not today"}
    reply = _decide(base, tenants.alice.token, (tenants.ns_a, "gated", "a1b2"), body)
    assert reply.status_code == 200, reply.text
    got = asyncio.run(_next_decision(nats, tenants.ns_a, "gated"))
    assert got.subject == f"k8sclaw.tool.approval.response.{tenants.ns_a}.gated"
    assert {k: got.data[k] for k in ("id", "decision", "decidedBy", "via", "reason")} == {
        "id": "a1b2",
        "decision": "deny",
        "decidedBy": tenants.alice.username,
        "via": "api",
        "reason": "not today",
    }
    row = _approval_row(base, alice, tenants.ns_a, "gated")
    assert (row["data"]["decidedBy"], row["data"]["decision"]) == (tenants.alice.username, "deny")


def _approval_row(base: str, token: str, namespace: str, run: str) -> Any:
    """The decision's transcript row, once the recorder has stored it (bounded wait)."""
    with client(base, token) as http:
        for _ in range(200):
            page = http.get(f"/api/v1/namespaces/{namespace}/runs/{run}/transcript").json()
            rows = [e for e in page.get("events") or [] if e["kind"] == "approval"]
            if rows:
                return rows[0]
            time.sleep(0.05)
    raise AssertionError("the decision never reached the transcript")
