"""The mutating webhook stamps the deciding user into `k8sclaw.io/approval-decision`:
identity comes from the API server's authentication, never from the annotation value."""

from __future__ import annotations

import json
from typing import Any

import kubernetes

from k8sclaw_controllers.webhook._approval import stamp_patches
from k8sclaw_controllers.webhook._review import AdmissionRequest
from k8sclaw_protocol import names
from tests.harness.kube import KubeEnv
from tests.harness.rbac_users import User, claw_rules, grant, make_user
from tests.policy._builders import run_body
from tests.webhook.test_e2e import Cluster, _setup, cluster, enforcing, webhook

__all__ = ["cluster", "enforcing", "webhook"]  # fixtures used here

KEY = names.ANNOTATION_APPROVAL_DECISION


def _with(value: str | None) -> dict[str, Any]:
    body = run_body(name="r1")
    if value is not None:
        body["metadata"]["annotations"] = {KEY: value}
    return body


def _request(new: str | None, old: str | None, op: str = "UPDATE") -> AdmissionRequest:
    return AdmissionRequest(
        uid="u", operation=op, namespace="ns", object=_with(new), old_object=_with(old), user="bob"
    )


def test_a_new_decision_gets_the_requesting_user_whatever_it_claims() -> None:
    forged = json.dumps({"id": "a1", "decision": "approve", "decidedBy": "admin", "via": "x"})
    [patch] = stamp_patches(_request(forged, None))
    assert patch["path"] == "/metadata/annotations/k8sclaw.io~1approval-decision"
    assert json.loads(patch["value"]) == {"id": "a1", "decision": "approve", "decidedBy": "bob"}


def test_unchanged_absent_or_malformed_decisions_are_left_alone() -> None:
    same = json.dumps({"id": "a1", "decision": "deny", "decidedBy": "carol"})
    assert stamp_patches(_request(same, same)) == []
    assert stamp_patches(_request(None, same)) == []
    assert stamp_patches(_request("not json", None)) == []
    assert stamp_patches(_request("[1]", None)) == []


def _client_as(kube: KubeEnv, user: User) -> kubernetes.client.CustomObjectsApi:
    admin = kube.api_client.configuration
    config = kubernetes.client.Configuration()
    config.host, config.ssl_ca_cert = admin.host, admin.ssl_ca_cert
    config.verify_ssl = admin.verify_ssl
    config.api_key = {"authorization": f"Bearer {user.token}"}
    return kubernetes.client.CustomObjectsApi(kubernetes.client.ApiClient(config))


def test_the_api_server_names_the_user_who_annotated(enforcing: Cluster, kube: KubeEnv) -> None:
    _setup(enforcing)
    enforcing.create("agentruns", run_body(name="gated"))
    carol = make_user(kube.api_client, kube.namespace, "carol")
    grant(kube.api_client, kube.namespace, carol, claw_rules("get", "patch", "update"))
    forged = {"id": "a1", "decision": "approve", "decidedBy": "system:admin"}
    patch = {"metadata": {"annotations": {KEY: json.dumps(forged)}}}
    stored = _client_as(kube, carol).patch_namespaced_custom_object(
        names.GROUP, names.API_VERSION, kube.namespace, "agentruns", "gated", patch
    )
    value = json.loads(stored["metadata"]["annotations"][KEY])
    assert value == {"id": "a1", "decision": "approve", "decidedBy": carol.username}
