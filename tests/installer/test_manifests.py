"""The bundled manifests, checked offline: schema-valid, pinned, least-privilege, restricted."""

from __future__ import annotations

import base64
from typing import Any

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner

from k8sclaw import __version__
from k8sclaw.cli import cli
from k8sclaw.installer import STEPS, _bussecrets, load_bundle, to_yaml
from k8sclaw_protocol import BusKeys, names
from tests.support import crdschema

K8S_VERSION = "1.32.0"


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    result = CliRunner().invoke(cli, ["install", "--dry-run", "-n", "team-a"])
    assert result.exit_code == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def _of(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def test_dry_run_is_the_whole_bundle_in_spec_order(docs: list[dict[str, Any]]) -> None:
    steps = load_bundle(__version__, "team-a")
    assert [d["metadata"]["name"] for d in docs] == [
        o["metadata"]["name"] for s in steps for o in s.objects
    ]
    assert [s.name for s in steps] == [name for name, _ in STEPS]
    assert docs[0]["kind"] == "Namespace" and docs[0]["metadata"]["name"] == names.SYSTEM_NAMESPACE
    kinds = [d["kind"] for d in docs]
    assert kinds.index("CustomResourceDefinition") < kinds.index("ClusterRole")
    assert kinds.index("StatefulSet") < kinds.index("Deployment")
    assert kinds.index("Deployment") < kinds.index("ValidatingWebhookConfiguration")
    assert kinds.index("NetworkPolicy") < kinds.index("ClawPolicy") < kinds.index("SkillPack")


def test_builtin_kinds_pass_the_kubernetes_schema(docs: list[dict[str, Any]]) -> None:
    builtin = [d for d in docs if d["apiVersion"] != names.GROUP_VERSION]
    assert len(builtin) > 20
    for doc in builtin:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_custom_resources_pass_our_crd_schemas(docs: list[dict[str, Any]]) -> None:
    custom = [d for d in docs if d["apiVersion"] == names.GROUP_VERSION]
    assert {d["kind"] for d in custom} == {"ClawPolicy", "SkillPack"}
    assert {d["metadata"]["name"] for d in _of(custom, "ClawPolicy")} == {
        "restrictive",
        "permissive",
        "network-isolated",
    }
    for doc in custom:
        assert crdschema.errors(doc) == [], doc["metadata"]["name"]
        assert doc["metadata"]["namespace"] == "team-a"


def test_every_k8sclaw_image_is_pinned_to_the_cli_version(docs: list[dict[str, Any]]) -> None:
    text = to_yaml(load_bundle(__version__, "x"))
    ours = {line.split()[-1] for line in text.splitlines() if names.IMAGE_REGISTRY in line}
    assert ours == {
        names.image(names.IMAGE_CONTROLLER),
        names.image(names.IMAGE_APISERVER),
        names.image(names.IMAGE_WEBHOOK),
        names.image(names.IMAGE_SANDBOX),
    }
    assert ":latest" not in text
    for doc in docs:
        assert doc["metadata"]["labels"]["app.kubernetes.io/version"] == __version__


def test_rbac_has_no_wildcards(docs: list[dict[str, Any]]) -> None:
    roles = _of(docs, "ClusterRole") + _of(docs, "Role")
    assert len(roles) >= 5
    for role in roles:
        for rule in role["rules"]:
            for key in ("verbs", "resources", "apiGroups", "resourceNames"):
                assert "*" not in rule.get(key, []), (role["metadata"]["name"], rule)
            assert "escalate" not in rule["verbs"] and "bind" not in rule["verbs"]
            assert "nonResourceURLs" not in rule


def test_no_role_may_write_secrets_beyond_the_tls_ones(docs: list[dict[str, Any]]) -> None:
    """Only the webhook's and the API server's own TLS Secrets, each by its own Role."""
    for role in _of(docs, "ClusterRole") + _of(docs, "Role"):
        for rule in role["rules"]:
            if "secrets" in rule["resources"] and set(rule["verbs"]) & {
                "update",
                "patch",
                "delete",
            }:
                own = role["metadata"]["name"]
                assert own in ("k8sclaw-webhook-tls", "k8sclaw-apiserver-tls"), own
                assert rule.get("resourceNames") == [own], role["metadata"]


def test_nats_statefulset_keeps_jetstream_on_a_volume(docs: list[dict[str, Any]]) -> None:
    (sts,) = _of(docs, "StatefulSet")
    spec = sts["spec"]
    assert spec["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    container = spec["template"]["spec"]["containers"][0]
    assert container["args"] == ["--config=/etc/nats/nats.conf"]
    assert {"name": "data", "mountPath": "/data"} in container["volumeMounts"]
    (config,) = spec["template"]["spec"]["volumes"]
    assert config["secret"]["secretName"] == _bussecrets.NATS_CONFIG_SECRET
    # The generated config keeps JetStream on that volume and refuses anonymous clients.
    text = _bussecrets.secrets_for(BusKeys.generate(), "k8sclaw-system")[1]["data"]
    conf = base64.b64decode(text[_bussecrets.NATS_CONFIG_KEY]).decode()
    assert 'store_dir: "/data"' in conf and "resolver: MEMORY" in conf
    assert "no_auth_user" not in conf and "http_port: 8222" in conf
    services = {s["metadata"]["name"]: s for s in _of(docs, "Service")}
    assert services[names.NATS_SERVICE]["metadata"]["labels"][names.LABEL_NAME] == "nats"
    assert services[names.NATS_SERVICE]["spec"]["ports"][0]["port"] == names.NATS_PORT


@pytest.mark.parametrize("name", ["k8sclaw-controller", "k8sclaw-apiserver", "k8sclaw-webhook"])
def test_control_plane_deployments_are_restricted(docs: list[dict[str, Any]], name: str) -> None:
    (dep,) = [d for d in _of(docs, "Deployment") if d["metadata"]["name"] == name]
    pod = dep["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert pod["serviceAccountName"] == name
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert container["livenessProbe"] and container["readinessProbe"]
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert any(s["metadata"]["name"] == name for s in _of(docs, "Service"))


def test_webhook_configurations(docs: list[dict[str, Any]]) -> None:
    (validating,) = _of(docs, "ValidatingWebhookConfiguration")
    (mutating,) = _of(docs, "MutatingWebhookConfiguration")
    assert validating["metadata"]["name"] == mutating["metadata"]["name"] == "k8sclaw-webhook"
    hooks = validating["webhooks"] + mutating["webhooks"]
    paths = {h["clientConfig"]["service"]["path"]: h for h in hooks}
    assert set(paths) == {
        "/validate-agentrun",
        "/mutate-agentrun",
        "/validate-clawpolicy",
        "/validate-skillpack",
        "/validate-clawinstance",
    }
    for hook in hooks:
        service = hook["clientConfig"]["service"]
        assert (service["name"], service["namespace"], service["port"]) == (
            "k8sclaw-webhook",
            names.SYSTEM_NAMESPACE,
            443,
        )
        assert "caBundle" not in hook["clientConfig"]  # the webhook owns it (SSA field manager)
        assert hook["failurePolicy"] == "Fail" and hook["sideEffects"] == "None"
        assert hook["admissionReviewVersions"] == ["v1"]
    for path in ("/validate-agentrun", "/mutate-agentrun"):
        assert paths[path]["rules"][0]["operations"] == ["CREATE", "UPDATE"]
        assert paths[path]["rules"][0]["resources"] == ["agentruns"]
    (svc,) = [s for s in _of(docs, "Service") if s["metadata"]["name"] == "k8sclaw-webhook"]
    assert svc["spec"]["ports"][0]["port"] == 443 and svc["spec"]["ports"][0]["targetPort"] == 8443


def test_network_policies_cover_the_control_plane(docs: list[dict[str, Any]]) -> None:
    policies = {p["metadata"]["name"]: p for p in _of(docs, "NetworkPolicy")}
    deny = policies["k8sclaw-default-deny-ingress"]["spec"]
    assert deny["podSelector"] == {} and deny["policyTypes"] == ["Ingress"]
    assert all(p["metadata"]["namespace"] == names.SYSTEM_NAMESPACE for p in policies.values())


@pytest.mark.parametrize(
    ("current", "desired", "expected"),
    [
        ({"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"c": 2}}, True),
        ({"ports": [{"port": 80, "protocol": "TCP"}]}, {"ports": [{"port": 80}]}, True),
        ({"ports": [{"port": 80}]}, {"ports": [{"port": 81}]}, False),
        ({"rules": [1, 2]}, {"rules": [1]}, False),
        ({"a": 1}, {"a": 1, "new": True}, False),
    ],
    ids=["nested-subset", "server-defaults", "changed-value", "list-shrank", "new-field"],
)
def test_contains_decides_what_needs_applying(current: Any, desired: Any, expected: bool) -> None:
    from k8sclaw.installer import contains

    assert contains(current, desired) is expected
