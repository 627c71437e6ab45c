"""Self-managed TLS through the API server: Secret k8sclaw-webhook-tls, rotation of the
serving certificate and of the CA, caBundle re-patched into both configurations, and
admission requests that keep succeeding across each rotation.

The webhook serves in-process behind a Service reference (`route_service`), so the
API server verifies `k8sclaw-webhook.<namespace>.svc` against the caBundle exactly as
in a cluster. The rotation clock is fast-forwarded; certificates are real-time valid.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import secrets
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from k8sclaw_controllers.manager import _kube
from k8sclaw_controllers.webhook import Admission, ClusterSource, _certs, _configs, _server, _tls
from k8sclaw_protocol import names
from tests.harness.kube import KubeEnv
from tests.policy._builders import policy_body, run_body


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@dataclass
class Served:
    kube: KubeEnv
    tls: _tls.SecretTls
    clock: Clock
    client: _kube.Kube
    port: int
    configuration: str

    async def create_run(self, name: str) -> dict[str, Any]:
        body = run_body(name=name, namespace=self.kube.namespace)
        return await asyncio.to_thread(self._create, "agentruns", body)

    def _create(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        api = kubernetes.client.CustomObjectsApi(self.kube.api_client)
        created: dict[str, Any] = api.create_namespaced_custom_object(
            names.GROUP, names.API_VERSION, self.kube.namespace, plural, body
        )
        return created

    async def secret(self) -> dict[str, bytes]:
        path = _kube.core(self.kube.namespace, "secrets", names.WEBHOOK_TLS_SECRET)
        data = (await self.client.get(path))["data"]
        return {key: base64.b64decode(value) for key, value in data.items()}

    async def ca_bundles(self) -> set[bytes]:
        found = set()
        for plural in (_configs.VALIDATING, _configs.MUTATING):
            body = await self.client.get(f"{_configs.API}/{plural}/{self.configuration}")
            found |= {
                base64.b64decode(hook["clientConfig"]["caBundle"]) for hook in body["webhooks"]
            }
        return found

    async def presented(self, trust: bytes) -> bytes:
        """DER of the certificate a new handshake gets, verified against `trust`."""
        context = ssl.create_default_context(cadata=trust.decode())
        hostname = f"{names.WEBHOOK_SERVICE}.{self.kube.namespace}.svc"
        _, writer = await asyncio.open_connection(
            "127.0.0.1", self.port, ssl=context, server_hostname=hostname
        )
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        writer.close()
        await writer.wait_closed()
        return bytes(der)


def _der(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


def _scoped(bodies: tuple[dict[str, Any], ...], namespace: str) -> tuple[dict[str, Any], ...]:
    """Only this test's namespace is judged (the emulator is shared by the session)."""
    selector = {"matchLabels": {names.LABEL_NAMESPACE_NAME: namespace}}
    for body in bodies:
        for hook in body["webhooks"]:
            hook["namespaceSelector"] = selector
    return bodies


async def _abort_and_cleanup(runner: web.AppRunner) -> None:
    # The API server keeps connections alive; abort them so no TLS shutdown outlives the loop.
    for handler in runner.server.connections if runner.server else []:
        if handler.transport is not None:
            handler.transport.abort()
    await runner.cleanup()


@pytest.fixture
async def served(kube: KubeEnv, tmp_path: Path) -> AsyncIterator[Served]:
    if kube.emulator is None:
        pytest.skip("routes the webhook Service to this machine, which only the emulator can")
    namespace, name = kube.namespace, f"k8sclaw-webhook-rot-{secrets.token_hex(3)}"
    client = _kube.Kube.connect(_kube.load_configuration(str(kube.kubeconfig)))
    placeholder, _ = _certs.new_ca()
    service = _configs.service_client(namespace, names.WEBHOOK_SERVICE)
    bodies = _scoped(_configs.configurations(service, placeholder, name), namespace)
    await _configs.register(client, bodies)
    clock = Clock()
    hosts = _certs.service_hosts(names.WEBHOOK_SERVICE, namespace)
    tls = _tls.SecretTls(
        client, namespace, tmp_path / "tls", hosts, clock=clock, configuration=name
    )
    await tls.refresh()
    app = _server.build_app(Admission(ClusterSource(client)))
    runner = await _server.start(app, "127.0.0.1", 0, tls.context)
    port = runner.addresses[0][1]
    kube.emulator.route_service(namespace, names.WEBHOOK_SERVICE, "127.0.0.1", port)
    served = Served(kube, tls, clock, client, port, name)
    try:
        await asyncio.to_thread(served._create, "clawpolicies", policy_body(namespace=namespace))
        instance = {
            "apiVersion": names.GROUP_VERSION,
            "kind": "ClawInstance",
            "metadata": {"name": "alpha"},
            "spec": {"agents": {"default": {"model": "gpt-4o"}}, "policyRef": "default-policy"},
        }
        await asyncio.to_thread(served._create, "clawinstances", instance)
        yield served
    finally:
        await _configs.unregister(client, bodies)
        await _abort_and_cleanup(runner)
        await client.close()


async def _admitted_during(served: Served, prefix: str, action: Any) -> None:
    """Runs created while `action` rotates are all admitted (and mutated: the webhook ran)."""
    creates = [served.create_run(f"{prefix}-{index}") for index in range(3)]
    *runs, _ = await asyncio.gather(*creates, action)
    for run in runs:
        assert run["metadata"]["labels"][names.LABEL_INSTANCE] == "alpha"
    after = await served.create_run(f"{prefix}-after")
    assert after["metadata"]["labels"][names.LABEL_INSTANCE] == "alpha"


async def test_first_start_stores_the_certificate_and_publishes_its_ca(served: Served) -> None:
    stored = await served.secret()
    assert await served.ca_bundles() == {stored["ca.crt"]}
    assert await served.presented(stored["ca.crt"]) == _der(stored["tls.crt"])
    run = await served.create_run("first")
    assert run["metadata"]["labels"][names.LABEL_INSTANCE] == "alpha"


async def test_serving_certificate_rotates_before_expiry_under_the_same_ca(
    served: Served,
) -> None:
    before = await served.secret()
    served.clock.now += dt.timedelta(days=_certs.SERVING_DAYS) - _certs.ROTATE_BEFORE / 2
    await _admitted_during(served, "serving", served.tls.refresh())
    after = await served.secret()
    assert after["tls.crt"] != before["tls.crt"]
    assert after["ca.crt"] == before["ca.crt"]
    assert await served.ca_bundles() == {before["ca.crt"]}
    assert await served.presented(before["ca.crt"]) == _der(after["tls.crt"])


async def test_ca_rotation_trusts_old_and_new_then_serves_the_new(served: Served) -> None:
    before = await served.secret()
    served.clock.now += dt.timedelta(days=_certs.CA_DAYS - _certs.SERVING_DAYS)
    await _admitted_during(served, "ca", served.tls.refresh())
    after = await served.secret()
    new_ca = after["ca.crt"][: len(after["ca.crt"]) - len(before["ca.crt"])]
    assert after["ca.crt"] == new_ca + before["ca.crt"] and new_ca != before["ca.crt"]
    assert await served.ca_bundles() == {after["ca.crt"]}
    assert await served.presented(new_ca) == _der(after["tls.crt"])
    with pytest.raises(ssl.SSLCertVerificationError):
        await served.presented(before["ca.crt"])
