"""fetch_url's SSRF guard: resolve once, check all addresses, connect to the pinned one.

A local HTTP(S) server on 127.0.0.1 plays the internet; an injected resolver plays DNS,
including a rebinding one that answers a private address on its second query.
"""

from __future__ import annotations

import ipaddress
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import trustme

from k8sclaw_sidecar.agent._fetch import check_address, fetch_url
from k8sclaw_sidecar.agent._files import ToolError

LOOPBACK = ("127.0.0.0/8",)


class Site:
    """A tiny web server; records the Host header of every request."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.hosts: list[str] = []
        self.release = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                site.hosts.append(self.headers.get("host", ""))
                path, status, body, headers = self.path, 200, b"", {}
                if path == "/hello":
                    body = b"hello world"
                elif path.startswith("/to/"):
                    status, headers = 302, {"location": path[len("/to/") :]}
                elif path == "/big":
                    body = b"x" * 5000
                elif path == "/hold":
                    site.release.wait(10)
                else:
                    status, body = 404, b"nope"
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    try:
        yield s
    finally:
        s.close()


class Resolver:
    """DNS as a table; `rebind` answers with a different address after the first query."""

    def __init__(self, table: dict[str, list[str]], rebind: dict[str, list[str]] | None = None):
        self.table, self.rebind = table, rebind or {}
        self.queries: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.queries.append(host)
        if host in self.rebind and self.queries.count(host) > 1:
            return self.rebind[host]
        if host not in self.table:
            raise OSError(f"NXDOMAIN {host}")
        return self.table[host]


async def test_the_connection_goes_to_the_checked_address_not_a_second_lookup(
    site: Site,
) -> None:
    dns = Resolver({"good.test": ["127.0.0.1"]}, rebind={"good.test": ["10.0.0.1"]})
    url = f"http://good.test:{site.port}/hello"
    assert await fetch_url(url, 100, allow_networks=LOOPBACK, resolve=dns) == "hello world"
    assert dns.queries == ["good.test"]  # resolved once; the HTTP client never asked again
    assert site.hosts == [f"good.test:{site.port}"]  # the name travels in Host
    with pytest.raises(ToolError, match="non-public address"):
        await fetch_url(url, 100, allow_networks=LOOPBACK, resolve=dns)  # the rebound answer


@pytest.mark.parametrize(
    "answer",
    [
        ["127.0.0.1"],
        ["93.184.216.34", "10.1.2.3"],  # one bad address in the answer is enough
        ["169.254.169.254"],
        ["::1"],
        ["::ffff:10.0.0.1"],
        ["64:ff9b::a00:1"],  # NAT64 wrapping 10.0.0.1
        ["fd00::1"],
        ["224.0.0.1"],
    ],
)
async def test_any_non_public_address_in_the_answer_is_refused(answer: list[str]) -> None:
    dns = Resolver({"evil.test": answer})
    with pytest.raises(ToolError, match="non-public address"):
        await fetch_url("http://evil.test/", 100, resolve=dns)


async def test_the_allow_list_is_explicit_and_narrow() -> None:
    check_address(ipaddress.ip_address("127.0.0.1"), [ipaddress.ip_network("127.0.0.0/8")])
    with pytest.raises(ToolError):
        check_address(
            ipaddress.ip_address("169.254.169.254"), [ipaddress.ip_network("127.0.0.0/8")]
        )
    check_address(ipaddress.ip_address("93.184.216.34"))  # public: fine without any allow


async def test_each_redirect_hop_is_checked(site: Site) -> None:
    dns = Resolver({"good.test": ["127.0.0.1"], "internal.test": ["10.0.0.7"]})
    base = f"http://good.test:{site.port}"
    ok = await fetch_url(f"{base}/to//hello", 100, allow_networks=LOOPBACK, resolve=dns)
    assert ok == "hello world"
    with pytest.raises(ToolError, match=r"non-public address \(10\.0\.0\.7\)"):
        await fetch_url(
            f"{base}/to/http://internal.test/secret", 100, allow_networks=LOOPBACK, resolve=dns
        )
    assert dns.queries.count("internal.test") == 1


async def test_redirect_loops_stop(site: Site) -> None:
    dns = Resolver({"good.test": ["127.0.0.1"]})
    url = f"http://good.test:{site.port}/to//to//to//to//to//to//hello"
    with pytest.raises(ToolError, match="too many redirects"):
        await fetch_url(url, 100, allow_networks=LOOPBACK, resolve=dns)


async def test_size_and_time_caps(site: Site) -> None:
    dns = Resolver({"good.test": ["127.0.0.1"]})
    base = f"http://good.test:{site.port}"
    big = await fetch_url(
        f"{base}/big", 100_000, allow_networks=LOOPBACK, resolve=dns, max_bytes=1000
    )
    assert big == "x" * 1000 + "\n... (truncated at 1000 bytes)"
    assert await fetch_url(f"{base}/big", 10, allow_networks=LOOPBACK, resolve=dns) == "x" * 10
    with pytest.raises(ToolError, match=r"took longer than 0\.2s"):
        await fetch_url(f"{base}/hold", 10, allow_networks=LOOPBACK, resolve=dns, seconds=0.2)


async def test_https_keeps_the_name_for_sni_and_the_certificate() -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("good.test").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    tls_site = Site(server_ctx)
    try:
        dns = Resolver({"good.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
        url = f"https://good.test:{tls_site.port}/hello"
        text = await fetch_url(url, 100, allow_networks=LOOPBACK, resolve=dns, verify=client_ctx)
        assert text == "hello world"  # verified against good.test although dialled by IP
        with pytest.raises(ToolError, match="failed"):  # wrong name: the certificate check bites
            await fetch_url(
                f"https://other.test:{tls_site.port}/hello",
                100,
                allow_networks=LOOPBACK,
                resolve=dns,
                verify=client_ctx,
            )
    finally:
        tls_site.close()
