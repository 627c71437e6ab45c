"""A lean HTTP/1.1 server for the emulator: one `asyncio.Protocol` per connection.

aiohttp.web's server machinery (request handler, request/response objects, URL dispatch,
header preparation, the writer) cost ~50-70 µs per request, a third of the emulator's CPU
in a burst; the emulator needs far less: one catch-all handler, Content-Length bodies
(chunked ones get 411: no client of the suite sends them), keep-alive with pipelining
(one request at a time per connection, answered in order), plain responses and chunked
streaming responses (watches, pod logs).

A streaming response's writes raise `ConnectionResetError` once the client is gone, and
the handler is cancelled when the peer closes mid-stream, so watch loops end; writes wait
for the transport to drain while it is paused, so a slow reader bounds the buffer.
Only 127.0.0.1 clients (tests, benchmarks) are expected; no HEAD special-casing. A second
listener may serve TLS (`start(..., tls=context)`): the client certificate it verified is
`Request.peer_cert`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl, unquote

log = logging.getLogger(__name__)
MAX_HEAD, MAX_BODY = 64 * 1024, 64 * 1024 * 1024
_PAUSE_READING = 1024 * 1024
"""Buffered bytes beyond which a busy connection stops reading (pipelined floods)."""
_REASONS = {s.value: s.phrase for s in HTTPStatus}


class HttpError(Exception):
    """A request the server answers itself (400, 411, 413, 431), then closes."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Request:
    """What the emulator reads from a request: line, headers (lower-case keys), body."""

    def __init__(
        self, conn: _Connection, head: tuple[str, str, str], headers: dict[str, str], body: bytes
    ) -> None:
        self.method, target, self.version = head
        path, _, self.query_string = target.partition("?")
        self.path = unquote(path)
        self.headers: Mapping[str, str] = headers
        self.body = body
        self._conn = conn
        self._query: Mapping[str, str] | None = None

    @property
    def query(self) -> Mapping[str, str]:
        """Query parameters, read-only; the first value of a repeated name wins."""
        if self._query is None:
            pairs = parse_qsl(self.query_string, keep_blank_values=True)
            self._query = MappingProxyType(dict(reversed(pairs)))
        return self._query

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-case (aiohttp's default when absent)."""
        raw = self.headers.get("content-type", "application/octet-stream")
        return raw.partition(";")[0].strip().lower()

    @property
    def peer_cert(self) -> dict[str, Any] | None:
        """The client certificate the TLS listener verified (`ssl` dict form), if any."""
        return self._conn.peercert

    @property
    def host(self) -> str:
        return self.headers.get("host") or "{}:{}".format(*self._conn.sockname[:2])

    async def read(self) -> bytes:
        return self.body

    async def json(self) -> Any:
        return json.loads(self.body)


class Response:
    """A complete response: status, headers and a body sent with Content-Length."""

    def __init__(self, status: int, body: bytes, content_type: str) -> None:
        self.status, self.body = status, body
        self.headers = {"Content-Type": content_type}


class StreamResponse:
    """A response written piece by piece: `prepare`, `write`..., `write_eof`.

    HTTP/1.1 clients get chunked transfer encoding; HTTP/1.0 ones the raw bytes, then
    the connection closes. Writes raise `ConnectionResetError` once the client is gone.
    """

    def __init__(self, status: int = 200, headers: Mapping[str, str] | None = None) -> None:
        self.status, self.headers = status, dict(headers or {})
        self._conn: _Connection | None = None
        self._chunked = True
        self.prepared = self.finished = False

    async def prepare(self, request: Request) -> None:
        """Send the status line and headers; the handler is now streaming."""
        conn = self._conn = request._conn
        self._chunked = request.version == "HTTP/1.1"  # 1.0: raw bytes, then close
        headers = {**self.headers, **({"Transfer-Encoding": "chunked"} if self._chunked else {})}
        conn.keep_alive = conn.keep_alive and self._chunked
        conn.streaming = self.prepared = True
        conn.send(_head(self.status, headers, conn.keep_alive))
        await conn.drain()

    async def write(self, data: bytes) -> None:
        conn = self._connection()
        if data:
            conn.send(b"%x\r\n%b\r\n" % (len(data), data) if self._chunked else data)
            await conn.drain()

    async def write_eof(self) -> None:
        if self.finished:
            return
        conn = self._connection()
        self.finished = True
        if self._chunked:
            conn.send(b"0\r\n\r\n")
        await conn.drain()

    def _connection(self) -> _Connection:
        if self._conn is None:
            raise RuntimeError("write before prepare(): call `await response.prepare(request)`")
        if self._conn.closed:
            raise ConnectionResetError("the client closed the connection")
        return self._conn


Handler = Callable[[Request], Awaitable[Response | StreamResponse]]


def _head(status: int, headers: Mapping[str, str], keep_alive: bool) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _plain(response: Response, keep_alive: bool) -> bytes:
    headers = {**response.headers, "Content-Length": str(len(response.body))}
    return _head(response.status, headers, keep_alive) + response.body


class Server:
    """Serves `handler` on host:port; `close()` ends idle connections and streams."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections: set[_Connection] = set()
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> int:
        """Listen (over TLS with `tls`); returns the bound port (a free one when `port` is 0)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), host, port, ssl=tls)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self, grace: float = 1.0) -> None:
        """Stop listening, cancel streams at once, give other requests `grace` seconds."""
        if self._server is not None:
            self._server.close()
        tasks = []
        for conn in list(self.connections):
            if conn.idle:
                conn.close()
            elif conn.streaming and conn.task is not None:
                conn.task.cancel()
            if conn.task is not None:
                tasks.append(conn.task)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for conn in list(self.connections):
            conn.close(now=True)
        if self._server is not None:
            await self._server.wait_closed()


class _Connection(asyncio.Protocol):
    """One client connection: buffers bytes, parses requests, answers them in order."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.task: asyncio.Task[None] | None = None
        self.sockname: tuple[Any, ...] = ("127.0.0.1", 0)
        self.peercert: dict[str, Any] | None = None
        self.closed = self.streaming = self.idle = self._paused_reading = False
        self.keep_alive = True
        self._head: tuple[tuple[str, str, str], dict[str, str], int] | None = None
        self._data: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.sockname = transport.get_extra_info("sockname") or self.sockname
        self.peercert = transport.get_extra_info("peercert") or None
        self.server.connections.add(self)
        self.task = asyncio.get_running_loop().create_task(self._serve())

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self._data is not None and not self._data.done():
            self._data.set_result(None)
        elif len(self.buffer) > _PAUSE_READING and self.transport is not None:
            self._paused_reading = True
            self.transport.pause_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        for waiter in (self._data, self._drain):
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
        if self.streaming and self.task is not None:
            self.task.cancel()  # a watch or log stream whose client left: end it now

    def pause_writing(self) -> None:
        self._drain = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        self._drain = None

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    async def drain(self) -> None:
        """Wait while the transport is paused; raise once the client is gone."""
        if self._drain is not None:
            await self._drain
        if self.closed:
            raise ConnectionResetError("the client closed the connection")

    def close(self, now: bool = False) -> None:
        """Close once what was written has left, or `now`, dropping it (server shutdown)."""
        if self.transport is not None:
            self.transport.abort() if now else self.transport.close()

    async def _serve(self) -> None:
        try:
            while self.keep_alive and not self.closed:
                request = await self._next_request()
                if request is None:
                    return
                await self._respond(request)
        except HttpError as exc:
            body = f"{exc.status} {_REASONS.get(exc.status, '')}: {exc}".encode()
            self.send(_plain(Response(exc.status, body, "text/plain; charset=utf-8"), False))
        except ConnectionResetError:
            pass  # the client left while its answer was being written
        except Exception:
            log.exception("kube emulator: a streaming response failed; connection closed")
        finally:
            self.close()

    async def _next_request(self) -> Request | None:
        """The next complete request from the buffer, waiting for bytes as needed."""
        self.idle = True
        try:
            while True:
                request = self._parse()
                if request is not None or self.closed:
                    return request
                if self._paused_reading and self.transport is not None:
                    self._paused_reading = False
                    self.transport.resume_reading()
                self._data = asyncio.get_running_loop().create_future()
                await self._data
        finally:
            self.idle, self._data = False, None

    async def _respond(self, request: Request) -> None:
        self.streaming = False
        try:
            response = await self.server.handler(request)
        except Exception:
            if self.streaming:
                raise  # headers left already: all we can do is close
            log.exception("kube emulator: %s %s failed", request.method, request.path)
            response = Response(500, b"500 Internal Server Error", "text/plain; charset=utf-8")
        if isinstance(response, Response):
            self.send(_plain(response, self.keep_alive))
            await self.drain()
        elif not response.prepared:
            raise RuntimeError(f"{request.method} {request.path}: stream returned unprepared")
        elif not response.finished:
            await response.write_eof()
        self.streaming = False

    def _parse(self) -> Request | None:
        if self._head is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    raise HttpError(431, "request header section too large")
                return None
            self._head = self._parse_head(bytes(self.buffer[:end]).decode("latin-1"))
            del self.buffer[: end + 4]
            if self._head[1].get("expect", "").lower() == "100-continue":
                self.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        head, headers, length = self._head
        if len(self.buffer) < length:
            return None
        body = bytes(self.buffer[:length])
        del self.buffer[:length]
        self._head = None
        return Request(self, head, headers, body)

    def _parse_head(self, text: str) -> tuple[tuple[str, str, str], dict[str, str], int]:
        line, *fields = text.split("\r\n")
        parts = line.split(" ")
        if len(parts) != 3 or not parts[0].isalpha() or parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
            raise HttpError(400, f"malformed request line {line[:100]!r}")
        headers: dict[str, str] = {}
        for field in fields:
            name, colon, value = field.partition(":")
            if not colon or not name or name != name.strip():
                raise HttpError(400, f"malformed header line {field[:100]!r}")
            key, value = name.lower(), value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        if parts[2] == "HTTP/1.0" or "close" in headers.get("connection", "").lower():
            self.keep_alive = False
        return (parts[0], parts[1], parts[2]), headers, _body_length(headers)


def _body_length(headers: Mapping[str, str]) -> int:
    """Content-Length; chunked request bodies are refused (no client here sends them)."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise HttpError(411, "chunked request bodies are not supported; send Content-Length")
    raw = headers.get("content-length", "0")
    if not raw.isdigit():
        raise HttpError(400, f"invalid Content-Length {raw[:40]!r}")
    if int(raw) > MAX_BODY:
        raise HttpError(413, f"request body over {MAX_BODY} bytes")
    return int(raw)
