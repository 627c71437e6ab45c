"""A lean asyncio HTTP/1.1 client for `_kube.Kube`: one server, a keep-alive pool, TLS, chunked.

Why our own and not aiohttp's client: in a burst the controller makes thousands of small
JSON requests to one API server, and aiohttp's request path (session, request and response
objects, URL building, several timers per request, StreamReader) was ~38% of its CPU. This
client parses each response inside `data_received` (an `asyncio.Protocol`, no reader task)
and speaks only what an API server needs: Content-Length or chunked bodies, keep-alive.

Failures surface as OSError (connecting, a connection lost: `ConnectionError`),
TimeoutError (60 s per request, 10 s to connect, a silent stream's watchdog) and
`ProtocolError`, a ValueError, for a response that is not HTTP/1.1 as we know it.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Mapping
from urllib.parse import quote, urlencode, urlsplit

CONNECT_TIMEOUT = 10.0
TOTAL_TIMEOUT = 60.0
MAX_LINE = 64 * 1024  # a response head or chunk-size line longer than this is refused
PAUSE_ABOVE = 4 * 1024 * 1024  # stream bytes buffered unread before the socket is paused
_PATH_SAFE = "/%:@!$&'()*+,;=~"
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _TRAILER, _UNTIL_EOF, _IDLE = range(7)  # parser states


class ProtocolError(ValueError):
    """The server's reply is not an HTTP/1.1 response this client can read."""


class Response:
    """Status, reason phrase, headers (names lower-cased) and the body of a response."""

    __slots__ = ("body", "headers", "reason", "status")

    def __init__(self, status: int, reason: str, headers: dict[str, str], body: bytes) -> None:
        self.status, self.reason, self.headers, self.body = status, reason, headers, body


class _Connection(asyncio.Protocol):
    """One socket: `send` writes a request; the response is parsed as its bytes arrive.

    Body bytes collect in `_pieces`; one future at a time (`_waiter`) wakes the task that
    awaits the head (streams), the whole message (requests) or the next stream piece.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.received = False  # a byte of the current response arrived (else: safe to retry)
        self.fed = False  # bytes arrived since the watchdog last looked
        self.reusable = self.closed = self._stream = self._done = self._paused = False
        self._buffer = bytearray()
        self._state, self._remaining, self._buffered = _IDLE, 0, 0
        self._head: Response | None = None
        self._pieces: list[bytes] = []
        self._error: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._lost = asyncio.get_running_loop().create_future()  # done in connection_lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._state == _UNTIL_EOF:
            self._finish()
        elif self._state != _IDLE:
            lost = ConnectionResetError("the API server closed the connection before answering")
            lost.__cause__ = exc
            self._fail(lost)
        if self._timer:
            self._timer.cancel()
        if not self._lost.done():
            self._lost.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.received = self.fed = True
        if self._state == _IDLE:  # bytes nobody asked for: the connection is out of step
            self.close()
            return
        self._buffer += data
        try:
            while self._step():
                pass
        except ValueError as exc:  # ProtocolError, or int() of a bad length
            self._fail(ProtocolError(f"malformed response from the API server: {exc}"))
            self.close()

    def send(self, data: bytes, stream: bool = False) -> None:
        """Write one request; its response replaces the previous one's state."""
        assert self.transport is not None
        self._state, self._stream, self.received, self._done = _HEAD, stream, False, False
        self._head, self._pieces, self._buffered, self._error = None, [], 0, None
        self.transport.write(data)

    async def response(self) -> Response:
        """The response once complete, or (a stream) once its head arrived."""
        while self._error is None and not (self._done or (self._stream and self._head)):
            await self._wait()
        if self._error is not None:
            raise self._error
        assert self._head is not None
        if not self._stream:
            self._head.body = self._pieces[0] if len(self._pieces) == 1 else b"".join(self._pieces)
        return self._head

    async def read(self) -> bytes:
        """A stream's body bytes received since the last call; b"" once the message ended."""
        while not self._pieces and not self._done and self._error is None:
            await self._wait()
        if self._pieces:
            data = b"".join(self._pieces)
            self._pieces, self._buffered = [], 0
            if self._paused and self.transport and not self.closed:
                self._paused = False
                self.transport.resume_reading()
            return data
        if self._error is not None:
            raise self._error
        return b""

    def watch(self, period: float) -> None:
        """Fail the response with TimeoutError when `period` passes without a byte."""
        self._timer = asyncio.get_running_loop().call_later(period, self._check, period)

    def close(self) -> None:
        """Close the socket (idempotent); the connection is never used again."""
        self.reusable = False
        if self._timer:
            self._timer.cancel()
        if self.transport and not self.transport.is_closing():
            self.transport.close()

    async def wait_closed(self) -> None:
        """Return once `connection_lost` ran (after `close`)."""
        if self.transport is not None:
            await self._lost

    def _check(self, period: float) -> None:
        if self.fed:
            self.fed = False
            self._timer = asyncio.get_running_loop().call_later(period, self._check, period)
            return
        self._fail(TimeoutError(f"no data from the API server for {period:g}s"))
        self.close()

    async def _wait(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, error: Exception) -> None:
        self._state, self._error, self.reusable = _IDLE, error, False
        self._wake()

    def _finish(self) -> None:
        self._state, self._done = _IDLE, True
        if self._buffer:  # more bytes than the response said: do not trust what follows
            self.reusable = False
        self._wake()

    def _emit(self, data: bytes) -> None:
        self._pieces.append(data)
        if self._stream:
            self._buffered += len(data)
            if self._buffered > PAUSE_ABOVE and self.transport and not self._paused:
                self._paused = True
                self.transport.pause_reading()  # the consumer lags; `read` resumes
            self._wake()

    def _step(self) -> bool:
        """Advance the parser over `_buffer`; False when it needs more bytes (or is done)."""
        buffer, state = self._buffer, self._state
        if state in (_LENGTH, _CHUNK_DATA, _UNTIL_EOF):
            if not buffer:
                return False
            take = len(buffer) if state == _UNTIL_EOF else min(len(buffer), self._remaining)
            self._emit(bytes(buffer[:take]))
            del buffer[:take]
            self._remaining -= take
            if state == _LENGTH and not self._remaining:
                self._finish()
            elif state == _CHUNK_DATA and not self._remaining:
                self._state = _CHUNK_SIZE
            return self._state == _CHUNK_SIZE
        if (
            state == _IDLE
            or (text := self._until(b"\r\n\r\n" if state == _HEAD else b"\r\n")) is None
        ):
            return False
        if state == _HEAD:
            self._parse_head(text.decode("latin-1"))
        elif state == _CHUNK_SIZE and text:  # (an empty line here ends the previous chunk)
            size = int(text.split(b";", 1)[0], 16)
            self._state, self._remaining = (_CHUNK_DATA, size) if size else (_TRAILER, 0)
        elif state == _TRAILER and not text:  # the empty line after the last chunk
            self._finish()
        return True

    def _until(self, separator: bytes) -> bytes | None:
        """Take the buffer's bytes up to `separator` (dropped), if it arrived yet."""
        end = self._buffer.find(separator)
        if end < 0:
            if len(self._buffer) > MAX_LINE:
                raise ProtocolError(f"a response head or line over {MAX_LINE} bytes")
            return None
        text = bytes(self._buffer[:end])
        del self._buffer[: end + len(separator)]
        return text

    def _parse_head(self, head: str) -> None:
        status_line, *lines = head.split("\r\n")
        version, _, rest = status_line.partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise ProtocolError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
        headers: dict[str, str] = {}
        for line in lines:
            name, colon, value = line.partition(":")
            if not colon:
                raise ProtocolError(f"a header line without a colon: {line[:80]!r}")
            headers[name.strip().lower()] = value.strip()
        status = int(code)
        if status < 200:  # an interim response (100 Continue): the real head follows
            return
        self.reusable = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        self._head = Response(status, reason, headers, b"")
        length = headers.get("content-length")
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._state = _CHUNK_SIZE
        elif length is not None and not length.isdigit():
            raise ProtocolError(f"a Content-Length that is not a number: {length[:80]!r}")
        elif length is not None:
            self._state, self._remaining = _LENGTH, int(length)
        else:  # no length: the body runs until the server closes the connection
            self._state, self.reusable = _UNTIL_EOF, False
        if status in (204, 304) or length == "0":
            self._finish()
        self._wake()


class Stream:
    """A response read as it arrives (a watch): `status` and `headers`, then `read` pieces.

    It owns a connection of its own, outside the pool's limit, which `close` closes: a
    stream rarely ends cleanly, and a watch must never hold up a pooled request.
    """

    def __init__(self, head: Response, conn: _Connection, streams: set[_Connection]) -> None:
        self.status, self.reason, self.headers = head.status, head.reason, head.headers
        self._conn, self._streams = conn, streams

    async def read(self) -> bytes:
        """The body bytes received since the last call; b"" once the response ended."""
        return await self._conn.read()

    async def body(self) -> bytes:
        """The rest of the body, whole (for error responses)."""
        pieces = []
        while piece := await self.read():
            pieces.append(piece)
        return b"".join(pieces)

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._conn.close()
        self._streams.discard(self._conn)


class Client:
    """Requests to one server (`url`: http(s)://host[:port][/prefix]) with `headers` on each.

    At most `limit` requests (0: no limit) are in flight, each on a connection of its own;
    idle connections are kept alive for the next request, so at most `limit` are open.
    """

    auth: Callable[[], str] | None = None
    """Gives each request's Authorization value (a rotating token: `_token.TokenFile`)."""

    def __init__(
        self, url: str, headers: Mapping[str, str], context: ssl.SSLContext | None, limit: int
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"API server URL {url!r} is not http(s)://host[:port]: fix kubeconfig")
        tls = parts.scheme == "https"
        self._host, self._port = parts.hostname, parts.port or (443 if tls else 80)
        self._ssl = (context or ssl.create_default_context()) if tls else None
        self._prefix = parts.path.rstrip("/")
        fixed = {"Host": parts.netloc.rpartition("@")[2], **headers}
        self._fixed = "".join(f"{name}: {value}\r\n" for name, value in fixed.items())
        self._slots = asyncio.Semaphore(limit) if limit > 0 else None
        self._idle: list[_Connection] = []
        self._streams: set[_Connection] = set()

    async def request(
        self,
        method: str,
        path: str,
        query: Mapping[str, str] | None = None,
        body: bytes | None = None,
        content_type: str = "application/json",
    ) -> Response:
        """Send one request and return its whole response (any status)."""
        data = self._encode(method, path, query, body, content_type)
        async with asyncio.timeout(TOTAL_TIMEOUT):
            if self._slots is None:
                return await self._exchange(data)
            async with self._slots:
                return await self._exchange(data)

    async def stream(self, path: str, query: Mapping[str, str], read_timeout: float) -> Stream:
        """GET `path` on a new connection; reading fails with TimeoutError once the server
        has sent nothing for `read_timeout` seconds. The caller closes the Stream."""
        conn = await self._open()
        self._streams.add(conn)
        try:
            conn.watch(read_timeout)
            conn.send(self._encode("GET", path, query, None, ""), stream=True)
            return Stream(await conn.response(), conn, self._streams)
        except BaseException:
            conn.close()
            self._streams.discard(conn)
            raise

    async def close(self) -> None:
        """Close every connection, idle or streaming, and wait until they are closed."""
        conns = [*self._idle, *self._streams]
        self._idle.clear()
        for conn in conns:
            conn.close()
        for conn in conns:
            await conn.wait_closed()

    async def _exchange(self, data: bytes) -> Response:
        conn, reused = await self._take()
        done = False
        try:
            conn.send(data)
            try:
                response = await conn.response()
            except ConnectionError:
                if not reused or conn.received:
                    raise  # the server may have acted on it: never sent twice
                conn.close()  # the keep-alive race: the server closed it as we reused it
                conn = await self._open()
                conn.send(data)
                response = await conn.response()
            done = True
            return response
        finally:
            if done and conn.reusable and not conn.closed:
                self._idle.append(conn)
            else:
                conn.close()

    async def _take(self) -> tuple[_Connection, bool]:
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn, True
        return await self._open(), False

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        hostname = self._host if self._ssl else None
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                _, conn = await loop.create_connection(
                    _Connection, self._host, self._port, ssl=self._ssl, server_hostname=hostname
                )
        except TimeoutError as exc:
            where = f"{self._host}:{self._port}"
            raise TimeoutError(
                f"connecting to the API server at {where} took over {CONNECT_TIMEOUT:g}s"
            ) from exc
        return conn

    def _encode(
        self, method: str, path: str, query: Mapping[str, str] | None, body: bytes | None, kind: str
    ) -> bytes:
        target = self._prefix + quote(path, safe=_PATH_SAFE)
        if query:
            target += "?" + urlencode(query)
        head = f"{method} {target} HTTP/1.1\r\n{self._fixed}"
        if self.auth is not None:
            head += f"Authorization: {self.auth()}\r\n"
        if body is None:
            return (head + "\r\n").encode()
        head += f"Content-Type: {kind}\r\nContent-Length: {len(body)}\r\n\r\n"
        return head.encode() + body
