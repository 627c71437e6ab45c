"""`k8sclaw install` / `uninstall` against the Kubernetes API of the harness.

Both change cluster-wide state (CRDs, the k8sclaw-system namespace), so each test
restores the session's CRDs afterwards for the tests that follow.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest
from click.testing import CliRunner, Result

from k8sclaw.cli import cli
from k8sclaw.kube import ClusterTarget, Kube
from k8sclaw_protocol import names
from tests.harness.kube import KubeEnv
from tests.harness.kube_fixtures import install_crds


def k8sclaw(kube: KubeEnv, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--kubeconfig", str(kube.kubeconfig)])


@pytest.fixture
def cluster(kube: KubeEnv) -> Iterator[KubeEnv]:
    """The test's cluster; K8sClaw removed and the session's CRDs restored afterwards."""
    try:
        yield kube
    finally:
        CliRunner().invoke(cli, ["uninstall", "--yes", "--kubeconfig", str(kube.kubeconfig)])
        install_crds(kube.api_client)


def _custom(kube: KubeEnv) -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(kube.api_client)


def _instance(name: str) -> dict[str, Any]:
    return {
        "apiVersion": names.GROUP_VERSION,
        "kind": "ClawInstance",
        "metadata": {"name": name},
        "spec": {"agents": {"default": {"model": "gpt-4o"}}},
    }


def _installed(kube: KubeEnv) -> dict[str, Any]:
    apps = kubernetes.client.AppsV1Api(kube.api_client)
    deployments = apps.list_namespaced_deployment(names.SYSTEM_NAMESPACE).items
    return {
        "deployments": sorted(d.metadata.name for d in deployments),
        "statefulsets": [
            s.metadata.name for s in apps.list_namespaced_stateful_set(names.SYSTEM_NAMESPACE).items
        ],
        "images": sorted(c.image for d in deployments for c in d.spec.template.spec.containers),
        "policies": sorted(
            p["metadata"]["name"]
            for p in _custom(kube).list_namespaced_custom_object(
                names.GROUP, names.API_VERSION, kube.namespace, "clawpolicies"
            )["items"]
        ),
    }


def _bus_secrets(kube: KubeEnv) -> dict[str, Any]:
    """The bus Secrets of the install, by name (their data: keys, config, creds)."""
    core = kubernetes.client.CoreV1Api(kube.api_client)
    found = core.list_namespaced_secret(names.SYSTEM_NAMESPACE).items
    return {
        s.metadata.name: s.data
        for s in found
        if "bus" in s.metadata.name or "nats" in s.metadata.name
    }


def test_install_twice_second_changes_nothing(cluster: KubeEnv) -> None:
    _custom(cluster).create_namespaced_custom_object(  # before the webhooks exist
        names.GROUP, names.API_VERSION, cluster.namespace, "clawinstances", _instance("x")
    )
    first = k8sclaw(cluster, "install", "--no-wait", "--timeout", "30")
    assert first.exit_code == 0, first.stderr
    assert " created" in first.stderr
    assert "until the webhook pod is Ready" in first.stderr
    assert "`k8sclaw install --wait`" in first.stderr
    state = _installed(cluster)
    assert state["deployments"] == ["k8sclaw-apiserver", "k8sclaw-controller", "k8sclaw-webhook"]
    assert state["statefulsets"] == ["nats"]
    assert all(i.endswith(":" + names.VERSION) for i in state["images"])
    assert state["policies"] == ["network-isolated", "permissive", "restrictive"]
    keys = _bus_secrets(cluster)
    assert set(keys) >= {"k8sclaw-bus-signing", "k8sclaw-nats-config", "k8sclaw-bus-controller"}

    second = k8sclaw(cluster, "install", "--no-wait", "--timeout", "30")
    assert second.exit_code == 0, second.stderr
    assert "created" not in second.stderr.replace("creates your first", "")
    assert "configured" not in second.stderr
    assert ", 0 changed," in second.stderr
    assert _installed(cluster) == state
    assert _bus_secrets(cluster) == keys  # the bus keys survive a re-install

    # Policy is now enforced: with no webhook pod serving, a run (and a new instance, whose
    # name the webhook checks) is refused, with the fix.
    with pytest.raises(kubernetes.client.ApiException):
        _custom(cluster).create_namespaced_custom_object(
            names.GROUP, names.API_VERSION, cluster.namespace, "clawinstances", _instance("y")
        )
    refused = k8sclaw(cluster, "runs", "create", "hi", "--instance", "x")
    assert refused.exit_code != 0
    assert "k8sclaw-system get pods" in refused.stderr.splitlines()[-1]
    assert "run `k8sclaw install --wait`" in refused.stderr.splitlines()[-1]


def test_reinstall_keeps_the_ca_bundle_the_webhook_wrote(cluster: KubeEnv) -> None:
    assert k8sclaw(cluster, "install", "--no-wait").exit_code == 0
    admission = kubernetes.client.AdmissionregistrationV1Api(cluster.api_client)
    # The webhook fills caBundle at start-up, as its own field manager.
    ca = "Y2EtYnVuZGxl"
    kube = Kube.connect(ClusterTarget(str(cluster.kubeconfig)))
    kube.request(
        "PATCH",
        "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/k8sclaw-webhook",
        what="webhook configuration",
        body=[{"op": "add", "path": "/webhooks/0/clientConfig/caBundle", "value": ca}],
        query=[("fieldManager", "k8sclaw-webhook")],
        content_type="application/json-patch+json",
    )
    hook = admission.read_mutating_webhook_configuration("k8sclaw-webhook").webhooks[0]
    assert hook.client_config.ca_bundle == ca
    result = k8sclaw(cluster, "install", "--no-wait")
    assert result.exit_code == 0, result.stderr
    hook = admission.read_mutating_webhook_configuration("k8sclaw-webhook").webhooks[0]
    assert hook.client_config.ca_bundle == ca


def test_newer_installation_is_not_downgraded(cluster: KubeEnv) -> None:
    assert k8sclaw(cluster, "install", "--no-wait").exit_code == 0
    core = kubernetes.client.CoreV1Api(cluster.api_client)
    core.patch_namespace(
        names.SYSTEM_NAMESPACE, {"metadata": {"labels": {"app.kubernetes.io/version": "99.0.0"}}}
    )
    result = k8sclaw(cluster, "install", "--no-wait")
    assert result.exit_code == 11
    assert (
        result.stderr.startswith("error: K8sClaw 99.0.0 is installed")
        and "--allow-downgrade" in result.stderr
    )


def test_uninstall_leaves_nothing_even_with_finalizers(cluster: KubeEnv) -> None:
    custom = _custom(cluster)
    run = {
        "apiVersion": names.GROUP_VERSION,
        "kind": "AgentRun",
        "metadata": {"name": "stuck", "finalizers": [names.FINALIZER_AGENT_RUN]},
        "spec": {"instanceRef": "a", "sessionKey": "s", "task": "t", "model": {"model": "m"}},
    }
    # Created before the admission webhooks exist (no webhook pod serves them here).
    custom.create_namespaced_custom_object(
        names.GROUP, names.API_VERSION, cluster.namespace, "agentruns", run
    )
    assert k8sclaw(cluster, "install", "--no-wait").exit_code == 0

    result = k8sclaw(cluster, "uninstall", "--yes", "--timeout", "30")
    assert result.exit_code == 0, result.stderr
    assert "deleted agentrun/stuck" in result.stderr

    core = kubernetes.client.CoreV1Api(cluster.api_client)
    assert names.SYSTEM_NAMESPACE not in {n.metadata.name for n in core.list_namespace().items}
    ext = kubernetes.client.ApiextensionsV1Api(cluster.api_client)
    assert not [
        c for c in ext.list_custom_resource_definition().items if c.spec.group == names.GROUP
    ]
    rbac = kubernetes.client.RbacAuthorizationV1Api(cluster.api_client)
    assert not [r for r in rbac.list_cluster_role().items if r.metadata.name.startswith("k8sclaw-")]
    admission = kubernetes.client.AdmissionregistrationV1Api(cluster.api_client)
    assert not admission.list_validating_webhook_configuration(
        field_selector="metadata.name=k8sclaw-webhook"
    ).items

    # A new user's next command now says what is missing and how to fix it.
    missing = k8sclaw(cluster, "runs", "list")
    assert missing.exit_code == 5
    assert missing.stderr.splitlines() == [
        "error: the cluster does not know agentruns (K8sClaw CRDs missing)",
        "hint: run `k8sclaw install` to install the K8sClaw CRDs and control plane",
    ]
    onboarding = k8sclaw(cluster, "onboard", "--non-interactive", "--no-policy")
    assert onboarding.exit_code == 5
    assert onboarding.stderr.splitlines()[-2:] == [
        "error: the cluster does not know clawinstances (K8sClaw CRDs missing)",
        "hint: run `k8sclaw install` to install the K8sClaw CRDs and control plane",
    ]
    again = k8sclaw(cluster, "uninstall", "--yes")
    assert again.exit_code == 0, again.stderr


def test_uninstall_revokes_what_onboarding_granted(cluster: KubeEnv) -> None:
    # Onboarded before the install: no webhook pod serves admission here.
    onboarded = k8sclaw(cluster, "onboard", "--non-interactive", "--provider", "ollama")
    assert onboarded.exit_code == 0, onboarded.stderr
    assert k8sclaw(cluster, "install", "--no-wait").exit_code == 0
    rbac = kubernetes.client.RbacAuthorizationV1Api(cluster.api_client)
    core = kubernetes.client.CoreV1Api(cluster.api_client)
    assert core.read_namespace(cluster.namespace).metadata.labels[names.LABEL_TENANT] == "true"

    result = k8sclaw(cluster, "uninstall", "--yes", "--timeout", "30")
    assert result.exit_code == 0, result.stderr
    assert f"rolebinding/{names.CONTROLLER_TENANT_BINDING} -n {cluster.namespace}" in result.stderr
    assert not rbac.list_namespaced_role_binding(cluster.namespace).items
    labels = core.read_namespace(cluster.namespace).metadata.labels or {}
    assert names.LABEL_TENANT not in labels  # the namespace itself stays, opted out
