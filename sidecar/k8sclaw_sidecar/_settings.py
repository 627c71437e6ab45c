"""Resolving settings the same way in every sidecar component: argument → env → default.

The pod paths default to the container mount points (`/ipc`, `/workspace`, ...) and are
overridden by `K8SCLAW_*_DIR`, so the same code runs in a pod and as local processes
(the harness's process kubelet points them at per-pod temp dirs).
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from k8sclaw_protocol import names

ENV_IPC_DIR = "K8SCLAW_IPC_DIR"
ENV_WORKSPACE_DIR = "K8SCLAW_WORKSPACE_DIR"
ENV_SKILLS_DIR = "K8SCLAW_SKILLS_DIR"
ENV_MEMORY_DIR = "K8SCLAW_MEMORY_DIR"
ENV_TMP_DIR = "K8SCLAW_TMP_DIR"
ENV_SANDBOX_IPC_DIR = "K8SCLAW_SANDBOX_IPC_DIR"
SANDBOX_IPC_MOUNT = "/ipc-sandbox"
"""Where agent and sandbox exchange exec requests/results: the sandbox's own volume,
never `/ipc` (which the bridge publishes from and the sandbox cannot mount)."""

# Model-visible mount point -> environment override.
MOUNTS = {
    "/ipc": ENV_IPC_DIR,
    "/workspace": ENV_WORKSPACE_DIR,
    "/skills": ENV_SKILLS_DIR,
    "/memory": ENV_MEMORY_DIR,
    "/tmp": ENV_TMP_DIR,
    SANDBOX_IPC_MOUNT: ENV_SANDBOX_IPC_DIR,
}
DEFAULT_EVENT_BUS_URL = names.EVENT_BUS_URL


def resolve(arg: str | None, env: str, default: str = "") -> str:
    """First non-empty of the command-line value, the environment variable, the default."""
    if arg:
        return arg
    return os.environ.get(env) or default


@dataclass(frozen=True)
class PodPaths:
    """Where the pod's volumes are mounted for this process."""

    ipc: Path
    workspace: Path
    skills: Path
    memory: Path
    tmp: Path
    sandbox_ipc: Path = Path(SANDBOX_IPC_MOUNT)
    """The exec request/result exchange with the sandbox (`/ipc-sandbox`)."""

    @classmethod
    def from_env(cls, ipc: str | None = None) -> PodPaths:
        def path(mount: str, arg: str | None = None) -> Path:
            return Path(resolve(arg, MOUNTS[mount], mount))

        return cls(
            ipc=path("/ipc", ipc),
            workspace=path("/workspace"),
            skills=path("/skills"),
            memory=path("/memory"),
            tmp=path("/tmp"),
            sandbox_ipc=path(SANDBOX_IPC_MOUNT),
        )

    def local(self, mount: str) -> Path:
        """The local directory standing in for a model-visible mount point."""
        return {
            "/ipc": self.ipc,
            "/workspace": self.workspace,
            "/skills": self.skills,
            "/memory": self.memory,
            "/tmp": self.tmp,
            SANDBOX_IPC_MOUNT: self.sandbox_ipc,
        }[mount]


def setup_logging(component: str) -> logging.Logger:
    """Log lines to stderr (stdout carries the agent's result marker)."""
    logging.basicConfig(
        stream=sys.stderr,
        level=os.environ.get("K8SCLAW_LOG_LEVEL", "INFO").upper(),
        format=f"%(asctime)s {component} %(levelname)s %(name)s: %(message)s",
    )
    return logging.getLogger(f"k8sclaw.{component}")
