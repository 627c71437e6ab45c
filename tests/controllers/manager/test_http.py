"""The controller's own HTTP/1.1 client (`_http`) under `Kube`, against real servers on
127.0.0.1: an aiohttp.web app for the ordinary paths, and a raw asyncio server that
scripts what a well-behaved server rarely does (closing kept-alive connections, answering
half a response, odd chunking, garbage)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import trustme
from aiohttp import web

from k8sclaw_controllers.manager import _http, _kube

Body = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def configuration(url: str) -> kubernetes.client.Configuration:
    config = kubernetes.client.Configuration()
    config.host = url
    return config


@dataclass
class Seen:
    """What an aiohttp test server saw: requests and the client ports they came from."""

    requests: list[web.Request] = field(default_factory=list)
    peers: set[int] = field(default_factory=set)

    def note(self, request: web.Request) -> None:
        self.requests.append(request)
        assert request.transport is not None
        self.peers.add(request.transport.get_extra_info("peername")[1])


@contextlib.asynccontextmanager
async def app_server(
    handler: Handler, context: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[str, Seen]]:
    """An aiohttp.web server answering every path with `handler`; yields (URL, Seen)."""
    seen = Seen()

    async def serve(request: web.Request) -> web.StreamResponse:
        seen.note(request)
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"{'https' if context else 'http'}://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def connected(url: str, limit: int = 64) -> AsyncIterator[_kube.Kube]:
    kube = _kube.Kube.connect(configuration(url), limit)
    try:
        yield kube
    finally:
        await kube.close()


async def echo(request: web.Request) -> web.StreamResponse:
    body = await request.text()
    return web.json_response(
        {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "headers": dict(request.headers),
            "body": json.loads(body) if body else None,
        }
    )


# -- a raw server: one coroutine per connection, given its number -----------------------

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


@contextlib.asynccontextmanager
async def raw_server(script: Script) -> AsyncIterator[str]:
    """A plain asyncio server running `script` per connection; closes them all at the end."""
    writers: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        try:
            await script(reader, writer, len(writers))
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One request's head and body (by Content-Length); b"" when the client closed."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return b""
    length = 0
    for line in head.decode().split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return head + await reader.readexactly(length)


def reply(body: bytes = b"{}", status: str = "200 OK", *extra: str) -> bytes:
    head = [f"HTTP/1.1 {status}", "Content-Type: application/json", *extra]
    head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def chunked(*pieces: bytes, trailer: bytes = b"") -> bytes:
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    body = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in pieces)
    return head + body + b"0\r\n" + trailer + b"\r\n"


# -- requests ---------------------------------------------------------------------------


async def test_sequential_requests_share_one_kept_alive_connection() -> None:
    async with app_server(echo) as (url, seen), connected(url) as kube:
        for n in range(5):
            assert (await kube.get(f"/api/v1/namespaces/ns/configmaps/c{n}"))["method"] == "GET"
    assert len(seen.requests) == 5 and len(seen.peers) == 1


async def test_fifty_concurrent_requests_never_open_more_than_the_limit() -> None:
    in_flight, most = 0, 0
    full = asyncio.Event()

    async def slow(request: web.Request) -> web.StreamResponse:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        if in_flight == 4:
            full.set()
        await full.wait()  # the first four wait for each other: the pool is full
        in_flight -= 1
        return web.json_response({"n": request.path})

    async with app_server(slow) as (url, seen), connected(url, limit=4) as kube:
        paths = [f"/api/v1/x/{n}" for n in range(50)]
        results = await asyncio.gather(*(kube.get(p) for p in paths))
    assert [r["n"] for r in results] == paths
    assert most == 4 and len(seen.peers) == 4 and len(seen.requests) == 50


async def test_request_headers_body_and_percent_encoded_query() -> None:
    config = configuration("")
    config.api_key = {"authorization": "Bearer s3cret"}
    async with app_server(echo) as (url, _):
        config.host = url
        kube = _kube.Kube.connect(config)
        try:
            got = await kube.get("/api/v1/pods", labelSelector="a=b,c in (x y)", limit="5&6")
            patched = await kube.patch("/api/v1/pods/p", {"metadata": {"labels": {"k": "v"}}})
            applied = await kube.apply("/api/v1/pods/p", {"kind": "Pod"})
            created = await kube.create("/api/v1/pods", {"kind": "Pod"})
        finally:
            await kube.close()
    assert got["query"] == {"labelSelector": "a=b,c in (x y)", "limit": "5&6"}
    headers = got["headers"]
    assert headers["Authorization"] == "Bearer s3cret"
    assert headers["User-Agent"] == "k8sclaw-controller"
    assert headers["Accept"] == "application/json"
    assert headers["Host"] == url.removeprefix("http://")
    assert patched["headers"]["Content-Type"] == _kube.MERGE
    assert patched["body"] == {"metadata": {"labels": {"k": "v"}}}
    assert applied["headers"]["Content-Type"] == _kube.APPLY
    assert applied["query"] == {"fieldManager": "k8sclaw-controller", "force": "true"}
    assert (created["method"], created["headers"]["Content-Type"]) == ("POST", "application/json")


async def test_unread_writes_send_the_body_and_skip_decoding_the_echo() -> None:
    async with app_server(echo) as (url, seen), connected(url) as kube:
        created = await kube.create("/api/v1/pods", {"kind": "Pod"}, read=False)
        patched = await kube.patch("/api/v1/pods/p", {"spec": {}}, read=False)
        echoed = await kube.create("/api/v1/pods", {"kind": "Pod"})
    assert created == {} and patched == {}
    assert echoed["body"] == {"kind": "Pod"} and len(seen.requests) == 3


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_bodies_framed_by_length_or_chunks(framing: str) -> None:
    document = {"items": [{"n": n, "pad": "x" * 500} for n in range(200)]}

    async def serve(request: web.Request) -> web.StreamResponse:
        if framing == "content-length":
            return web.json_response(document)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        data = json.dumps(document).encode()
        for start in range(0, len(data), 7_000):
            await response.write(data[start : start + 7_000])
        await response.write_eof()
        return response

    async with app_server(serve) as (url, seen), connected(url) as kube:
        assert await kube.get("/api/v1/configmaps") == document
        assert await kube.items("/api/v1/configmaps") == document["items"]
    assert len(seen.peers) == 1  # both framings leave the connection reusable


async def test_chunk_extensions_trailers_and_a_text_body() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await read_request(reader)
        writer.write(chunked(b'{"a":', b"1}", trailer=b"X-Trailer: yes\r\n"))
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\n")
        writer.write("log \u00e9\n".encode()[:6])
        await read_request(reader)

    async with raw_server(script) as url, connected(url) as kube:
        assert await kube.get("/x") == {"a": 1}
        assert await kube.text("/api/v1/namespaces/ns/pods/p/log") == "log \u00e9"


async def test_connection_close_is_honoured_and_the_next_request_reconnects() -> None:
    async def serve(request: web.Request) -> web.StreamResponse:
        return web.json_response({}, headers={"Connection": "close"})

    async with app_server(serve) as (url, seen), connected(url) as kube:
        await kube.get("/a")
        await kube.get("/b")
    assert len(seen.peers) == 2


async def test_a_request_on_an_idle_connection_the_server_dropped_is_retried_once() -> None:
    requests: list[bytes] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        requests.append(await read_request(reader))
        writer.write(reply(b'{"n": %d}' % len(requests)))
        requests.append(await read_request(reader))  # then close without a byte of reply

    async with raw_server(script) as url, connected(url) as kube:
        assert await kube.create("/api/v1/configmaps", {"n": 1}) == {"n": 1}
        assert await kube.create("/api/v1/configmaps", {"n": 2}) == {"n": 3}
    bodies = [r.split(b"\r\n\r\n")[1] for r in requests if r]
    assert bodies == [b'{"n":1}', b'{"n":2}', b'{"n":2}']


async def test_a_post_is_not_retried_once_a_response_byte_arrived() -> None:
    requests: list[bytes] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        requests.append(await read_request(reader))
        writer.write(reply())
        requests.append(await read_request(reader))
        writer.write(reply(b'{"n": 1}')[:-3])  # half a response, then the server is gone

    async with raw_server(script) as url, connected(url) as kube:
        await kube.create("/api/v1/configmaps", {})
        with pytest.raises(ConnectionError, match="closed the connection"):
            await kube.create("/api/v1/configmaps", {})
    assert len(requests) == 2


async def test_a_fresh_connection_closed_before_answering_is_not_retried() -> None:
    connections: list[int] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        connections.append(n)
        await read_request(reader)

    async with raw_server(script) as url, connected(url) as kube:
        with pytest.raises(ConnectionError):
            await kube.create("/api/v1/configmaps", {})
    assert connections == [1]


async def test_a_malformed_response_is_a_value_error() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await read_request(reader)
        writer.write(b"SMTP ready\r\n\r\n")
        await reader.read()

    async with raw_server(script) as url, connected(url) as kube:
        with pytest.raises(_http.ProtocolError, match=r"not an HTTP/1\.x status line"):
            await kube.get("/x")


async def test_an_unreachable_server_is_an_os_error() -> None:
    async with raw_server(read_request_and_stop) as url:
        pass  # closed: nothing listens on its port any more
    async with connected(url) as kube:
        with pytest.raises(OSError):
            await kube.get("/x")


async def read_request_and_stop(reader: asyncio.StreamReader, *_: object) -> None:
    await read_request(reader)


STATUS = {"kind": "Status", "reason": "AlreadyExists", "message": 'configmaps "c" already exists'}


@pytest.mark.parametrize(
    ("status", "body", "error", "reason", "message"),
    [
        (404, {"kind": "Status", "reason": "NotFound", "message": "gone"}, _kube.NotFoundError,
         "NotFound", "gone"),
        (409, STATUS, _kube.ConflictError, "AlreadyExists", STATUS["message"]),
        (500, {"kind": "Status", "reason": "InternalError", "message": "boom"}, _kube.KubeError,
         "InternalError", "boom"),
        (404, None, _kube.NotFoundError, "Not Found", ""),
        (409, None, _kube.ConflictError, "Conflict", ""),
        (500, None, _kube.KubeError, "Internal Server Error", ""),
        (503, "<html>busy</html>", _kube.KubeError, "Service Unavailable", ""),
    ],
    ids=["404-status", "409-status", "500-status", "404-bare", "409-bare", "500-bare", "503-html"],
)  # fmt: skip
async def test_failures_map_to_kube_errors(
    status: int, body: Any, error: type[_kube.KubeError], reason: str, message: str
) -> None:
    async def serve(request: web.Request) -> web.StreamResponse:
        if isinstance(body, dict):
            return web.json_response(body, status=status)
        return web.Response(status=status, text=body, content_type="text/html")

    async with app_server(serve) as (url, _), connected(url) as kube:
        with pytest.raises(error) as failure:
            await kube.create("/api/v1/configmaps", {})
    assert type(failure.value) is error
    assert (failure.value.status, failure.value.reason, failure.value.message) == (
        status,
        reason,
        message,
    )


# -- TLS --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(ca: trustme.CA, client_certs: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    if client_certs:
        context.verify_mode = ssl.CERT_REQUIRED
        ca.configure_trust(context)
    return context


async def test_tls_verified_against_the_configured_ca_with_a_client_certificate(
    ca: trustme.CA, tmp_path: Path
) -> None:
    cert, ca_file = ca.issue_cert("k8sclaw-controller"), tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "client.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "client.key"))
    async with app_server(echo, server_context(ca, client_certs=True)) as (url, seen):
        config = configuration(url)
        config.ssl_ca_cert = str(ca_file)
        config.cert_file, config.key_file = tmp_path / "client.pem", tmp_path / "client.key"
        kube = _kube.Kube.connect(config)
        try:
            assert (await kube.get("/version"))["path"] == "/version"
            assert (await kube.get("/version"))["path"] == "/version"
        finally:
            await kube.close()
    assert len(seen.peers) == 1


async def test_tls_refuses_an_unknown_ca_unless_verification_is_off(ca: trustme.CA) -> None:
    async with app_server(echo, server_context(ca)) as (url, _):
        async with connected(url) as kube:
            with pytest.raises(ssl.SSLCertVerificationError):
                await kube.get("/version")
        config = configuration(url)
        config.verify_ssl = False
        kube = _kube.Kube.connect(config)
        try:
            assert (await kube.get("/version"))["path"] == "/version"
        finally:
            await kube.close()


# -- watch streams ----------------------------------------------------------------------

CHUNKED_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
)


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def collect(kube: _kube.Kube, read_timeout: float = 30) -> list[bytes]:
    return [line async for line in kube.stream_lines("/w", {}, read_timeout=read_timeout)]


async def test_watch_lines_split_across_chunks_arrive_whole() -> None:
    first_line = asyncio.Event()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await read_request(reader)
        writer.write(CHUNKED_HEAD + chunk(b'{"type":"ADDED"') + chunk(b',"n":1}\n{"type"'))
        await first_line.wait()  # the consumer holds the start of the second line only
        writer.write(chunk(b':"MODIFIED"}\n\n  \n') + chunk(b'{"tail":true}') + b"0\r\n\r\n")
        await reader.read()

    lines: list[bytes] = []
    async with raw_server(script) as url, connected(url) as kube:
        async for line in kube.stream_lines("/w", {"watch": "true"}, read_timeout=30):
            lines.append(line)
            first_line.set()
    assert lines == [b'{"type":"ADDED","n":1}', b'{"type":"MODIFIED"}', b'{"tail":true}']


async def test_a_one_mebibyte_line_arrives_whole() -> None:
    big = json.dumps({"type": "ADDED", "object": {"data": "x" * (1 << 20)}}).encode()

    async def serve(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for start in range(0, len(big), 50_000):
            await response.write(big[start : start + 50_000])
        await response.write(b"\n" + b'{"type":"BOOKMARK"}\n')
        return response

    async with app_server(serve) as (url, _), connected(url) as kube:
        assert await collect(kube) == [big, b'{"type":"BOOKMARK"}']


async def test_a_watch_refused_by_the_server_raises_its_status() -> None:
    async def serve(request: web.Request) -> web.StreamResponse:
        return web.json_response({"reason": "Expired", "message": "too old"}, status=410)

    async with app_server(serve) as (url, _), connected(url) as kube:
        with pytest.raises(_kube.KubeError, match="410 Expired: too old"):
            await collect(kube)


async def test_a_silent_watch_times_out_and_its_socket_is_closed() -> None:
    closed = asyncio.Event()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await read_request(reader)
        writer.write(CHUNKED_HEAD + chunk(b'{"type":"ADDED"}\n'))
        await reader.read()  # returns at EOF: the client closed the connection
        closed.set()

    async with raw_server(script) as url, connected(url) as kube:
        with pytest.raises(TimeoutError, match=r"no data from the API server for 0\.1s"):
            await collect(kube, read_timeout=0.1)
        await asyncio.wait_for(closed.wait(), 10)


@pytest.mark.parametrize("stop", ["aclose", "cancel"])
async def test_a_consumer_that_stops_closes_the_watch_connection(stop: str) -> None:
    closed, started = asyncio.Event(), asyncio.Event()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await read_request(reader)
        writer.write(CHUNKED_HEAD + chunk(b'{"type":"ADDED"}\n'))
        await reader.read()
        closed.set()

    async def consume(kube: _kube.Kube) -> None:
        async for _ in kube.stream_lines("/w", {}, read_timeout=30):
            started.set()

    async with raw_server(script) as url, connected(url) as kube:
        if stop == "aclose":
            lines = kube.stream_lines("/w", {}, read_timeout=30)
            assert await anext(lines) == b'{"type":"ADDED"}'
            await lines.aclose()
        else:
            task = asyncio.create_task(consume(kube))
            await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        await asyncio.wait_for(closed.wait(), 10)
