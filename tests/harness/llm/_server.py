"""The scripted LLM server: real OpenAI Chat Completions and Anthropic Messages wire formats.

Routes: `POST .../chat/completions` (OpenAI, `/v1` for Ollama and compatible servers,
`/openai/deployments/<d>/chat/completions?api-version=` for Azure) and `POST /v1/messages`
(Anthropic). Each request consumes the next scripted turn; every request is recorded.
A request with `"stream": true` gets a successful turn as server-sent events in the
provider's format (`_sse`); errors are plain JSON responses either way, as the real
APIs answer them before any stream starts. An exhausted script answers 500 with a
message saying so.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.harness.llm import _script, _sse

HOLD_TIMEOUT = 10.0


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any

    @property
    def tool_names(self) -> list[str]:
        tools = self.body.get("tools") or []
        return [t.get("function", t).get("name") for t in tools]


class ScriptedLLM:
    """A running server; `script(*turns)` sets what the model says next."""

    def __init__(self) -> None:
        self._turns: list[_script.Turn] = []
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def script(self, *turns: _script.Turn) -> None:
        with self._lock:
            self._turns = list(turns)
            self.requests.clear()

    @property
    def remaining(self) -> int:
        return len(self._turns)

    def base_url(self, provider: str) -> str:
        """MODEL_BASE_URL for a provider kind."""
        return self.url if provider in ("anthropic", "azure-openai") else self.url + "/v1"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _next(self, request: Request) -> _script.Turn | None:
        with self._lock:
            self.requests.append(request)
            return self._turns.pop(0) if self._turns else None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        llm = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                body = json.loads(raw or b"{}")
                request = Request(
                    "POST",
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                anthropic = parts.path.endswith("/messages")
                if not (anthropic or parts.path.endswith("/chat/completions")):
                    self._send(404, {"error": {"message": f"no route {parts.path}"}}, {})
                    return
                turn = llm._next(request)
                if turn is None:
                    turn = _script.error(500, "scripted LLM: script exhausted")
                model = str(body.get("model", ""))
                if body.get("stream") and turn.status == 200:
                    self._stream(turn, model, anthropic, body)
                    return
                render = _script.anthropic_body if anthropic else _script.openai_body
                self._send(turn.status, render(turn, model), turn.headers)

            def _stream(self, turn: _script.Turn, model: str, anthropic: bool, body: Any) -> None:
                if anthropic:
                    events = _sse.anthropic_stream(turn, model)
                else:
                    options = body.get("stream_options") or {}
                    events = _sse.openai_stream(turn, model, bool(options.get("include_usage")))
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("cache-control", "no-cache")
                self.send_header("connection", "close")  # HTTP/1.0: the body ends at close
                self.end_headers()
                for item in events:
                    if item is _sse.HOLD:
                        assert turn.hold is not None
                        turn.hold.wait(HOLD_TIMEOUT)
                    elif isinstance(item, bytes):
                        self.wfile.write(item)
                        self.wfile.flush()

            def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        return Handler
