"""The kubelet's HTTPS endpoint for `/containerLogs/<ns>/<pod>/<container>`.

kube-apiserver (and the emulator) proxy `pods/log` here. `follow=true` streams until
the container's process exits; `tailLines` trims to the last lines; `previous=true` serves
`<log>.previous` (what a restart left), else the kubelet's 400.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import trustme

# (namespace, pod, container) → (log file, "has the container finished?")
LogLookup = Callable[[str, str, str], tuple[Path, Callable[[], bool]] | None]


class LogServer:
    """A threaded HTTPS server on 127.0.0.1 with a self-signed certificate."""

    def __init__(self, lookup: LogLookup) -> None:
        self.ca = ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        handler = type("Handler", (_Handler,), {"lookup": staticmethod(lookup)})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="kubelet-logs", daemon=True
        )

    def start(self) -> LogServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class _Handler(BaseHTTPRequestHandler):
    lookup: LogLookup

    def log_message(self, format: str, *args: object) -> None:
        """Silence the default stderr access log."""

    def do_GET(self) -> None:
        url = urlparse(self.path)
        parts = url.path.strip("/").split("/")
        found = (
            self.lookup(*parts[1:4]) if len(parts) == 4 and parts[0] == "containerLogs" else None
        )
        if found is None:
            self.send_error(404, "container not found")
            return
        path, finished = found
        query = parse_qs(url.query)
        if query.get("previous") == ["true"]:  # the last terminated instance's log, kept
            path = path.with_name(f"{path.name}.previous")  # beside the log by a restart
            if not path.exists():
                pod, container = parts[2], parts[3]
                text = f'previous terminated container "{container}" in pod "{pod}" not found'
                self.send_response(400)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(text.encode())
                return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        data = path.read_bytes() if path.exists() else b""
        tail = query.get("tailLines")
        if tail:
            lines = data.splitlines(keepends=True)
            data = b"".join(lines[-int(tail[0]) :]) if int(tail[0]) else b""
        self.wfile.write(data)
        if query.get("follow") == ["true"]:
            self._follow(path, len(path.read_bytes()) if path.exists() else 0, finished)

    def _follow(self, path: Path, offset: int, finished: Callable[[], bool]) -> None:
        done = threading.Event()
        while True:
            was_finished = finished()
            data = path.read_bytes()[offset:] if path.exists() else b""
            if data:
                self.wfile.write(data)
                self.wfile.flush()
                offset += len(data)
            if was_finished:
                return
            done.wait(0.05)
