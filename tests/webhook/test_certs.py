"""CA and serving certificates: valid chains, the right names, rotation decisions."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from pathlib import Path

from k8sclaw_controllers.webhook import _certs


def test_serving_certificate_verifies_against_its_ca_over_tls(tmp_path: Path) -> None:
    bundle = _certs.generate(["127.0.0.1", "localhost"])
    server = _certs.server_context(bundle, tmp_path / "tls")
    (tmp_path / "ca.crt").write_bytes(bundle.ca_cert)
    client = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))

    async def handshake() -> str:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"hi")
            await writer.drain()
            writer.close()

        listener = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server)
        port = listener.sockets[0].getsockname()[1]
        async with listener:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=client, server_hostname="localhost"
            )
            data = await reader.read()
            writer.close()
            return data.decode()

    assert asyncio.run(handshake()) == "hi"
    assert oct((tmp_path / "tls" / "tls.key").stat().st_mode & 0o777) == "0o600"


def test_service_hosts_cover_every_name_the_apiserver_may_use() -> None:
    hosts = _certs.service_hosts("k8sclaw-webhook", "k8sclaw-system")
    assert hosts[0] == "k8sclaw-webhook.k8sclaw-system.svc"
    bundle = _certs.generate(hosts)
    assert set(bundle.hosts()) == set(hosts)


def test_rotation_is_due_30_days_before_expiry_or_when_a_host_is_missing() -> None:
    now = dt.datetime.now(dt.UTC)
    bundle = _certs.generate(["a.svc"], now=now)
    assert not _certs.needs_rotation(bundle, ["a.svc"], now=now)
    assert not _certs.needs_rotation(bundle, ["a.svc"], now=now + dt.timedelta(days=300))
    assert _certs.needs_rotation(bundle, ["a.svc"], now=now + dt.timedelta(days=340))
    assert _certs.needs_rotation(bundle, ["a.svc", "b.svc"], now=now)


def test_reissue_keeps_the_ca_so_the_ca_bundle_stays_valid() -> None:
    first = _certs.generate(["a.svc"])
    second = _certs.issue(first.ca_cert, first.ca_key, ["a.svc"])
    assert second.ca_cert == first.ca_cert and second.cert != first.cert
    assert _certs.ca_usable(first)
    assert not _certs.ca_usable(first, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=3300))
