"""The TLS listener (`--secure-addr`) kube-apiserver proxies the aggregated API to.

Serving certificate, first that applies: `tls.crt`/`tls.key` from `--tls-dir` (a mounted
Secret, e.g. cert-manager's); with `--tls-secret NAME`, the API server's own CA and
serving certificate kept in that Secret and rotated, exactly as the webhook manages its
TLS (`webhook._tls.SecretTls`), with the CA written into the APIService's `caBundle`, so
kube-apiserver verifies the server and the APIService needs no `insecureSkipTLSVerify`;
else a self-signed pair made at start (direct use and tests: no APIService can trust it).

Client certificates are requested, not required, and verified against the cluster's
request-header CA only, so a verified peer is kube-apiserver's front proxy and nobody
else; its common name reaches the handlers as the scope extension `k8sclaw.peer`
(uvicorn does not expose the peer certificate, so a small protocol subclass adds it per
connection). Clients without a certificate still connect and must bring a bearer token
(health probes and direct callers).

Rotation: the serving pair and the request-header CA are read once and re-checked on a
timer (`refresh_forever`), never per request. When either changed, `ServingTls` builds a
fresh SSL context; every handshake switches to the newest (SNI callback, which OpenSSL
calls for every ClientHello), so a rotated front-proxy CA is trusted at once and the old
one no longer, and open connections keep theirs.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from k8sclaw_controllers.apiserver import _frontproxy
from k8sclaw_controllers.apiserver._frontproxy import PEER_KEY, FrontProxy
from k8sclaw_controllers.apiserver._settings import Settings
from k8sclaw_controllers.manager import _kube

log = logging.getLogger("k8sclaw.apiserver")
SERVICE_HOSTS = (
    "k8sclaw-apiserver.k8sclaw-system.svc",
    "k8sclaw-apiserver.k8sclaw-system",
    "k8sclaw-apiserver",
    "localhost",
    "127.0.0.1",
)
SERVICE = "k8sclaw-apiserver"
APISERVICE = "/apis/apiregistration.k8s.io/v1/apiservices/v1alpha1.transcripts.k8sclaw.io"


def peer_name(transport: Any) -> str | None:
    """The common name of the client certificate the TLS layer verified, if any."""
    ssl_object = transport.get_extra_info("ssl_object")
    cert = ssl_object.getpeercert() if ssl_object is not None else None
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


class PeerProtocol(H11Protocol):
    """uvicorn's h11 protocol, plus the verified peer name in every request's scope."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        name = peer_name(transport)
        if name is None:
            return
        inner = self.app

        async def app(scope: Any, receive: Any, send: Any) -> None:
            scope["extensions"] = {**(scope.get("extensions") or {}), PEER_KEY: name}
            await inner(scope, receive, send)

        self.app = app


def _context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class ServingTls:
    """The listener's SSL context (`context`, what uvicorn listens with) and the one each
    handshake switches to (`current`), rebuilt whenever its inputs change."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.context = _context()
        self.context.sni_callback = self._switch
        self.current: ssl.SSLContext | None = None
        self.builds = 0
        self._state: tuple[bytes, bytes, str] | None = None

    def _switch(self, ssl_object: Any, server_name: str | None, _: ssl.SSLContext) -> None:
        if self.current is not None:
            ssl_object.context = self.current

    def update(self, cert: bytes, key: bytes, ca_pem: str | None) -> bool:
        """Serve `cert`/`key` and verify client certificates by `ca_pem` (None: none are
        asked for) from the next handshake on; False when nothing changed."""
        state = (cert, key, ca_pem or "")
        if state == self._state:
            return False
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        cert_file, key_file = self.folder / "tls.crt", self.folder / "tls.key"
        cert_file.write_bytes(cert)
        key_file.touch(mode=0o600)
        key_file.write_bytes(key)
        fresh = _context()
        fresh.load_cert_chain(cert_file, key_file)
        mode = ssl.CERT_NONE
        if ca_pem:
            fresh.load_verify_locations(cadata=ca_pem)
            mode = ssl.CERT_OPTIONAL
        fresh.verify_mode = mode
        # A switched handshake keeps the listening context's verify mode (OpenSSL does
        # not copy it); the certificates it trusts are the fresh context's.
        self.context.load_cert_chain(cert_file, key_file)
        self.context.verify_mode = mode
        self.current, self._state = fresh, state
        self.builds += 1
        return True


class SecureTls:
    """Keeps `ServingTls` up to date: the serving pair (mounted, own Secret, or
    self-signed) and the cluster's request-header CA (`deps.front_proxy`)."""

    def __init__(self, settings: Settings, deps: Any) -> None:
        self.settings, self.deps = settings, deps
        self.serving = ServingTls(settings.data_dir / "tls")
        self._secret: Any = None
        self._pair: tuple[bytes, bytes] | None = None

    async def _publish(self, trusted: bytes) -> bool:
        """Write the CA into the APIService's caBundle (False while it is not installed)."""
        kube: _kube.Kube = self.deps.kube
        try:
            current = await kube.get(APISERVICE)
        except _kube.NotFoundError:
            log.warning("APIService v1alpha1.transcripts.k8sclaw.io not found yet; will retry")
            return False
        encoded = base64.b64encode(trusted).decode()
        spec = current.get("spec") or {}
        if spec.get("caBundle") == encoded and not spec.get("insecureSkipTLSVerify"):
            return True
        version = current["metadata"]["resourceVersion"]
        # an APIService from an older install may still skip verification: not with a CA
        spec_patch = {"caBundle": encoded, "insecureSkipTLSVerify": None}
        body = {"metadata": {"resourceVersion": version}, "spec": spec_patch}
        await kube.patch(APISERVICE, body)
        return True

    async def _serving_pair(self) -> tuple[bytes, bytes]:
        settings = self.settings
        if settings.tls_dir is not None:
            cert, key = settings.tls_dir / "tls.crt", settings.tls_dir / "tls.key"
            if cert.is_file() and key.is_file():
                return cert.read_bytes(), key.read_bytes()
            log.warning("no tls.crt/tls.key in %s", settings.tls_dir)
        if settings.tls_secret and self.deps.kube is not None:
            if self._secret is None:
                from k8sclaw_controllers.webhook import _certs, _tls

                hosts = _certs.service_hosts(SERVICE, settings.namespace)
                self._secret = _tls.SecretTls(
                    self.deps.kube,
                    settings.namespace,
                    settings.data_dir / "tls" / "secret",
                    hosts,
                    secret=settings.tls_secret,
                    publish=self._publish,
                )
            try:
                await self._secret.refresh()
            except _kube.KubeError as exc:  # e.g. RBAC not applied yet: retried on the timer
                log.error("cannot keep TLS Secret %s: %s", settings.tls_secret, exc)
            bundle = self._secret.bundle
            if bundle is not None:
                return bundle.cert, bundle.key
        if self._pair is None:
            from k8sclaw_controllers.webhook._certs import generate

            log.warning("serving a self-signed certificate: no APIService can verify it")
            bundle = generate(list(SERVICE_HOSTS))
            self._pair = (bundle.cert + bundle.ca_cert, bundle.key)
        return self._pair

    async def refresh(self) -> bool:
        """Re-read the serving pair and the front-proxy settings; True when the context
        was rebuilt."""
        if self.deps.kube is not None and self.deps.front_proxy is not None:
            fresh = await _frontproxy.load(self.deps.kube)
            if fresh is not None:
                self.deps.front_proxy = fresh
        cert, key = await self._serving_pair()
        proxy: FrontProxy | None = self.deps.front_proxy
        return self.serving.update(cert, key, proxy.ca_pem if proxy else None)

    async def refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.tls_refresh_seconds)
            try:
                if await self.refresh():
                    log.info("TLS listener: serving certificate or request-header CA changed")
            except (OSError, ssl.SSLError, _kube.KubeError) as error:
                log.error("TLS refresh failed, keeping the current context: %s", error)


def secure_config(app: Any, settings: Settings, tls: ServingTls) -> uvicorn.Config:
    """uvicorn settings of the TLS listener (no lifespan: the plain listener runs it),
    listening with `tls.context` (already filled by `SecureTls.refresh`)."""
    assert settings.secure_port is not None
    cfg = uvicorn.Config(
        app,
        host=settings.secure_host,
        port=settings.secure_port,
        http=PeerProtocol,
        ssl_certfile=str(tls.folder / "tls.crt"),  # marks the scheme https; see below
        ssl_keyfile=str(tls.folder / "tls.key"),
        lifespan="off",
        log_level="info",
        access_log=False,
        server_header=False,
    )
    cfg.load()
    cfg.ssl = tls.context  # the rotating context instead of uvicorn's fixed one
    return cfg
