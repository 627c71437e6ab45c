"""The aggregated API's TLS listener: the installed APIService verifies the API server by a
caBundle the API server keeps (no `insecureSkipTLSVerify`), and a rotated request-header
(front-proxy) CA is trusted without a restart, the old one no longer, while nothing is
re-read per request. Emulator only: a real kube-apiserver cannot reach a server inside
the test process."""

from __future__ import annotations

import base64
import contextlib
import secrets
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import kubernetes
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from k8sclaw_controllers.apiserver._secure import SERVICE
from k8sclaw_controllers.webhook import _certs
from tests.controllers.apiserver._aggregated import APISERVICE, Served, running_secure
from tests.controllers.apiserver._server import settings_for
from tests.harness.kube import KubeEnv
from tests.harness.kube._authn import ADMIN_TOKEN
from tests.harness.kube._pki import FRONT_PROXY_CLIENT, client_cert

MANIFEST = Path(__file__).parents[3] / "k8sclaw/manifests/controlplane/apiservice.yaml"
SYSTEM_NS, SECRET = "k8sclaw-system", "k8sclaw-apiserver-tls"
CONFIGMAP = ("kube-system", "extension-apiserver-authentication")


@pytest.fixture
def emulated(kube: KubeEnv) -> KubeEnv:
    if kube.is_real or kube.emulator is None:
        pytest.skip("a real kube-apiserver cannot reach the API server in this test process")
    return kube


def _wait(what: str, check: object) -> None:
    deadline = time.monotonic() + 30
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _served_der(port: int, ca_pem: str) -> bytes:
    """The certificate the listener presents, verified by `ca_pem` for the Service name."""
    context = ssl.create_default_context(cadata=ca_pem)
    host = f"{SERVICE}.{SYSTEM_NS}.svc"
    with (
        socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


@contextlib.contextmanager
def _installed_apiservice(kube: KubeEnv, older_install: bool) -> Iterator[None]:
    core = kubernetes.client.CoreV1Api(kube.api_client)
    with contextlib.suppress(kubernetes.client.ApiException):
        core.create_namespace({"metadata": {"name": SYSTEM_NS}})
    body = yaml.safe_load(MANIFEST.read_text())
    if older_install:  # as shipped before the API server kept its own CA
        body["spec"]["insecureSkipTLSVerify"] = True
    api = kubernetes.client.ApiregistrationV1Api(kube.api_client)
    api.create_api_service(body)
    try:
        yield
    finally:
        api.delete_api_service(APISERVICE)
        with contextlib.suppress(kubernetes.client.ApiException):
            core.delete_namespaced_secret(SECRET, SYSTEM_NS)


@pytest.mark.parametrize("older_install", [False, True])
def test_the_installed_apiservice_verifies_the_served_certificate_by_its_ca_bundle(
    emulated: KubeEnv, tmp_path: Path, older_install: bool
) -> None:
    kube = emulated
    shipped = yaml.safe_load(MANIFEST.read_text())["spec"]
    assert "insecureSkipTLSVerify" not in shipped
    settings = replace(
        settings_for(kube.kubeconfig, tmp_path / "data"), tls_secret=SECRET, namespace=SYSTEM_NS
    )
    api = kubernetes.client.ApiregistrationV1Api(kube.api_client)
    with _installed_apiservice(kube, older_install), running_secure(settings) as served:
        assert kube.emulator is not None
        kube.emulator.route_service(SYSTEM_NS, SERVICE, "127.0.0.1", served.secure_port)
        spec = api.read_api_service(APISERVICE).spec
        assert spec.ca_bundle, "the API server did not write the APIService's caBundle"
        assert not spec.insecure_skip_tls_verify
        ca_pem = base64.b64decode(spec.ca_bundle).decode()
        der = _served_der(served.secure_port, ca_pem)
        secret = kubernetes.client.CoreV1Api(kube.api_client).read_namespaced_secret(
            SECRET, SYSTEM_NS
        )
        stored = x509.load_pem_x509_certificate(base64.b64decode(secret.data["tls.crt"]))
        assert der == stored.public_bytes(Encoding.DER)
        # kube-apiserver (the emulator's aggregator) reaches it, verifying by the caBundle
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        with httpx.Client(base_url=kube.server_url, headers=headers, timeout=60) as http:
            got = http.get(
                f"/apis/transcripts.k8sclaw.io/v1alpha1/namespaces/{kube.namespace}/sessions"
            )
        assert got.status_code == 200, got.text


def _proxy_tls(tmp_path: Path, cert: bytes, key: bytes, name: str) -> ssl.SSLContext:
    (tmp_path / f"{name}.crt").write_bytes(cert)
    (tmp_path / f"{name}.key").write_bytes(key)
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    context.load_cert_chain(tmp_path / f"{name}.crt", tmp_path / f"{name}.key")
    return context


def _as_front_proxy(tls: ssl.SSLContext, served: Served, ns: str) -> httpx.Response:
    """One request on a new connection (an open one keeps the context it was made with)."""
    url = f"https://127.0.0.1:{served.secure_port}/apis/transcripts.k8sclaw.io/v1alpha1"
    with httpx.Client(verify=tls, timeout=60) as http:
        return http.get(f"{url}/namespaces/{ns}/sessions", headers={"X-Remote-User": "carol"})


def test_a_rotated_request_header_ca_is_trusted_and_the_old_one_no_longer(
    emulated: KubeEnv, tmp_path: Path
) -> None:
    kube = emulated
    assert kube.emulator is not None and kube.emulator.pki is not None
    pki = kube.emulator.pki
    core = kubernetes.client.CoreV1Api(kube.api_client)
    original = core.read_namespaced_config_map(CONFIGMAP[1], CONFIGMAP[0]).data
    old = _proxy_tls(
        tmp_path,
        (pki.folder / "front-proxy-client.crt").read_bytes(),
        (pki.folder / "front-proxy-client.key").read_bytes(),
        "old",
    )
    new_ca, new_ca_key = _certs.new_ca("front-proxy-ca-2")
    new = _proxy_tls(tmp_path, *client_cert(new_ca, new_ca_key, FRONT_PROXY_CLIENT), "new")
    settings = replace(settings_for(kube.kubeconfig, tmp_path / "data"), tls_refresh_seconds=0.1)
    with running_secure(settings) as served:
        tls = served.process.tls
        assert tls is not None
        # carol has no binding: 403 naming her shows the forwarded identity was trusted
        for _ in range(5):
            got = _as_front_proxy(old, served, kube.namespace)
            assert got.status_code == 403 and "carol" in got.text, got.text
        time.sleep(0.5)  # several refresh ticks with nothing changed
        assert tls.serving.builds == 1, "the TLS context was rebuilt without a change"
        with pytest.raises(httpx.TransportError):
            _as_front_proxy(new, served, kube.namespace)  # not yet trusted
        data = {**original, "requestheader-client-ca-file": new_ca.decode()}
        try:
            core.patch_namespaced_config_map(CONFIGMAP[1], CONFIGMAP[0], {"data": data})
            _wait("the listener to load the rotated CA", lambda: tls.serving.builds == 2)
            got = _as_front_proxy(new, served, kube.namespace)
            assert got.status_code == 403 and "carol" in got.text, got.text
            with pytest.raises(httpx.TransportError):
                _as_front_proxy(old, served, kube.namespace)  # the old CA: no handshake
        finally:
            core.patch_namespaced_config_map(CONFIGMAP[1], CONFIGMAP[0], {"data": original})


def test_a_tls_secret_that_cannot_be_written_yet_is_retried(
    emulated: KubeEnv, tmp_path: Path
) -> None:
    """The Secret's namespace is missing at start: the listener serves a self-signed pair
    (and the API keeps answering), then switches to the Secret's once it can be made."""
    kube = emulated
    namespace = f"tls-{secrets.token_hex(4)}"
    settings = replace(
        settings_for(kube.kubeconfig, tmp_path / "data"),
        tls_secret=SECRET,
        namespace=namespace,
        tls_refresh_seconds=0.1,
    )
    core = kubernetes.client.CoreV1Api(kube.api_client)
    with running_secure(settings) as served:
        tls = served.process.tls
        assert tls is not None and tls.serving.builds == 1
        assert httpx.get(f"{served.base}/healthz", timeout=60).status_code == 200
        core.create_namespace({"metadata": {"name": namespace}})
        try:
            _wait("the Secret's certificate to be served", lambda: tls.serving.builds == 2)
            secret = core.read_namespaced_secret(SECRET, namespace)
            ca_pem = base64.b64decode(secret.data["ca.crt"]).decode()
            host = f"{SERVICE}.{namespace}.svc"
            context = ssl.create_default_context(cadata=ca_pem)
            with (
                socket.create_connection(("127.0.0.1", served.secure_port), timeout=30) as raw,
                context.wrap_socket(raw, server_hostname=host),
            ):
                pass  # verified by the Secret's CA for the Service's name
        finally:
            core.delete_namespace(namespace)
