"""The fast read path: GET requests over `http.client`, parsed with `json`, no pydantic.

`k8sclaw runs list` spends most of its time importing the kubernetes client (urllib3,
requests, oauthlib, ~0.5 s) and validating 1,000 models. Read-only table/name output
needs neither: this client sends one GET with the kubeconfig's credentials and returns
plain dicts. Failures go through the same error tree (`_errors.from_response`,
`_errors.unreachable`) as `Kube.request`, so messages and exit codes are identical.
"""

from __future__ import annotations

import http.client
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from k8sclaw import __version__
from k8sclaw.kube import _errors, _kinds

if TYPE_CHECKING:
    import ssl

    from k8sclaw.kube._config import ClusterTarget
    from k8sclaw.kube._kubeconfig import RestConfig

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 60.0


class RestClient:
    """One API server, read-only: `get_json` and the list/get helpers built on it."""

    def __init__(self, config: RestConfig) -> None:
        self.config = config
        self.namespace = config.namespace
        url = urlsplit(config.server)
        self._https = url.scheme == "https"
        self._host = url.hostname or "localhost"
        self._port = url.port or (443 if self._https else 80)
        self._prefix = url.path.rstrip("/")

    def get_json(
        self, path: str, *, what: str, custom: bool, query: dict[str, str] | None = None
    ) -> Any:
        """GET `path` and parse the JSON body; a `KubeError` on any failure."""
        target = self._prefix + path + (f"?{urlencode(query)}" if query else "")
        headers = {
            "Accept": "application/json",
            "User-Agent": f"k8sclaw/{__version__}",
            **self.config.headers,
        }
        try:
            conn = self._connection()
            try:
                conn.request("GET", target, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
            finally:
                conn.close()
        except (OSError, http.client.HTTPException) as exc:
            raise _errors.unreachable(self.config.server, exc) from exc
        if not 200 <= resp.status <= 299:
            raise _errors.from_response(resp.status, resp.reason, body, what=what, custom=custom)
        return json.loads(body) if body else {}

    def list_items(
        self, kind: _kinds.KindNames, namespace: str | None, selector: str = ""
    ) -> list[dict[str, Any]]:
        """All objects of a custom kind (namespace None = all namespaces), as dicts."""
        query = {"labelSelector": selector} if selector else None
        body = self.get_json(kind.collection(namespace), what=kind.plural, custom=True, query=query)
        items: list[dict[str, Any]] = body.get("items") or []
        list_kind = body.get("apiVersion") or _kinds.GROUP_VERSION
        for item in items:  # list items carry no apiVersion/kind on the wire
            item.setdefault("apiVersion", list_kind)
            item.setdefault("kind", kind.kind)
        return items

    def get_item(self, kind: _kinds.KindNames, name: str, namespace: str) -> dict[str, Any]:
        """One custom object; NotFound worded as `Kube.get` words it."""
        path = f"{kind.collection(namespace)}/{name}"
        try:
            body: dict[str, Any] = self.get_json(path, what=f"{kind.kind} {name}", custom=True)
        except _errors.NotFoundError as exc:
            raise _kinds.not_found(kind.kind, kind.singular, kind.plural, name, namespace) from exc
        return body

    def _connection(self) -> http.client.HTTPConnection:
        """A connected HTTP(S) connection: short connect timeout, longer read timeout."""
        conn: http.client.HTTPConnection
        if self._https:
            conn = _TLSConnection(
                self._host,
                self._port,
                timeout=CONNECT_TIMEOUT,
                context=_ssl_context(self.config),
                sni=self.config.tls_server_name or self._host,
            )
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=CONNECT_TIMEOUT)
        conn.connect()
        if conn.sock is not None:
            conn.sock.settimeout(READ_TIMEOUT)
        return conn


class _TLSConnection(http.client.HTTPSConnection):
    """HTTPS with an explicit TLS server name (kubeconfig `tls-server-name`)."""

    def __init__(self, host: str, port: int, *, timeout: float, context: Any, sni: str) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._sni = sni
        self._tls = context

    def connect(self) -> None:
        """Open the TCP connection, then TLS with our server name."""
        http.client.HTTPConnection.connect(self)
        self.sock = self._tls.wrap_socket(self.sock, server_hostname=self._sni)


def _ssl_context(config: RestConfig) -> ssl.SSLContext:
    """Verification against the kubeconfig CA (or the system's), optional client cert."""
    import ssl

    ctx = (
        ssl.create_default_context(cadata=config.ca_pem)
        if config.ca_pem
        else (ssl.create_default_context())
    )
    if config.insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if config.client_cert_pem and config.client_key_pem:
        # ssl loads key material only from files: a private 0700 directory, removed at once.
        with tempfile.TemporaryDirectory(prefix="k8sclaw-") as tmp:
            cert, key = Path(tmp, "client.crt"), Path(tmp, "client.key")
            for path, text in ((cert, config.client_cert_pem), (key, config.client_key_pem)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(text)
            ctx.load_cert_chain(cert, key)
    return ctx


def connect_rest(target: ClusterTarget) -> RestClient:
    """A fast client for `target`; `UnsupportedConfigError` when only `Kube` can connect."""
    from k8sclaw.kube import _kubeconfig

    return RestClient(_kubeconfig.load(target))
