"""The sandbox executor: runs the agent's exec requests inside the `sandbox` container.

Requests are claimed with an atomic `mkdir tools/.claim-<id>` (so two executors, or a
restarted one, never run a command twice), run once through `sh -c` (never wrapped
twice; reference §15) in the workspace with a timeout, output capped at 50 KiB, and
the result written atomically. The executor exits once `/ipc/done` exists and no
command is still running.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from k8sclaw_protocol import ExecRequest, ExecResult, IpcLayout, QuarantinedError, ipc
from k8sclaw_sidecar import _settings, _watch

log = logging.getLogger("k8sclaw.sandbox")

OUTPUT_CAP = 50 * 1024
DEFAULT_TIMEOUT = 30
MAX_TIMEOUT = 600


@dataclass(frozen=True)
class SandboxSettings:
    """What one executor needs: the shared `/ipc` and the pod's mounts."""

    paths: _settings.PodPaths
    output_cap: int = OUTPUT_CAP

    @classmethod
    def from_args(cls, argv: Sequence[str] | None = None) -> SandboxSettings:
        parser = argparse.ArgumentParser(
            prog="k8sclaw-sandbox",
            description="Run the agent's exec requests from /ipc/tools in this container; "
            "exits after /ipc/done.",
        )
        parser.add_argument("--ipc-path")
        args = parser.parse_args(argv)
        return cls(paths=_settings.PodPaths.from_env(args.ipc_path))


def _cap(data: bytes, limit: int) -> str:
    text = data.decode("utf-8", errors="replace")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", errors="ignore") + f"\n... (truncated at {limit} bytes)"


class Executor:
    """Watches `/ipc/tools`; `run()` returns the exit code."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.layout = IpcLayout(settings.paths.ipc)
        self.stop = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()

    def _is_request(self, path: Path) -> bool:
        return path == self.layout.done or (
            path.parent == self.layout.tools and path.name.startswith("exec-request-")
        )

    async def run(self) -> int:
        self.layout.ensure()
        async for batch in _watch.watch_files(self.layout.root, self.stop, self._is_request):
            for path in batch:
                if path == self.layout.done:
                    self.stop.set()
                else:
                    self._claim(path)
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        return 0

    def _claim(self, path: Path) -> None:
        try:
            request, _ = ipc.read_validated(self.layout, path, ExecRequest)
        except (FileNotFoundError, QuarantinedError) as exc:
            log.warning("skipping %s: %s", path.name, exc)
            return
        try:
            os.mkdir(self.layout.tools / f".claim-{request.id}")
        except FileExistsError:
            return  # claimed before (a duplicate event or another executor)
        task = asyncio.create_task(self._execute(request))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    def _workdir(self, requested: str | None) -> Path:
        """Map a model-visible directory (`/workspace/x`) to the local mount."""
        paths = self.settings.paths
        if not requested:
            return paths.workspace
        for mount in ("/workspace", "/tmp"):
            if requested == mount or requested.startswith(mount + "/"):
                return paths.local(mount) / requested[len(mount) :].lstrip("/")
        return paths.workspace / requested.lstrip("/")

    async def _execute(self, request: ExecRequest) -> None:
        log.info("exec %s: %s", request.id, request.command)
        result = await run_command(
            request, self._workdir(request.work_dir), cap=self.settings.output_cap
        )
        ipc.write_atomic(self.layout.exec_result(request.id), result)


async def run_command(request: ExecRequest, cwd: Path, *, cap: int = OUTPUT_CAP) -> ExecResult:
    """Run `sh -c <command>` in its own process group; kill the group on timeout."""
    limit = min(request.timeout or DEFAULT_TIMEOUT, MAX_TIMEOUT)
    try:
        proc = await asyncio.create_subprocess_exec(
            "sh",
            "-c",
            request.command,
            *(request.args or []),
            cwd=cwd,
            start_new_session=True,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        return ExecResult(id=request.id, exit_code=127, stderr=f"cannot start command: {exc}")
    data = request.stdin.encode() if request.stdin else b""
    timed_out = False
    try:
        out, err = await asyncio.wait_for(proc.communicate(data), limit)
    except TimeoutError:
        timed_out = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = await proc.communicate()
    code = proc.returncode if proc.returncode is not None else -1
    return ExecResult(
        id=request.id,
        exit_code=124 if timed_out else code,
        stdout=_cap(out, cap),
        stderr=_cap(err, cap),
        timed_out=timed_out,
    )
