"""Serving TLS in the cluster: a cert-manager certificate when mounted, else our own.

`CertDirTls` serves `tls.crt`/`tls.key` from a mounted directory (cert-manager writes
it and its CA injector fills the caBundle) and reloads them when they change.
`SecretTls` keeps a CA and serving certificate in Secret `k8sclaw-webhook-tls`
(shared by all replicas), patches the CA into the webhook configurations, and
re-issues the serving certificate 30 days before it expires; a new CA is only made
when the old one nears expiry, and then both are trusted until the switch is done.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from k8sclaw_controllers.manager import _kube
from k8sclaw_controllers.webhook import _certs, _configs
from k8sclaw_protocol import names

log = logging.getLogger("k8sclaw.webhook.tls")
CHECK_INTERVAL = 3600.0


def _server_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class CertDirTls:
    """TLS from a mounted directory holding tls.crt and tls.key."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.context = _server_context()
        self._stamp: tuple[float, float] = (0.0, 0.0)

    @staticmethod
    def present(directory: Path) -> bool:
        """True when the directory holds a certificate and key."""
        return (directory / "tls.crt").is_file() and (directory / "tls.key").is_file()

    async def refresh(self) -> None:
        """Load the files if they changed since the last load."""
        cert, key = self.directory / "tls.crt", self.directory / "tls.key"
        stamp = (cert.stat().st_mtime, key.stat().st_mtime)
        if stamp != self._stamp:
            self.context.load_cert_chain(cert, key)
            self._stamp = stamp
            log.info("loaded serving certificate from %s", self.directory)


class SecretTls:
    """TLS managed by the webhook itself, stored in a Secret and rotated.

    `clock` only decides *when* to rotate (tests fast-forward it); certificates are
    always issued from the real time, so every verifier accepts them at once.
    `configuration` names the two webhook configurations the CA is patched into.
    Serving a new certificate swaps it into the live SSL context: handshakes from then
    on present it, connections already open keep theirs, no request is dropped.
    """

    def __init__(
        self,
        kube: _kube.Kube,
        namespace: str,
        workdir: Path,
        hosts: list[str],
        *,
        clock: Callable[[], dt.datetime] | None = None,
        configuration: str = names.WEBHOOK_CONFIGURATION,
        secret: str = names.WEBHOOK_TLS_SECRET,
        publish: Callable[[bytes], Awaitable[bool]] | None = None,
    ) -> None:
        self.context = _server_context()
        self._kube = kube
        self._namespace = namespace
        self._workdir = workdir
        self._hosts = hosts
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._configuration = configuration
        self._secret = secret
        self._publish = publish or self._patch_configurations
        self._serving: bytes = b""
        self.bundle: _certs.CertBundle | None = None
        """What is served now (after the first `refresh`)."""

    @property
    def _path(self) -> str:
        return _kube.core(self._namespace, "secrets", self._secret)

    async def _patch_configurations(self, trusted: bytes) -> bool:
        if await _configs.patch_ca_bundle(self._kube, trusted, self._configuration) < 2:
            log.warning("webhook configurations %s not found yet; will retry", self._configuration)
            return False
        return True

    async def refresh(self) -> None:
        """Read the Secret, rotate what is due, publish the CA, then serve the result."""
        secret = await self._read()
        bundle = _decode(secret)
        now = self._clock()
        if bundle is None or _certs.needs_rotation(bundle, self._hosts, now=now):
            bundle, trusted = self._renew(bundle, now, _trusted(secret, bundle))
            await self._write(secret, bundle, trusted)
            log.info("issued serving certificate for %s", ", ".join(self._hosts))
        else:
            trusted = _trusted(secret, bundle)
        # Trust first, serve second: the API server must trust a new CA before any
        # handshake presents a certificate signed by it.
        await self._publish(trusted)
        self.bundle = bundle
        if bundle.cert != self._serving:
            _certs.load(self.context, bundle, self._workdir)
            self._serving = bundle.cert

    def _renew(
        self, old: _certs.CertBundle | None, now: dt.datetime, trusted: bytes
    ) -> tuple[_certs.CertBundle, bytes]:
        """A new serving certificate and the CA bundle to trust from now on.

        Same CA: the trusted bundle is kept as it is. New CA: it is trusted together
        with the previous one, so certificates of either verify during the switch.
        """
        if old is not None and _certs.ca_usable(old, now=now):
            return _certs.issue(old.ca_cert, old.ca_key, self._hosts), trusted
        fresh = _certs.generate(self._hosts)
        return fresh, fresh.ca_cert + (old.ca_cert if old is not None else b"")

    async def _read(self) -> dict[str, Any] | None:
        try:
            return await self._kube.get(self._path)
        except _kube.NotFoundError:
            return None

    async def _write(
        self, secret: dict[str, Any] | None, bundle: _certs.CertBundle, trusted: bytes
    ) -> None:
        data = {
            "ca.crt": trusted,
            "ca.key": bundle.ca_key,
            "tls.crt": bundle.cert,
            "tls.key": bundle.key,
        }
        encoded = {key: base64.b64encode(value).decode() for key, value in data.items()}
        if secret is None:
            body = {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "kubernetes.io/tls",
                "metadata": {
                    "name": self._secret,
                    "labels": {names.LABEL_PART_OF: names.MANAGED_BY},
                },
                "data": encoded,
            }
            await self._kube.create(_kube.core(self._namespace, "secrets"), body)
        else:
            version = secret["metadata"]["resourceVersion"]
            await self._kube.patch(
                self._path, {"metadata": {"resourceVersion": version}, "data": encoded}
            )


def _field(secret: dict[str, Any], key: str) -> bytes:
    return base64.b64decode((secret.get("data") or {}).get(key) or "")


def _decode(secret: dict[str, Any] | None) -> _certs.CertBundle | None:
    """The bundle in the Secret, or None when it is missing or unreadable."""
    if secret is None:
        return None
    ca_pem = _field(secret, "ca.crt")
    end = b"-----END CERTIFICATE-----"
    first_ca = ca_pem[: ca_pem.find(end) + len(end)] + b"\n" if ca_pem else b""
    bundle = _certs.CertBundle(
        first_ca, _field(secret, "ca.key"), _field(secret, "tls.crt"), _field(secret, "tls.key")
    )
    try:
        bundle.serving_not_after()
        bundle.ca_not_after()
    except ValueError:
        return None
    return bundle


def _trusted(secret: dict[str, Any] | None, bundle: _certs.CertBundle | None) -> bytes:
    if secret:
        return _field(secret, "ca.crt")
    return bundle.ca_cert if bundle else b""


async def refresh_forever(tls: CertDirTls | SecretTls, interval: float = CHECK_INTERVAL) -> None:
    """Re-check the certificate every `interval` seconds; errors are logged and retried."""
    while True:
        await asyncio.sleep(interval)
        try:
            await tls.refresh()
        except (OSError, ssl.SSLError, _kube.KubeError) as error:
            log.error("TLS refresh failed, keeping the current certificate: %s", error)
