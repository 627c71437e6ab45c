"""The TLS listener (`--secure-addr`) kube-apiserver proxies the aggregated API to.

Serving certificate: `tls.crt`/`tls.key` from `--tls-dir` (a mounted Secret), else a
self-signed pair made at start (the APIService then says `insecureSkipTLSVerify`, as
metrics-server's does). Client certificates are requested, not required, and verified
against the cluster's request-header CA only, so a verified peer is kube-apiserver's
front proxy and nobody else; its common name reaches the handlers as the scope extension
`k8sclaw.peer` (uvicorn does not expose the peer certificate, so a small protocol subclass
adds it per connection). Clients without a certificate still connect and must bring a
bearer token (health probes and direct callers).
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from k8sclaw_controllers.apiserver._frontproxy import PEER_KEY, FrontProxy
from k8sclaw_controllers.apiserver._settings import Settings

log = logging.getLogger("k8sclaw.apiserver")
SERVICE_HOSTS = (
    "k8sclaw-apiserver.k8sclaw-system.svc",
    "k8sclaw-apiserver.k8sclaw-system",
    "k8sclaw-apiserver",
    "localhost",
    "127.0.0.1",
)


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


def serving_files(settings: Settings) -> tuple[Path, Path]:
    """(certificate, key): the mounted pair, else a self-signed one under the data dir."""
    if settings.tls_dir is not None:
        cert, key = settings.tls_dir / "tls.crt", settings.tls_dir / "tls.key"
        if cert.is_file() and key.is_file():
            return cert, key
        log.warning("no tls.crt/tls.key in %s; serving a self-signed certificate", settings.tls_dir)
    from k8sclaw_controllers.webhook._certs import generate

    bundle = generate(list(SERVICE_HOSTS))
    folder = settings.data_dir / "tls"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert, key = folder / "tls.crt", folder / "tls.key"
    cert.write_bytes(bundle.cert + bundle.ca_cert)
    key.touch(mode=0o600)
    key.write_bytes(bundle.key)
    return cert, key


def secure_config(app: Any, settings: Settings, proxy: FrontProxy | None) -> uvicorn.Config:
    """uvicorn settings of the TLS listener (no lifespan: the plain listener runs it)."""
    assert settings.secure_port is not None
    cert, key = serving_files(settings)
    ca_file: str | None = None
    if proxy is not None:
        path = settings.data_dir / "tls" / "requestheader-ca.crt"
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(proxy.ca_pem)
        ca_file = str(path)
    return uvicorn.Config(
        app,
        host=settings.secure_host,
        port=settings.secure_port,
        http=PeerProtocol,
        ssl_certfile=str(cert),
        ssl_keyfile=str(key),
        ssl_ca_certs=ca_file,
        ssl_cert_reqs=ssl.CERT_OPTIONAL if ca_file else ssl.CERT_NONE,
        lifespan="off",
        log_level="info",
        access_log=False,
        server_header=False,
    )
