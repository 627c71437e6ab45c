"""The control-plane manifests agree with the real components' command lines and ports.

Each Deployment's args and env go through the component's own settings parser
(in-process, no cluster): a flag it does not know, an env var it never reads, a probe
on a port it does not serve, a Service or webhook configuration pointing elsewhere, or
a NATS URL that is not the NATS Service fails here instead of in a cluster.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from k8sclaw import __version__
from k8sclaw.installer import load_bundle
from k8sclaw_protocol import names

IMAGES = Path(__file__).resolve().parents[2] / "images"
NS = names.SYSTEM_NAMESPACE
# console script -> the settings module its `main` parses the command line with.
SETTINGS = {
    "k8sclaw-controller": "k8sclaw_controllers.manager._settings",
    "k8sclaw-webhook": "k8sclaw_controllers.webhook._settings",
    "k8sclaw-apiserver": "k8sclaw_controllers.apiserver._settings",
}


class RecordingEnv(Mapping[str, str]):
    """An environment that remembers every variable the component looked up."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values, self.read = values, set[str]()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return self.values[key]

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return self.values.get(key, default)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return key in self.values

    def __iter__(self) -> Any:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    return [obj for step in load_bundle(__version__, "team-a") for obj in step.objects]


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def _env(container: dict[str, Any], namespace: str) -> dict[str, str]:
    env = {}
    for var in container.get("env") or []:
        if "value" in var:
            env[var["name"]] = str(var["value"])
        else:
            assert var["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace", var
            env[var["name"]] = namespace
    return env


def _port(container: dict[str, Any], ref: int | str) -> int:
    """A container port by number or name (as probes and Services refer to it)."""
    for port in container["ports"]:
        if ref in (port["containerPort"], port.get("name")):
            return int(port["containerPort"])
    raise AssertionError(f"container {container['name']} has no port {ref!r}")


def _resolve(script: str, container: dict[str, Any], env: dict[str, str]) -> tuple[Any, set[str]]:
    """Run the component's own parser on the container's command line and env."""
    assert "command" not in container, "the image ENTRYPOINT is the component's script"
    dockerfile = (IMAGES / container["name"] / "Dockerfile").read_text()
    assert re.search(rf'^ENTRYPOINT \["{script}"\]$', dockerfile, re.M), script
    target = entry_points(group="console_scripts")[script].value.split(":")[0]
    assert SETTINGS[script].startswith(f"{target}."), (script, target)
    recording = RecordingEnv(env)
    try:
        settings = importlib.import_module(SETTINGS[script]).resolve(
            container.get("args") or [], env=recording
        )
    except SystemExit as exc:  # argparse's verdict on an unknown or malformed flag
        pytest.fail(f"{script} refuses the manifest's args {container.get('args')}: exit {exc}")
    unread = set(env) - recording.read
    assert not unread, f"{script} never reads {sorted(unread)} set by its Deployment"
    return settings, recording.read


def _probes(container: dict[str, Any]) -> list[dict[str, Any]]:
    probes = [container[p]["httpGet"] for p in ("livenessProbe", "readinessProbe")]
    assert {p["path"] for p in probes} == {"/healthz", "/readyz"}
    return probes


def _ingress_ports(objects: list[dict[str, Any]], labels: dict[str, str]) -> set[int]:
    """Ports the NetworkPolicies of the control-plane namespace open to pods with `labels`."""
    ports: set[int] = set()
    for policy in (o for o in objects if o["kind"] == "NetworkPolicy"):
        selector = policy["spec"]["podSelector"].get("matchLabels") or {}
        if policy["metadata"]["namespace"] == NS and selector.items() <= labels.items():
            for rule in policy["spec"].get("ingress") or []:
                ports |= {int(p["port"]) for p in rule.get("ports") or []}
    return ports


def _service_target(objects: list[dict[str, Any]], name: str, container: dict[str, Any]) -> int:
    (port,) = _one(objects, "Service", name)["spec"]["ports"]
    return _port(container, port["targetPort"])


def test_controller(objects: list[dict[str, Any]]) -> None:
    deployment = _one(objects, "Deployment", "k8sclaw-controller")
    container = _container(deployment)
    settings, _ = _resolve("k8sclaw-controller", container, _env(container, NS))
    nats = _one(objects, "Service", names.NATS_SERVICE)
    nats_port = next(p["port"] for p in nats["spec"]["ports"] if p["name"] == "client")
    assert settings.event_bus_url == f"nats://{names.NATS_SERVICE}.{NS}.svc:{nats_port}"
    assert settings.event_bus_url == names.EVENT_BUS_URL
    assert settings.all_namespaces  # agent runs live in users' namespaces
    assert _port(container, "metrics") == settings.metrics_port
    for probe in _probes(container):
        assert _port(container, probe["port"]) == settings.metrics_port
        assert probe.get("scheme", "HTTP") == "HTTP"
    assert _service_target(objects, "k8sclaw-controller", container) == settings.metrics_port
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert settings.metrics_port in _ingress_ports(objects, labels)


def test_webhook(objects: list[dict[str, Any]]) -> None:
    deployment = _one(objects, "Deployment", names.WEBHOOK_SERVICE)
    container = _container(deployment)
    settings, _ = _resolve("k8sclaw-webhook", container, _env(container, NS))
    _, listen_port = settings.listen_address()
    assert listen_port == names.WEBHOOK_PORT == _port(container, "https")
    for probe in _probes(container):
        assert _port(container, probe["port"]) == listen_port and probe["scheme"] == "HTTPS"
    assert settings.namespace == NS == deployment["metadata"]["namespace"]
    assert settings.dev_url is None
    assert not any(
        m["mountPath"] == str(settings.cert_dir) for m in container.get("volumeMounts") or []
    ), "no cert-manager certificate is mounted: the webhook manages k8sclaw-webhook-tls"
    assert _service_target(objects, names.WEBHOOK_SERVICE, container) == listen_port
    (service_port,) = _one(objects, "Service", names.WEBHOOK_SERVICE)["spec"]["ports"]
    paths = {
        names.WEBHOOK_PATH_VALIDATE_AGENTRUN,
        names.WEBHOOK_PATH_MUTATE_AGENTRUN,
        names.WEBHOOK_PATH_VALIDATE_POLICY,
        names.WEBHOOK_PATH_VALIDATE_SKILLPACK,
        names.WEBHOOK_PATH_VALIDATE_INSTANCE,
    }
    seen = set()
    for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
        config = _one(objects, kind, settings.name)
        for hook in config["webhooks"]:
            service = hook["clientConfig"]["service"]
            assert (service["name"], service["namespace"], service["port"]) == (
                names.WEBHOOK_SERVICE,
                NS,
                service_port["port"],
            )
            seen.add(service["path"])
    assert seen == paths
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert listen_port in _ingress_ports(objects, labels)
    _assert_may_manage_tls_secret(objects, deployment)


def _assert_may_manage_tls_secret(
    objects: list[dict[str, Any]], deployment: dict[str, Any]
) -> None:
    """The webhook's ServiceAccount may get/update its TLS Secret (and create it)."""
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    verbs: set[str] = set()
    for binding in (o for o in objects if o["kind"] == "RoleBinding"):
        if binding["metadata"]["namespace"] != NS:
            continue
        if not any(s["name"] == account for s in binding["subjects"]):
            continue
        role = _one(objects, "Role", binding["roleRef"]["name"])
        for rule in role["rules"]:
            names_ok = names.WEBHOOK_TLS_SECRET in rule.get("resourceNames", [])
            if "secrets" in rule["resources"] and (names_ok or "create" in rule["verbs"]):
                verbs |= set(rule["verbs"])
    assert {"create", "get", "update"} <= verbs, verbs


def test_apiserver(objects: list[dict[str, Any]]) -> None:
    deployment = _one(objects, "Deployment", "k8sclaw-apiserver")
    container = _container(deployment)
    settings, _ = _resolve("k8sclaw-apiserver", container, _env(container, NS))
    assert settings.event_bus_url == names.EVENT_BUS_URL
    assert settings.port == _port(container, "http")
    for probe in _probes(container):
        assert _port(container, probe["port"]) == settings.port
    service = _one(objects, "Service", "k8sclaw-apiserver")["spec"]["ports"]
    targets = {p["name"]: _port(container, p["targetPort"]) for p in service}
    assert settings.secure_port == _port(container, "https")  # the aggregated API's TLS
    assert targets == {"http": settings.port, "https": settings.secure_port}
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert {settings.port, settings.secure_port} <= _ingress_ports(objects, labels)
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    data = volumes[mounts[str(settings.data_dir)]]
    claim = _one(objects, "PersistentVolumeClaim", data["persistentVolumeClaim"]["claimName"])
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == (
        "Recreate"
    ), "SQLite has one writer"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert settings.token_file is not None
    token = volumes[mounts[str(settings.token_file.parent)]]["secret"]
    assert token["optional"] is True  # no Secret, no static token
