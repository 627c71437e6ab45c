"""What a local run's processes are given: directories, environment and command lines.

The same variables the Job builder puts on the agent pod's containers
(`controllers/.../manager/_jobbuilder.py`), with each mount point (`/ipc`,
`/workspace`, ...) a directory under the run's temp dir (`K8SCLAW_*_DIR`, as the
sidecar's `PodPaths` reads them). Each process gets only what its container gets: the
API key reaches the agent alone, never the sandbox that runs the model's commands.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from k8sclaw.local._nats import INSTALL_HINT, MissingExtraError

NAMESPACE = "local"
INSTANCE = "local"
ENTRY_POINTS = {
    "agent": "k8sclaw-agent",
    "bridge": "k8sclaw-ipc-bridge",
    "sandbox": "k8sclaw-sandbox",
}
BASE_VARS = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "K8SCLAW_LOG_LEVEL")
"""Host variables every process keeps (a command in the sandbox needs PATH)."""
NETWORK_VARS = (
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)
"""Host variables the agent also keeps: it calls the model's API."""
NO_LOCAL_BACKEND = ("send_channel_message", "spawn_subagent")
"""Tools denied locally: no channel pod or controller is there to carry them out."""
BRIDGE_RESULT_TIMEOUT = "15"


def entry_point(component: str) -> str:
    """The console script of a sidecar component (beside this interpreter, else PATH)."""
    program = ENTRY_POINTS[component]
    beside = Path(sys.executable).parent / program
    found = str(beside) if beside.exists() else shutil.which(program)
    if not found:
        raise MissingExtraError(
            f"the agent pod's programs (k8sclaw-sidecar: {program}) are missing; {INSTALL_HINT}"
        )
    return found


@dataclass(frozen=True)
class RunDirs:
    """The stand-ins for the pod's volumes."""

    root: Path
    workspace: Path

    @property
    def ipc(self) -> Path:
        return self.root / "ipc"

    @property
    def sandbox_ipc(self) -> Path:
        return self.root / "ipc-sandbox"

    @property
    def skills(self) -> Path:
        return self.root / "skills"

    @property
    def memory(self) -> Path:
        return self.root / "memory"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def bus(self) -> Path:
        return self.root / "bus"

    def create(self) -> None:
        for path in (self.ipc, self.sandbox_ipc, self.skills, self.memory, self.tmp):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.workspace.mkdir(parents=True, exist_ok=True)

    def env(self, *mounts: str) -> dict[str, str]:
        paths = {
            "IPC": self.ipc,
            "SANDBOX_IPC": self.sandbox_ipc,
            "WORKSPACE": self.workspace,
            "SKILLS": self.skills,
            "MEMORY": self.memory,
            "TMP": self.tmp,
        }
        return {f"K8SCLAW_{m}_DIR": str(paths[m]) for m in mounts}


def host_env(names: tuple[str, ...], environ: dict[str, str] | None = None) -> dict[str, str]:
    env = os.environ if environ is None else environ
    return {name: env[name] for name in names if name in env}


def tool_env(allow: list[str] | None, deny: list[str]) -> dict[str, str]:
    """TOOLS_ALLOW/TOOLS_DENY as the Job builder writes them (no TOOLS_ALLOW: every tool)."""
    allow_env = {} if allow is None else {"TOOLS_ALLOW": ",".join(allow)}
    return {**allow_env, "TOOLS_DENY": ",".join(sorted({*deny, *NO_LOCAL_BACKEND}))}


def created_now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
