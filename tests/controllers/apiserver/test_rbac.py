"""Kubernetes RBAC decides what each caller sees and does through every route.

alice may do everything on the K8sClaw kinds in ns_a, bob may only read in ns_b, mallory
has a valid token and no binding. Runs unchanged on a real cluster.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import kubernetes
import pytest
import yaml

from tests.controllers.apiserver._objects import instance, schedule
from tests.controllers.apiserver._server import ADMIN_TOKEN, client
from tests.controllers.apiserver.conftest import Tenants
from tests.harness.kube import KubeEnv


def _error(response: httpx.Response, code: int) -> dict[str, Any]:
    assert response.status_code == code, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "reason", "message"}
    assert body["error"]["code"] == code
    return body["error"]


def _seed(kube: KubeEnv, tenants: Tenants) -> None:
    """One instance and one schedule in each namespace, created as cluster admin."""
    custom = kubernetes.client.CustomObjectsApi(kube.api_client)
    for ns in (tenants.ns_a, tenants.ns_b):
        body = instance(f"inst-{ns}")
        custom.create_namespaced_custom_object("k8sclaw.io", "v1alpha1", ns, "clawinstances", body)
        sched = {"apiVersion": "k8sclaw.io/v1alpha1", **schedule(f"sched-{ns}", f"inst-{ns}")}
        custom.create_namespaced_custom_object("k8sclaw.io", "v1alpha1", ns, "clawschedules", sched)


def test_health_and_metrics_need_no_token(api: str) -> None:
    with client(api, None) as http:
        assert http.get("/healthz").text == "ok"
        assert http.get("/readyz").status_code == 200
        assert "k8sclaw_apiserver_stream_clients" in http.get("/metrics").text


def test_api_without_or_with_a_bad_token_is_401(api: str) -> None:
    with client(api, None) as http:
        error = _error(http.get("/api/v1/instances"), 401)
        assert error["reason"] == "Unauthorized"
    with client(api, "not-a-real-token") as http:
        _error(http.get("/api/v1/namespaces/default/runs"), 401)


def test_each_user_lists_only_what_rbac_allows(api: str, kube: KubeEnv, tenants: Tenants) -> None:
    _seed(kube, tenants)
    expected = {
        tenants.alice.token: {f"inst-{tenants.ns_a}"},
        tenants.bob.token: {f"inst-{tenants.ns_b}"},
        tenants.mallory.token: set(),
    }
    for token, names in expected.items():
        with client(api, token) as http:
            listed = http.get("/api/v1/instances").json()["items"]
            mine = {o["metadata"]["name"] for o in listed}
            assert mine == names
    with client(api, ADMIN_TOKEN) as http:
        listed = {o["metadata"]["name"] for o in http.get("/api/v1/instances").json()["items"]}
        assert {f"inst-{tenants.ns_a}", f"inst-{tenants.ns_b}"} <= listed


def test_namespaces_are_those_the_caller_may_list_runs_in(api: str, tenants: Tenants) -> None:
    seen = {}
    for who, user in (("alice", tenants.alice), ("bob", tenants.bob), ("mallory", tenants.mallory)):
        with client(api, user.token) as http:
            seen[who] = [n["name"] for n in http.get("/api/v1/namespaces").json()["items"]]
    assert seen == {"alice": [tenants.ns_a], "bob": [tenants.ns_b], "mallory": []}


READS = [
    "/api/v1/namespaces/{ns}/{kind}",
    "/api/v1/namespaces/{ns}/{kind}/x-{ns}",
    "/api/v1/{kind}/x-{ns}?namespace={ns}",
    "/api/v1/{kind}?namespace={ns}",
]
KINDS = ["instances", "runs", "policies", "skills", "schedules"]
RUN_READS = [
    "/api/v1/namespaces/{ns}/runs/x/transcript",
    "/api/v1/namespaces/{ns}/runs/x/logs",
    "/api/v1/namespaces/{ns}/sessions",
    "/api/v1/namespaces/{ns}/sessions/some-session",
]


def _denied_everywhere(http: httpx.Client, ns: str) -> None:
    for template in READS:
        for kind in KINDS:
            _error(http.get(template.format(ns=ns, kind=kind)), 403)
    for path in RUN_READS:
        _error(http.get(path.format(ns=ns)), 403)
    for kind in ("instances", "schedules"):
        _error(http.post(f"/api/v1/namespaces/{ns}/{kind}", json=instance("y")), 403)
        _error(http.delete(f"/api/v1/namespaces/{ns}/{kind}/y"), 403)
        _error(http.delete(f"/api/v1/{kind}/y?namespace={ns}"), 403)
    run = {"instanceRef": f"inst-{ns}", "task": "hello"}
    _error(http.post(f"/api/v1/namespaces/{ns}/runs", json=run), 403)
    _error(http.post(f"/api/v1/runs?namespace={ns}", json=run), 403)
    _error(http.delete(f"/api/v1/namespaces/{ns}/runs/y"), 403)


def test_a_user_without_bindings_is_denied_every_route(api: str, tenants: Tenants) -> None:
    with client(api, tenants.mallory.token) as http:
        _denied_everywhere(http, tenants.ns_a)
        _denied_everywhere(http, tenants.ns_b)


def test_a_user_bound_to_one_namespace_is_denied_in_the_other(api: str, tenants: Tenants) -> None:
    with client(api, tenants.bob.token) as http:
        _denied_everywhere(http, tenants.ns_a)
    with client(api, tenants.alice.token) as http:
        _denied_everywhere(http, tenants.ns_b)


def test_a_reader_reads_but_cannot_write(api: str, kube: KubeEnv, tenants: Tenants) -> None:
    _seed(kube, tenants)
    ns = tenants.ns_b
    with client(api, tenants.bob.token) as http:
        got = http.get(f"/api/v1/namespaces/{ns}/instances/inst-{ns}")
        assert got.status_code == 200, got.text
        assert got.json()["metadata"]["name"] == f"inst-{ns}"
        assert "managedFields" not in got.json()["metadata"]
        assert http.get(f"/api/v1/schedules/sched-{ns}?namespace={ns}").status_code == 200
        _error(http.delete(f"/api/v1/namespaces/{ns}/instances/inst-{ns}"), 403)
        _error(http.post(f"/api/v1/namespaces/{ns}/schedules", json=schedule("s2", "x")), 403)
        run = {"instanceRef": f"inst-{ns}", "task": "hello"}
        _error(http.post(f"/api/v1/namespaces/{ns}/runs", json=run), 403)
        _error(http.get(f"/api/v1/namespaces/{ns}/instances/missing"), 404)


def test_a_writer_creates_and_deletes_in_its_namespace(api: str, tenants: Tenants) -> None:
    ns = tenants.ns_a
    with client(api, tenants.alice.token) as http:
        made = http.post(f"/api/v1/namespaces/{ns}/instances", json=instance("mine"))
        assert made.status_code == 201, made.text
        assert made.json()["metadata"]["namespace"] == ns
        again = http.post(f"/api/v1/namespaces/{ns}/instances", json=instance("mine"))
        assert _error(again, 409)["reason"] == "AlreadyExists"
        made = http.post(f"/api/v1/schedules?namespace={ns}", json=schedule("tick", "mine"))
        assert made.status_code == 201, made.text
        assert http.delete(f"/api/v1/namespaces/{ns}/schedules/tick").status_code == 204
        assert http.delete(f"/api/v1/instances/mine?namespace={ns}").status_code == 204
        _error(http.get(f"/api/v1/namespaces/{ns}/schedules/tick"), 404)


def test_runs_are_created_through_the_shared_builder(api: str, tenants: Tenants) -> None:
    ns = tenants.ns_a
    with client(api, tenants.alice.token) as http:
        assert (
            http.post(f"/api/v1/namespaces/{ns}/instances", json=instance("bot")).status_code == 201
        )
        made = http.post(f"/api/v1/namespaces/{ns}/runs", json={"instanceRef": "bot", "task": "hi"})
        assert made.status_code == 201, made.text
        run = made.json()
        assert run["metadata"]["name"].startswith("bot-run-")
        assert run["metadata"]["labels"]["k8sclaw.io/instance"] == "bot"
        assert run["spec"]["model"]["authSecretRef"] == "bot-openai-key"
        assert run["spec"]["model"]["provider"] == "openai"
        assert run["spec"]["sessionKey"].startswith("api-")
        missing = http.post(
            f"/api/v1/namespaces/{ns}/runs", json={"instanceRef": "nope", "task": "x"}
        )
        _error(missing, 404)
        empty = http.post(f"/api/v1/namespaces/{ns}/runs", json={"instanceRef": "bot", "task": " "})
        _error(empty, 422)
        name = run["metadata"]["name"]
        assert http.get(f"/api/v1/runs/{name}?namespace={ns}").status_code == 200
        assert http.delete(f"/api/v1/namespaces/{ns}/runs/{name}").status_code == 204


@pytest.mark.parametrize(
    ("method", "path", "code"),
    [
        ("GET", "/api/v1/nothing-here", 404),
        ("PUT", "/api/v1/namespaces/default/instances", 405),
        ("GET", "/api/v1/namespaces/Not_A_Namespace/instances", 422),
        ("POST", "/api/v1/namespaces/default/runs", 422),
    ],
)
def test_framework_errors_use_the_one_shape(api: str, method: str, path: str, code: int) -> None:
    with client(api, ADMIN_TOKEN) as http:
        _error(http.request(method, path, json={"unexpected": True}), code)


def test_oversized_bodies_are_refused_before_reading(api: str) -> None:
    with client(api, ADMIN_TOKEN) as http:
        big = {"instanceRef": "x", "task": "a" * (2 << 20)}
        _error(http.post("/api/v1/namespaces/default/runs", json=big), 413)


def test_an_unreachable_cluster_is_503_in_the_one_shape(kube: KubeEnv, tmp_path: Path) -> None:
    """Transport failures towards the cluster are the server's trouble, not the caller's."""
    from tests.controllers.apiserver._server import running, settings_for
    from tests.harness.nats_fixtures import free_port

    config = yaml.safe_load(kube.kubeconfig.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = f"http://127.0.0.1:{free_port()}"  # nothing listens
    dead = tmp_path / "dead-kubeconfig"
    dead.write_text(yaml.safe_dump(config))
    with running(settings_for(dead, tmp_path / "data")) as base, client(base, "some-token") as http:
        error = _error(http.get("/api/v1/namespaces/default/runs"), 503)
        assert "cannot be reached" in error["message"]
