"""`k8sclaw doctor` against the Kubernetes API of the harness, with the installer's manifests
applied (`k8sclaw install --no-wait`) and the rest of a healthy control plane played:

- the Deployment/StatefulSet controller (no such controller runs in the emulator): their
  status is patched to rolled out, as `tests/installer/test_wait.py` does;
- the controller pod, created from the installed Deployment's template, marked Ready (its
  readiness probe is /readyz, which checks the bus);
- the admission webhook: the real `k8sclaw-webhook --dev-url … --name k8sclaw-webhook`,
  which takes over the installed configuration while it runs (docs/policy.md).

Each test breaks one thing and expects exactly that ✗, with its fix, and exit 1.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from click.testing import CliRunner, Result

from k8sclaw.cli import cli
from k8sclaw_protocol import names
from tests.harness.kube import KubeEnv
from tests.harness.kube_fixtures import LOCAL_ONLY, install_crds, reaches_this_machine

SYSTEM = names.SYSTEM_NAMESPACE
CHANNEL_IMAGE = names.image(names.IMAGE_CHANNEL)
GENUINE = f"the real {SYSTEM} Deployment controller owns these statuses; the emulator's is played"


def doctor(kube: KubeEnv, *args: str, kubeconfig: Path | None = None) -> Result:
    config = str(kubeconfig or kube.kubeconfig)
    return CliRunner().invoke(cli, ["doctor", *args, "--kubeconfig", config])


def failing(result: Result) -> list[str]:
    """The ✗ lines of a text report, each with its fix line (if any) appended."""
    out, lines = [], result.stdout.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("✗"):
            fix = lines[i + 1].strip() if i + 1 < len(lines) else ""
            out.append(line + (" | " + fix if fix.startswith("fix:") else ""))
    return out


def pointed_at(kube: KubeEnv, path: Path, server: str) -> Path:
    """A copy of the test's kubeconfig whose clusters are all at `server`."""
    config = yaml.safe_load(kube.kubeconfig.read_text())
    for cluster in config.get("clusters") or []:
        cluster["cluster"]["server"] = server
    path.write_text(yaml.safe_dump(config))
    return path


# -- playing the rest of the cluster ------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DevWebhook:
    process: subprocess.Popen[str]
    reader: threading.Thread

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
        self.reader.join(timeout=30)
        assert self.process.stderr is not None
        self.process.stderr.close()


def start_webhook(kube: KubeEnv) -> DevWebhook:
    """The real webhook in dev mode, taking over the installed `k8sclaw-webhook`."""
    script = shutil.which("k8sclaw-webhook")
    assert script, "k8sclaw-webhook is not installed; run `uv sync --all-packages`"
    url = f"https://127.0.0.1:{_free_port()}"
    command = [script, "--dev-url", url, "--kubeconfig", str(kube.kubeconfig)]
    command += ["--name", names.WEBHOOK_CONFIGURATION]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env={**os.environ})
    registered = threading.Event()

    def drain() -> None:  # to the end: a full stderr pipe would block the webhook
        assert process.stderr is not None
        for line in process.stderr:
            if "registered webhook configurations" in line:
                registered.set()
        registered.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    registered.wait(timeout=60)
    hook = DevWebhook(process, reader)
    if process.poll() is not None:
        hook.stop()
        raise AssertionError(f"k8sclaw-webhook exited {process.returncode} before registering")
    return hook


def set_rolled_out(kube: KubeEnv, kind: str, name: str, namespace: str, *, up: bool) -> None:
    """Play the workload controller: this generation observed, one replica, Available/up."""
    apps = kubernetes.client.AppsV1Api(kube.api_client)
    read = getattr(apps, f"read_namespaced_{_snake(kind)}")
    generation = read(name, namespace).metadata.generation
    ready = 1 if up else 0
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "replicas": 1,
        "updatedReplicas": 1,
        "readyReplicas": ready,
        "availableReplicas": ready,
    }
    if kind == "Deployment":
        state = "True" if up else "False"
        message = "" if up else "Deployment does not have minimum availability."
        status["conditions"] = [
            {"type": "Available", "status": state, "reason": "Test", "message": message}
        ]
    patch = getattr(apps, f"patch_namespaced_{_snake(kind)}_status")
    patch(name, namespace, {"status": status})


def _snake(kind: str) -> str:
    return {"Deployment": "deployment", "StatefulSet": "stateful_set"}[kind]


def controller_pod_ready(kube: KubeEnv) -> None:
    """A pod of the installed controller Deployment, Ready as its /readyz would make it."""
    apps = kubernetes.client.AppsV1Api(kube.api_client)
    core = kubernetes.client.CoreV1Api(kube.api_client)
    template = apps.read_namespaced_deployment("k8sclaw-controller", SYSTEM).spec.template
    body = kube.api_client.sanitize_for_serialization(template)
    pod = {"metadata": {"name": "k8sclaw-controller-0", **body["metadata"]}, "spec": body["spec"]}
    core.create_namespaced_pod(SYSTEM, pod)
    ready = {"type": "Ready", "status": "True"}
    core.patch_namespaced_pod_status(
        "k8sclaw-controller-0", SYSTEM, {"status": {"conditions": [ready]}}
    )


def _instance(kube: KubeEnv) -> dict[str, Any]:
    return {
        "apiVersion": names.GROUP_VERSION,
        "kind": "ClawInstance",
        "metadata": {"name": "alpha"},
        "spec": {
            "agents": {"default": {"model": "gpt-4o"}},
            "authRefs": [{"provider": "openai", "secret": "alpha-openai-key"}],
            "channels": [{"type": "telegram", "configRef": {"secret": "alpha-telegram-secret"}}],
        },
    }


def seed_namespace(kube: KubeEnv) -> None:
    """An instance with a provider key and a Telegram channel (Deployment rolled out)."""
    custom = kubernetes.client.CustomObjectsApi(kube.api_client)
    core = kubernetes.client.CoreV1Api(kube.api_client)
    apps = kubernetes.client.AppsV1Api(kube.api_client)
    ns = kube.namespace
    custom.create_namespaced_custom_object(
        names.GROUP, names.API_VERSION, ns, "clawinstances", _instance(kube)
    )
    for secret, key in (("alpha-openai-key", "OPENAI_API_KEY"), ("alpha-telegram-secret", "T")):
        core.create_namespaced_secret(
            ns, {"metadata": {"name": secret}, "stringData": {key: "not-a-real-key"}}
        )
    name = names.channel_deployment_name("alpha", "telegram")
    labels = {"app": name}
    container = {"name": "channel", "image": CHANNEL_IMAGE}
    apps.create_namespaced_deployment(
        ns,
        {
            "metadata": {"name": name},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}},
            },
        },
    )
    set_rolled_out(kube, "Deployment", name, ns, up=True)


def install(kube: KubeEnv) -> Result:
    result = CliRunner().invoke(cli, ["install", "--no-wait", "--kubeconfig", str(kube.kubeconfig)])
    assert result.exit_code == 0, result.stderr
    return result


def uninstall(kube: KubeEnv) -> None:
    CliRunner().invoke(cli, ["uninstall", "--yes", "--kubeconfig", str(kube.kubeconfig)])
    install_crds(kube.api_client)  # the session's CRDs, as the other tests expect them


@pytest.fixture
def installed(kube: KubeEnv) -> Iterator[KubeEnv]:
    """The control plane installed (nothing running yet); removed afterwards."""
    try:
        seed_namespace(kube)  # before the webhook configurations exist
        install(kube)
        yield kube
    finally:
        uninstall(kube)


@pytest.fixture
def healthy(installed: KubeEnv) -> Iterator[KubeEnv]:
    """Everything a run needs, up."""
    kube = installed
    if kube.emulator is None:
        pytest.skip(GENUINE)
    if not reaches_this_machine(kube):
        pytest.skip(LOCAL_ONLY)
    apps = kubernetes.client.AppsV1Api(kube.api_client)
    for d in apps.list_namespaced_deployment(SYSTEM).items:
        set_rolled_out(kube, "Deployment", d.metadata.name, SYSTEM, up=True)
    for s in apps.list_namespaced_stateful_set(SYSTEM).items:
        set_rolled_out(kube, "StatefulSet", s.metadata.name, SYSTEM, up=True)
    controller_pod_ready(kube)
    hook = start_webhook(kube)
    try:
        yield kube
    finally:
        hook.stop()


# -- the tests -------------------------------------------------------------------------------


@pytest.mark.slow  # the real webhook process starts in each
def test_healthy_cluster_is_all_checks_passed(healthy: KubeEnv) -> None:
    result = doctor(healthy)
    assert result.exit_code == 0, result.stdout
    lines = result.stdout.splitlines()
    assert not failing(result) and not [x for x in lines if x.startswith("!")]
    text = result.stdout
    for expected in (
        "✓ API reachable at ",
        f"✓ CRDs: 5 installed and current ({names.VERSION})",
        f"✓ controller: Available, {names.VERSION}",
        f"✓ webhook: Available, {names.VERSION}",
        f"✓ API server: Available, {names.VERSION}",
        f"✓ NATS: Available, {names.VERSION}",
        "✓ admission webhook: answering",
        "✓ NATS reachable from the controller (pod k8sclaw-controller-0 Ready)",
        f"✓ channel alpha/telegram: Available, {names.VERSION}",
        f"✓ instance Secrets: 2 referenced by 1 instance(s) in {healthy.namespace}, all present",
        "All checks passed.",
    ):
        assert expected in text, text
    report = json.loads(doctor(healthy, "-o", "json").stdout)
    assert report["healthy"] is True and report["namespace"] == healthy.namespace
    assert {c["verdict"] for c in report["checks"]} == {"ok"}
    assert len(report["checks"]) == 10


@pytest.mark.slow  # the real webhook process starts in each
def test_each_breakage_is_its_own_fail_with_its_fix(healthy: KubeEnv) -> None:
    """A missing CRD, a stale CRD, an unavailable controller, an old webhook image and a
    missing instance Secret at once: exactly their ✗ lines, each with its fix."""
    ext = kubernetes.client.ApiextensionsV1Api(healthy.api_client)
    apps = kubernetes.client.AppsV1Api(healthy.api_client)
    core = kubernetes.client.CoreV1Api(healthy.api_client)
    missing, stale = f"skillpacks.{names.GROUP}", f"clawschedules.{names.GROUP}"
    ext.delete_custom_resource_definition(missing)
    schema = "/spec/versions/0/schema/openAPIV3Schema/description"
    ext.patch_custom_resource_definition(  # an older release described it otherwise
        stale, [{"op": "replace", "path": schema, "value": "An older ClawSchedule."}]
    )
    set_rolled_out(healthy, "Deployment", "k8sclaw-controller", SYSTEM, up=False)
    old = f"{names.IMAGE_WEBHOOK}:0.0.9"
    container = {"name": "webhook", "image": old}
    apps.patch_namespaced_deployment(
        "k8sclaw-webhook", SYSTEM, {"spec": {"template": {"spec": {"containers": [container]}}}}
    )
    core.delete_namespaced_secret("alpha-openai-key", healthy.namespace)
    _gone(ext, missing)

    result = doctor(healthy)
    assert result.exit_code == 1
    ns = healthy.namespace
    assert failing(result) == [
        f"✗ CRDs missing: {missing}; stale (not this CLI's {names.VERSION}): {stale} "
        "| fix: k8sclaw install",
        "✗ controller: deployment/k8sclaw-controller not Available (0/1 ready; Deployment does "
        "not have minimum availability.) | fix: kubectl -n k8sclaw-system describe "
        "deployment/k8sclaw-controller",
        f"✗ webhook: runs {old}, this CLI ships {names.image(names.IMAGE_WEBHOOK)} "
        "| fix: k8sclaw install",
        "✗ instance alpha: Secret alpha-openai-key (openai key) missing | fix: kubectl -n "
        f"{ns} create secret generic alpha-openai-key --from-literal=OPENAI_API_KEY=...",
    ], result.stdout
    report = json.loads(doctor(healthy, "-o", "json").stdout)
    assert report["healthy"] is False
    failed = [c["check"] for c in report["checks"] if c["verdict"] == "fail"]
    assert failed == ["crds", "controller", "webhook", "secrets"]


def _gone(ext: kubernetes.client.ApiextensionsV1Api, name: str) -> None:
    """Wait (watching from the list's version, so nothing is missed) until `name` is gone."""
    selector = f"metadata.name={name}"
    listing = ext.list_custom_resource_definition(field_selector=selector)
    if not listing.items:
        return
    watch = kubernetes.watch.Watch()
    for event in watch.stream(
        ext.list_custom_resource_definition,
        field_selector=selector,
        resource_version=listing.metadata.resource_version,
        timeout_seconds=30,
    ):
        if event["type"] == "DELETED":
            watch.stop()
            return
    raise AssertionError(f"CRD {name} was not deleted within 30s")


def test_nothing_running_yet_names_each_fix(installed: KubeEnv) -> None:
    """Right after `install --no-wait`: the webhook is registered but not answering (so
    runs are refused), the control plane is not rolled out, the controller has no pod."""
    result = doctor(installed)
    assert result.exit_code == 1
    shown = failing(result)
    assert (
        "✗ admission webhook: not answering (fail-closed: runs and policies are refused) "
        "| fix: k8sclaw install --wait"
    ) in shown, result.stdout
    # No controller pod (the emulator runs none), or one not Ready (a real cluster's).
    assert any(x.startswith("✗ NATS from the controller: ") for x in shown), result.stdout
    if installed.emulator is not None:
        assert (
            "✗ NATS from the controller: unknown, no controller pod is running | fix: "
            "kubectl -n k8sclaw-system describe deployment/k8sclaw-controller"
        ) in shown
    assert f"✓ CRDs: 5 installed and current ({names.VERSION})" in result.stdout

    # Item 11: install --no-wait said so; onboard names the cause instead of the raw 500.
    said = " ".join(install(installed).stderr.split())  # a re-run says it again
    assert "the admission webhooks are fail-closed" in said
    assert "Run `k8sclaw install --wait` to wait for it, or `k8sclaw doctor` to check." in said
    args = ["--non-interactive", "--instance", "beta", "--provider", "ollama"]
    config = ["--kubeconfig", str(installed.kubeconfig)]
    onboard = CliRunner().invoke(cli, ["onboard", *args, *config])
    assert onboard.exit_code != 0
    errors = [x for x in onboard.stderr.splitlines() if x.startswith(("error:", "hint:"))]
    assert errors[0] == (
        "error: the admission webhook is not answering yet: run `k8sclaw install --wait` "
        "(or `k8sclaw doctor`)"
    ), onboard.stderr
    assert "500" not in onboard.stderr and "failed calling webhook" not in onboard.stderr


def test_unreachable_api_is_one_fail(kube: KubeEnv, tmp_path: Path) -> None:
    port = _free_port()  # nothing listens there
    config = pointed_at(kube, tmp_path / "unreachable", f"https://127.0.0.1:{port}")
    result = doctor(kube, kubeconfig=config)
    assert result.exit_code == 1
    assert len(failing(result)) == 1 and "✓" not in result.stdout, result.stdout
    (line,) = failing(result)
    assert line.startswith(f"✗ API: cannot reach the Kubernetes API at https://127.0.0.1:{port}")
    assert "| fix: check that the cluster is running" in line
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_no_kubeconfig_is_one_fail(kube: KubeEnv, tmp_path: Path) -> None:
    result = doctor(kube, kubeconfig=tmp_path / "nothing-here")
    assert result.exit_code == 1
    assert len(failing(result)) == 1 and failing(result)[0].startswith("✗ API: ")


def test_api_that_never_answers_is_one_fail_not_a_hang(kube: KubeEnv, tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        config = pointed_at(kube, tmp_path / "silent", f"https://127.0.0.1:{port}")
        result = doctor(kube, "--timeout", "1", "-o", "json", kubeconfig=config)
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [c["check"] for c in report["checks"]] == ["api"]
    assert report["checks"][0]["text"].startswith("API: cannot reach the Kubernetes API")


def test_what_rbac_hides_is_a_warning_not_a_failure(kube: KubeEnv) -> None:
    """A namespace user may not read k8sclaw-system: those checks are ! (unknown), and
    the API and CRDs are still checked."""
    if kube.emulator is None:
        pytest.skip("RBAC denial is played by the emulator (forbidding)")
    with kube.emulator.forbidding(lambda a: a.namespace == SYSTEM):
        result = doctor(kube)
    warned = [x for x in result.stdout.splitlines() if x.startswith("!")]
    assert "! controller: not checked (forbidden: " in "\n".join(warned), result.stdout
    assert "! bus: not checked (forbidden: " in "\n".join(warned), result.stdout
    assert f"✓ CRDs: 5 installed and current ({names.VERSION})" in result.stdout
    assert "✗ controller" not in result.stdout
