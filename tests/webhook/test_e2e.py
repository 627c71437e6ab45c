"""End to end: the real `k8sclaw-webhook --dev-url` process behind the Kubernetes API.

The webhook runs as a subprocess (dev mode registers its configurations in the test
cluster and removes them on exit); objects are created through the official client, so
the API server (kube emulator or real) calls the webhook over HTTPS with the caBundle.
On a real cluster the tests that need the webhook called run only when its API server
can reach 127.0.0.1 of this machine (`K8SCLAW_TEST_LOCAL_APISERVER=1`), and skip
otherwise; the webhook is probed once, with a run that must be refused.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from k8sclaw_controllers.webhook import _certs, _configs
from k8sclaw_protocol import names
from tests.harness.kube import KubeEnv
from tests.harness.kube_fixtures import LOCAL_ONLY, reaches_this_machine
from tests.policy._builders import policy_body, run_body, sandbox
from tests.webhook._cases import RULE_VIOLATIONS

ADMISSION = "/apis/admissionregistration.k8s.io/v1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Cluster:
    kube: KubeEnv
    api: kubernetes.client.CustomObjectsApi

    def create(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        body["metadata"]["namespace"] = self.kube.namespace
        result: dict[str, Any] = self.api.create_namespaced_custom_object(
            names.GROUP, names.API_VERSION, self.kube.namespace, plural, body
        )
        return result

    def replace_policy(self, **spec: Any) -> None:
        self.api.patch_namespaced_custom_object(
            names.GROUP,
            names.API_VERSION,
            self.kube.namespace,
            "clawpolicies",
            "default-policy",
            {"spec": spec},
        )

    def refused(self, body: dict[str, Any]) -> str:
        with pytest.raises(ApiException) as caught:
            self.create("agentruns", body)
        return str(caught.value.body)


@dataclass
class DevWebhook:
    process: subprocess.Popen[str]
    name: str
    reader: threading.Thread


def _start(kube: KubeEnv, name: str = "") -> DevWebhook:
    name = name or f"k8sclaw-webhook-e2e-{secrets.token_hex(3)}"
    url = f"https://127.0.0.1:{_free_port()}"
    script = shutil.which("k8sclaw-webhook")
    assert script, "k8sclaw-webhook is not installed; run `uv sync --all-packages`"
    command = [script, "--dev-url", url, "--kubeconfig", str(kube.kubeconfig), "--name", name]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env={**os.environ})
    registered = threading.Event()

    def drain() -> None:  # read to the end: a full stderr pipe would block the webhook
        assert process.stderr is not None
        for line in process.stderr:  # the log line is the readiness event
            if "registered webhook configurations" in line:
                registered.set()
        registered.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    registered.wait(timeout=60)
    if process.poll() is None:
        return DevWebhook(process, name, reader)
    reader.join(timeout=30)
    raise AssertionError(f"k8sclaw-webhook exited {process.returncode} before registering")


def _stop(hook: DevWebhook) -> int:
    hook.process.send_signal(signal.SIGTERM)
    code = hook.process.wait(timeout=30)
    hook.reader.join(timeout=30)  # EOF after exit; the reader closes nothing itself
    assert hook.process.stderr is not None
    hook.process.stderr.close()
    return code


@pytest.fixture
def cluster(kube: KubeEnv) -> Cluster:
    return Cluster(kube, kubernetes.client.CustomObjectsApi(kube.api_client))


@pytest.fixture
def webhook(kube: KubeEnv, cluster: Cluster) -> Iterator[DevWebhook]:
    if not reaches_this_machine(kube):
        pytest.skip(LOCAL_ONLY)
    hook = _start(kube)
    try:
        yield hook
    finally:
        if hook.process.poll() is None:
            _stop(hook)


@pytest.fixture
def enforcing(webhook: DevWebhook, cluster: Cluster) -> Cluster:
    """The cluster with the webhook registered and demonstrably called."""
    probe = run_body(name=f"probe-{secrets.token_hex(3)}", instanceRef="no-such-instance")
    try:
        cluster.create("agentruns", probe)
    except ApiException as error:
        assert "spec.instanceRef" in str(error.body)
        return cluster
    pytest.skip("the kube emulator does not call admission webhooks yet")


def test_dev_mode_registers_and_removes_its_configurations(
    webhook: DevWebhook, kube: KubeEnv
) -> None:
    api = kubernetes.client.AdmissionregistrationV1Api(kube.api_client)
    validating = api.read_validating_webhook_configuration(webhook.name)
    mutating = api.read_mutating_webhook_configuration(webhook.name)
    urls = sorted(hook.client_config.url for hook in [*validating.webhooks, *mutating.webhooks])
    assert [url.rsplit("/", 1)[1] for url in urls] == [
        "mutate-agentrun",
        "validate-agentrun",
        "validate-clawinstance",
        "validate-clawpolicy",
        "validate-skillpack",
    ]
    assert {hook.failure_policy for hook in validating.webhooks} == {"Fail"}
    ca = base64.b64decode(validating.webhooks[0].client_config.ca_bundle)
    assert b"BEGIN CERTIFICATE" in ca
    assert _stop(webhook) == 0
    with pytest.raises(ApiException) as gone:
        api.read_validating_webhook_configuration(webhook.name)
    assert gone.value.status == 404
    with pytest.raises(ApiException):
        api.read_mutating_webhook_configuration(webhook.name)


def _setup(cluster: Cluster, **policy: Any) -> None:
    cluster.create("clawpolicies", policy_body(**policy))
    instance = {
        "apiVersion": names.GROUP_VERSION,
        "kind": "ClawInstance",
        "metadata": {"name": "alpha"},
        "spec": {"agents": {"default": {"model": "gpt-4o"}}, "policyRef": "default-policy"},
    }
    cluster.create("clawinstances", instance)


@pytest.mark.parametrize(
    ("policy", "spec", "rule"),
    [
        *RULE_VIOLATIONS,
        pytest.param(
            {"sandboxPolicy": {"maxCPU": "1"}},
            {"sandbox": sandbox(limits={"cpu": "2"})},
            "sandboxPolicy.maxCPU",
            id="cap",
        ),
    ],
)
def test_violating_runs_are_rejected_naming_the_rule(
    enforcing: Cluster, policy: dict[str, Any], spec: dict[str, Any], rule: str
) -> None:
    _setup(enforcing, **policy)
    message = enforcing.refused(run_body(name="bad", **spec))
    assert f"rule {rule}: " in message and "default-policy" in message


def test_concurrency_limit_counts_live_runs(enforcing: Cluster) -> None:
    _setup(enforcing, subagentPolicy={"maxConcurrent": 1})
    enforcing.create("agentruns", run_body(name="first"))
    assert "subagentPolicy.maxConcurrent" in enforcing.refused(run_body(name="second"))


def test_compliant_run_is_admitted_and_mutated(enforcing: Cluster) -> None:
    _setup(
        enforcing,
        sandboxPolicy={"defaultImage": "corp/sandbox:2"},
        toolGating={"defaultAction": "deny", "rules": [{"tool": "read_file", "action": "allow"}]},
    )
    created = enforcing.create("agentruns", run_body(name="good", sandbox={"enabled": True}))
    assert created["metadata"]["labels"][names.LABEL_INSTANCE] == "alpha"
    assert created["spec"]["sandbox"]["image"] == "corp/sandbox:2"
    assert created["spec"]["toolPolicy"]["allow"] == ["read_file"]
    assert "execute_command" in created["spec"]["toolPolicy"]["deny"]


def test_policy_change_applies_to_the_next_run_without_restart(enforcing: Cluster) -> None:
    _setup(enforcing)
    enforcing.create("agentruns", run_body(name="before", toolPolicy={"allow": ["fetch_url"]}))
    enforcing.replace_policy(featureGates={"network-access": False})
    assert "featureGates.network-access" in enforcing.refused(
        run_body(name="after", toolPolicy={"allow": ["fetch_url"]})
    )


def test_unknown_gate_in_a_policy_is_refused(enforcing: Cluster) -> None:
    with pytest.raises(ApiException) as caught:
        enforcing.create("clawpolicies", policy_body(name="odd", featureGates={"teleport": True}))
    assert "featureGates.teleport" in str(caught.value.body)


def test_deleting_a_run_whose_instance_and_policy_are_gone_works(enforcing: Cluster) -> None:
    _setup(enforcing)
    body = run_body(name="orphan")
    body["metadata"]["finalizers"] = [names.FINALIZER_AGENT_RUN]
    enforcing.create("agentruns", body)
    ns, api = enforcing.kube.namespace, enforcing.api
    api.delete_namespaced_custom_object(
        names.GROUP, names.API_VERSION, ns, "clawinstances", "alpha"
    )
    api.delete_namespaced_custom_object(
        names.GROUP, names.API_VERSION, ns, "clawpolicies", "default-policy"
    )
    api.delete_namespaced_custom_object(names.GROUP, names.API_VERSION, ns, "agentruns", "orphan")
    api.patch_namespaced_custom_object(
        names.GROUP,
        names.API_VERSION,
        ns,
        "agentruns",
        "orphan",
        {"metadata": {"finalizers": None}},
    )
    with pytest.raises(ApiException) as gone:
        api.get_namespaced_custom_object(names.GROUP, names.API_VERSION, ns, "agentruns", "orphan")
    assert gone.value.status == 404


def test_webhook_down_fails_closed(enforcing: Cluster) -> None:
    """A configuration pointing at a port nobody listens on: creation fails, never passes."""
    name = f"k8sclaw-webhook-down-{secrets.token_hex(3)}"
    bundle = _certs.generate(["127.0.0.1"])
    client = _configs.url_client(f"https://127.0.0.1:{_free_port()}")
    validating, _ = _configs.configurations(client, bundle.ca_cert, name)
    api = kubernetes.client.AdmissionregistrationV1Api(enforcing.kube.api_client)
    _setup(enforcing)
    api.create_validating_webhook_configuration(validating)
    try:
        message = enforcing.refused(run_body(name="unguarded"))
        assert name in message or "webhook" in message.lower()
    finally:
        api.delete_validating_webhook_configuration(name)


def test_a_run_of_a_missing_instance_is_refused_saying_how_to_fix_it(
    enforcing: Cluster,
) -> None:
    message = enforcing.refused(run_body(name="lost", instanceRef="ghost"))
    assert "rule spec.instanceRef" in message
    assert f'not found in namespace \\"{enforcing.kube.namespace}\\"' in message
    assert "create it or fix spec.instanceRef" in message


def test_started_run_keeps_its_spec_but_not_its_metadata_or_status(enforcing: Cluster) -> None:
    """Status subresource writes (the controller) and metadata edits pass; spec edits of a
    started run are refused; deleting it still works."""
    _setup(enforcing)
    enforcing.create("agentruns", run_body(name="live"))
    ns, api = enforcing.kube.namespace, enforcing.api
    args = (names.GROUP, names.API_VERSION, ns, "agentruns", "live")
    api.patch_namespaced_custom_object(*args, {"spec": {"task": "changed before start"}})
    api.patch_namespaced_custom_object_status(
        *args, {"status": {"phase": "Running", "jobName": "live"}}
    )
    with pytest.raises(ApiException) as caught:
        api.patch_namespaced_custom_object(*args, {"spec": {"task": "changed after start"}})
    assert caught.value.status == 403
    assert "rule spec.immutable" in str(caught.value.body)
    assert "(changed: spec.task)" in str(caught.value.body)
    api.patch_namespaced_custom_object(*args, {"metadata": {"labels": {"team": "a"}}})
    api.patch_namespaced_custom_object_status(*args, {"status": {"phase": "Succeeded"}})
    stored = api.get_namespaced_custom_object(*args)
    assert stored["spec"]["task"] == "changed before start"
    assert stored["metadata"]["labels"] == {"team": "a", names.LABEL_INSTANCE: "alpha"}
    assert stored["status"]["phase"] == "Succeeded"
    api.delete_namespaced_custom_object(*args)


def test_names_that_cannot_become_a_job_or_a_subject_token_are_refused(
    enforcing: Cluster,
) -> None:
    _setup(enforcing)
    for name in ("r" * 64, "my.run"):  # the CRD schema refuses them before the webhook
        assert "metadata.name" in enforcing.refused(run_body(name=name))
    generated = run_body(name="")
    del generated["metadata"]["name"]
    generated["metadata"]["generateName"] = "alpha-run-"
    assert enforcing.create("agentruns", generated)["metadata"]["name"].startswith("alpha-run-")


def test_the_model_binding_comes_from_the_instance(enforcing: Cluster) -> None:
    """Unset provider/secret/endpoint are filled from the instance; others are refused."""
    enforcing.create("clawpolicies", policy_body())
    instance = {
        "apiVersion": names.GROUP_VERSION,
        "kind": "ClawInstance",
        "metadata": {"name": "alpha"},
        "spec": {
            "agents": {"default": {"model": "gpt-4o", "baseURL": "https://llm.corp/v1"}},
            "authRefs": [{"provider": "openai", "secret": "alpha-key"}],
            "policyRef": "default-policy",
        },
    }
    enforcing.create("clawinstances", instance)
    created = enforcing.create("agentruns", run_body(name="bound", model={"model": "o1"}))
    assert created["spec"]["model"] == {
        "provider": "openai",
        "model": "o1",
        "baseURL": "https://llm.corp/v1",
        "authSecretRef": "alpha-key",
    }
    message = enforcing.refused(
        run_body(name="rogue", model={"model": "o1", "baseURL": "https://evil.example/v1"})
    )
    assert "rule spec.model.baseURL: must equal the instance's" in message


def test_an_empty_allow_list_is_stored_empty(enforcing: Cluster) -> None:
    _setup(enforcing, toolGating={"defaultAction": "allow"})
    created = enforcing.create("agentruns", run_body(name="toolless", toolPolicy={"allow": []}))
    assert created["spec"]["toolPolicy"]["allow"] == []


def test_a_policy_rule_for_an_unknown_tool_is_refused(enforcing: Cluster) -> None:
    typo = {"rules": [{"tool": "exec_cmd", "action": "deny"}]}
    with pytest.raises(ApiException) as caught:
        enforcing.create("clawpolicies", policy_body(name="typo", toolGating=typo))
    body = str(caught.value.body)
    assert "toolGating.rules[exec_cmd]" in body and "execute_command" in body


def test_an_instance_name_that_cannot_be_a_label_is_refused(enforcing: Cluster) -> None:
    instance = {
        "apiVersion": names.GROUP_VERSION,
        "kind": "ClawInstance",
        "metadata": {"name": "team.alpha"},
        "spec": {"agents": {"default": {"model": "gpt-4o"}}},
    }
    with pytest.raises(ApiException) as caught:
        enforcing.create("clawinstances", instance)
    assert "metadata.name" in str(caught.value.body)
    assert "team.alpha" in str(caught.value.body)
    instance["metadata"]["name"] = "team-alpha"
    assert enforcing.create("clawinstances", instance)["metadata"]["name"] == "team-alpha"


def test_dev_mode_takes_over_existing_configurations_and_gives_them_back(kube: KubeEnv) -> None:
    """`--name` of configurations that exist (the installed `k8sclaw-webhook`): dev mode
    points them at itself while it runs and restores them as they were on exit."""
    if not reaches_this_machine(kube):
        pytest.skip(LOCAL_ONLY)
    name = f"k8sclaw-webhook-takeover-{secrets.token_hex(3)}"
    ca = _certs.generate(["127.0.0.1"]).ca_cert
    installed = _configs.configurations(_configs.service_client(), ca, name)
    only_here = {"matchLabels": {"kubernetes.io/metadata.name": kube.namespace}}
    for body in installed:  # fail-closed for this test's namespace only
        for hook in body["webhooks"]:
            hook["namespaceSelector"] = only_here
    admission = kubernetes.client.AdmissionregistrationV1Api(kube.api_client)
    validating, mutating = installed[0], installed[1]
    assert validating["kind"] == "ValidatingWebhookConfiguration"
    admission.create_validating_webhook_configuration(validating)
    admission.create_mutating_webhook_configuration(mutating)

    def client_configs() -> list[Any]:
        hooks = admission.read_validating_webhook_configuration(name).webhooks
        hooks += admission.read_mutating_webhook_configuration(name).webhooks
        return [h.client_config for h in hooks]

    try:
        hook = _start(kube, name)
        try:
            assert all(c.url and c.url.startswith("https://127.0.0.1:") for c in client_configs())
        finally:
            assert _stop(hook) == 0
        restored = client_configs()
        assert all(c.url is None and c.service.name == names.WEBHOOK_SERVICE for c in restored)
        assert {c.ca_bundle for c in restored} == {base64.b64encode(ca).decode()}
        selectors = admission.read_validating_webhook_configuration(name).webhooks
        assert all(h.namespace_selector.match_labels == only_here["matchLabels"] for h in selectors)
    finally:
        admission.delete_validating_webhook_configuration(name)
        admission.delete_mutating_webhook_configuration(name)
