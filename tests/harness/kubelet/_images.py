"""Container images → local commands, and container mount paths → environment variables.

Our images map to the console scripts of this checkout's environment by repository
name (`ghcr.io/k8sclaw/agent-runner:0.1.0` → `k8sclaw-agent`); any other image runs the
container's `command` on the host (`python`/`python3` meaning this interpreter), so a
test can run a trivial pod without an image registry.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from k8sclaw_protocol import names

IMAGE_ENTRY_POINTS: dict[str, str] = {
    names.IMAGE_AGENT_RUNNER.rsplit("/", 1)[-1]: "k8sclaw-agent",
    names.IMAGE_IPC_BRIDGE.rsplit("/", 1)[-1]: "k8sclaw-ipc-bridge",
    names.IMAGE_SANDBOX.rsplit("/", 1)[-1]: "k8sclaw-sandbox",
}

# Container mount path → the variable that tells code under test where it really is.
MOUNT_ENV: dict[str, str] = {
    "/ipc": "K8SCLAW_IPC_DIR",
    "/workspace": "K8SCLAW_WORKSPACE_DIR",
    "/skills": "K8SCLAW_SKILLS_DIR",
    "/memory": "K8SCLAW_MEMORY_DIR",
    "/tmp": "K8SCLAW_TMP_DIR",
    "/var/run/k8sclaw/bus": "K8SCLAW_BUS_CREDS_DIR",
    "/ipc-sandbox": "K8SCLAW_SANDBOX_IPC_DIR",
}


class ImageError(Exception):
    """The image cannot be run as a local process (reported as the container's failure)."""


def repository(image: str) -> str:
    """`ghcr.io/k8sclaw/agent-runner:0.1.0@sha256:...` → `agent-runner`."""
    name = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return name.split(":", 1)[0]


def _resolve(program: str) -> str:
    if program in ("python", "python3", sys.executable):
        return sys.executable
    local = Path(sys.executable).parent / program
    if local.exists():
        return str(local)
    found = shutil.which(program)
    if found is None:
        raise ImageError(f'exec: "{program}": executable file not found in $PATH')
    return found


def argv(container: dict[str, Any], extra: dict[str, str] | None = None) -> list[str]:
    """The process to start for a container: entry point (or command) plus args."""
    mapping = {**IMAGE_ENTRY_POINTS, **(extra or {})}
    command = list(container.get("command") or [])
    args = list(container.get("args") or [])
    entry = mapping.get(repository(str(container.get("image", ""))))
    if entry is not None and not command:
        return [_resolve(entry), *args]
    if not command:
        raise ImageError(
            f"image {container.get('image')!r} is not mapped to a local entry point "
            "and the container has no command"
        )
    return [_resolve(command[0]), *command[1:], *args]
