"""cert-manager mode: the webhook serves tls.crt/tls.key from its cert dir and picks up a
renewed certificate (even from a new issuer) on its next refresh, over real HTTPS."""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from k8sclaw_controllers.webhook import Admission, _certs, _server, _tls
from tests.webhook._memory import MemorySource


def _write(directory: Path, bundle: _certs.CertBundle, stamp: float) -> None:
    """Write the pair as cert-manager's Secret volume would, with a distinct mtime."""
    for name, data in (("tls.crt", bundle.cert), ("tls.key", bundle.key)):
        path = directory / name
        path.write_bytes(data)
        os.utime(path, (stamp, stamp))


async def _status(url: str, ca: bytes) -> int:
    trust = ssl.create_default_context(cadata=ca.decode())
    async with httpx.AsyncClient(verify=trust) as client:  # a fresh connection each time
        return (await client.get(url + "/healthz")).status_code


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[_tls.CertDirTls, str, bytes]]:
    tls = _tls.CertDirTls(tmp_path)
    bundle = _certs.generate(["127.0.0.1"])
    _write(tmp_path, bundle, 1_000_000.0)
    await tls.refresh()
    runner: web.AppRunner = await _server.start(
        _server.build_app(Admission(MemorySource())), "127.0.0.1", 0, tls.context
    )
    yield tls, f"https://127.0.0.1:{runner.addresses[0][1]}", bundle.ca_cert
    await runner.cleanup()


def test_the_cert_dir_is_used_only_when_it_holds_both_files(tmp_path: Path) -> None:
    assert not _tls.CertDirTls.present(tmp_path)
    (tmp_path / "tls.crt").write_bytes(b"x")
    assert not _tls.CertDirTls.present(tmp_path)
    (tmp_path / "tls.key").write_bytes(b"x")
    assert _tls.CertDirTls.present(tmp_path)


async def test_a_renewed_certificate_from_a_new_issuer_is_served_after_refresh(
    served: tuple[_tls.CertDirTls, str, bytes],
) -> None:
    tls, url, first_ca = served
    assert await _status(url, first_ca) == 200
    renewed = _certs.generate(["127.0.0.1"])
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        await _status(url, renewed.ca_cert)
    _write(tls.directory, renewed, 2_000_000.0)
    await tls.refresh()
    assert await _status(url, renewed.ca_cert) == 200
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        await _status(url, first_ca)


async def test_refresh_without_a_change_does_not_reload(
    served: tuple[_tls.CertDirTls, str, bytes],
) -> None:
    tls, url, first_ca = served
    (tls.directory / "tls.key").write_bytes(b"not a key")  # same mtime as before: not re-read
    os.utime(tls.directory / "tls.key", (1_000_000.0, 1_000_000.0))
    await tls.refresh()
    assert await _status(url, first_ca) == 200
