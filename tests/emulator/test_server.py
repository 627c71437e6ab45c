"""The emulator's HTTP/1.1 server (`_server.py`) against a raw socket client.

Keep-alive reuse, pipelining in order, `Connection: close`, malformed requests, a large
body, and a streaming handler that ends (no task left) when its client goes away.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.harness.kube._server import Request, Response, Server, StreamResponse

CHUNK = 16 * 1024


class App:
    """Echoes what it parsed; `/stream` streams until the client leaves."""

    def __init__(self) -> None:
        self.stream_started = asyncio.Event()
        self.stream_ended = asyncio.Event()
        self.stream_error: BaseException | None = None
        self.server: Server | None = None
        self.writes = 0

    async def handle(self, request: Request) -> Response | StreamResponse:
        if request.path == "/stream":
            return await self.stream(request)
        if request.path == "/idle":
            return await self.idle(request)
        body = await request.read()
        query = ",".join(sorted(f"{k}={v}" for k, v in request.query.items()))
        text = f"{request.method} {request.path} q={query} ct={request.content_type} n={len(body)}"
        return Response(200, text.encode(), "text/plain")

    async def stream(self, request: Request) -> StreamResponse:
        response = StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        self.stream_started.set()
        try:
            while True:
                await response.write(b"x" * CHUNK)
                self.writes += 1
                await asyncio.sleep(0)
        except (ConnectionResetError, asyncio.CancelledError) as exc:
            self.stream_error = exc
            raise
        finally:
            self.stream_ended.set()

    async def idle(self, request: Request) -> StreamResponse:
        """A watch with nothing to send: only cancellation can end it."""
        response = StreamResponse()
        await response.prepare(request)
        self.stream_started.set()
        try:
            await asyncio.Event().wait()
        finally:
            self.stream_ended.set()
        return response


@pytest.fixture
async def served() -> AsyncIterator[tuple[App, int]]:
    app = App()
    app.server = Server(app.handle)
    port = await app.server.start("127.0.0.1", 0)
    yield app, port
    await app.server.close()


async def _connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def _response(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = {}
    for line in head[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return head[0], headers, body


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    await writer.wait_closed()


async def test_keep_alive_reuses_the_connection(served: tuple[App, int]) -> None:
    _, port = served
    reader, writer = await _connect(port)
    for i in range(3):
        writer.write(f"GET /a/{i}?x=1&x=2&y= HTTP/1.1\r\nHost: h\r\n\r\n".encode())
        status, headers, body = await _response(reader)
        assert status == "HTTP/1.1 200 OK"
        assert "connection" not in headers
        assert body == f"GET /a/{i} q=x=1,y= ct=application/octet-stream n=0".encode()
    await _close(writer)


async def test_pipelined_requests_are_answered_in_order(served: tuple[App, int]) -> None:
    _, port = served
    reader, writer = await _connect(port)
    requests = b"".join(
        f"POST /p/{i} HTTP/1.1\r\nContent-Type: Application/JSON; charset=utf-8\r\n"
        f"Content-Length: {i}\r\n\r\n{'b' * i}".encode()
        for i in range(20)
    )
    writer.write(requests)
    for i in range(20):
        _, _, body = await _response(reader)
        assert body == f"POST /p/{i} q= ct=application/json n={i}".encode()
    await _close(writer)


@pytest.mark.parametrize(
    ("raw", "answered"),
    [
        # Connection: close is honoured: /two, pipelined behind it, is never answered.
        (b"GET /one HTTP/1.1\r\nConnection: close\r\n\r\nGET /two HTTP/1.1\r\n\r\n", b"GET /one "),
        (b"GET /old HTTP/1.0\r\n\r\n", b"GET /old "),  # HTTP/1.0 closes after the response
    ],
    ids=["connection-close", "http-1.0"],
)
async def test_the_connection_closes_after_the_response(
    served: tuple[App, int], raw: bytes, answered: bytes
) -> None:
    _, port = served
    reader, writer = await _connect(port)
    writer.write(raw)
    _, headers, body = await _response(reader)
    assert headers["connection"] == "close"
    assert body.startswith(answered)
    assert await reader.read() == b""
    await _close(writer)


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"NOT A REQUEST LINE AT ALL\r\n\r\n", "400"),
        (b"GET /x HTTP/2.0\r\n\r\n", "400"),
        (b"GET /x HTTP/1.1\r\nno colon here\r\n\r\n", "400"),
        (b"POST /x HTTP/1.1\r\nContent-Length: -5\r\n\r\n", "400"),
        (b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "411"),
    ],
)
async def test_malformed_requests_get_an_error_and_a_closed_connection(
    served: tuple[App, int], raw: bytes, status: str
) -> None:
    _, port = served
    reader, writer = await _connect(port)
    writer.write(raw)
    line, headers, body = await _response(reader)
    assert line.split(" ")[1] == status, body
    assert headers["connection"] == "close"
    assert await reader.read() == b""
    await _close(writer)


async def test_a_large_body_is_read_fully(served: tuple[App, int]) -> None:
    _, port = served
    reader, writer = await _connect(port)
    size = 5 * 1024 * 1024
    writer.write(f"PUT /big HTTP/1.1\r\nContent-Length: {size}\r\n\r\n".encode())
    for _ in range(0, size, 256 * 1024):
        writer.write(b"z" * 256 * 1024)
        await writer.drain()
    writer.write(b"GET /after HTTP/1.1\r\n\r\n")
    _, _, body = await _response(reader)
    assert body == f"PUT /big q= ct=application/octet-stream n={size}".encode()
    _, _, body = await _response(reader)
    assert body.startswith(b"GET /after ")
    await _close(writer)


async def test_a_stream_ends_when_its_client_leaves(served: tuple[App, int]) -> None:
    app, port = served
    reader, writer = await _connect(port)
    writer.write(b"GET /stream HTTP/1.1\r\n\r\n")
    _, headers, _ = await _response(reader)
    assert headers["transfer-encoding"] == "chunked"
    chunk = await reader.readuntil(b"\r\n")
    assert chunk == b"4000\r\n"  # 16 KiB
    await asyncio.wait_for(app.stream_started.wait(), 10)
    await _close(writer)
    await asyncio.wait_for(app.stream_ended.wait(), 10)
    assert isinstance(app.stream_error, ConnectionResetError | asyncio.CancelledError)
    current = asyncio.current_task()
    await asyncio.sleep(0)
    left = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    assert left == []


async def test_a_slow_stream_reader_pauses_the_writer(served: tuple[App, int]) -> None:
    app, port = served
    _, writer = await _connect(port)
    writer.transport.pause_reading()  # type: ignore[attr-defined]
    writer.write(b"GET /stream HTTP/1.1\r\n\r\n")
    await asyncio.wait_for(app.stream_started.wait(), 10)
    assert app.server is not None
    (conn,) = app.server.connections
    for _ in range(100_000):  # until the kernel buffers fill and the transport pauses
        if conn._drain is not None:
            break
        await asyncio.sleep(0)
    assert conn._drain is not None, "the transport never paused writing"
    writes = app.writes
    for _ in range(100):
        await asyncio.sleep(0)
    assert app.writes == writes  # the handler waits for the drain instead of buffering
    assert conn.transport is not None
    assert conn.transport.get_write_buffer_size() <= 64 * 1024 + 2 * CHUNK
    await _close(writer)
    await asyncio.wait_for(app.stream_ended.wait(), 10)


async def test_close_ends_open_streams_promptly() -> None:
    app = App()
    app.server = server = Server(app.handle)
    port = await server.start("127.0.0.1", 0)
    _, writer = await _connect(port)
    writer.write(b"GET /stream HTTP/1.1\r\n\r\n")
    await asyncio.wait_for(app.stream_started.wait(), 10)
    await asyncio.wait_for(server.close(grace=30), 10)
    assert app.stream_ended.is_set()
    assert server.connections == set()
    await _close(writer)


async def test_an_idle_stream_is_cancelled_when_its_client_leaves(
    served: tuple[App, int],
) -> None:
    app, port = served
    _, writer = await _connect(port)
    writer.write(b"GET /idle HTTP/1.1\r\n\r\n")
    await asyncio.wait_for(app.stream_started.wait(), 10)
    await _close(writer)
    await asyncio.wait_for(app.stream_ended.wait(), 10)
