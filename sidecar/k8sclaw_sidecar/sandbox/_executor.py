"""The sandbox executor: runs the agent's exec requests inside the `sandbox` container.

It works in `/ipc-sandbox`, a volume shared only with the agent: the sandbox does not
mount `/ipc` at all, so nothing it runs can write where the bridge publishes (issue #13
item 3: a command could forge `result.json` or a channel message). Requests are
claimed with an atomic `mkdir tools/.claim-<id>` (so two executors, or a restarted
one, never run a command twice), run once through `sh -c` (never wrapped twice;
reference §15) in the workspace with a timeout, output capped at 50 KiB, and the
result written atomically. The executor exits once `/ipc-sandbox/done` exists and no
command is still running.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from k8sclaw_protocol import ExecRequest, ExecResult, IpcLayout, QuarantinedError, ipc
from k8sclaw_sidecar import _settings, _watch
from k8sclaw_sidecar.sandbox import _reaper

log = logging.getLogger("k8sclaw.sandbox")

OUTPUT_CAP = 50 * 1024
DEFAULT_TIMEOUT = 30
MAX_TIMEOUT = 600
REAPER_GRACE_SECONDS = 15
"""How long past the timeout the executor waits for a reaper before killing it."""


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
        parser.add_argument("--ipc-path", help="the sandbox's exchange dir (/ipc-sandbox)")
        args = parser.parse_args(argv)
        paths = _settings.PodPaths.from_env()
        if args.ipc_path:
            paths = dataclasses.replace(paths, sandbox_ipc=Path(args.ipc_path))
        return cls(paths=paths)


class Executor:
    """Watches `/ipc/tools`; `run()` returns the exit code."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.layout = IpcLayout(settings.paths.sandbox_ipc)
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
    """Run `sh -c <command>` under a per-command reaper (`_reaper`) that kills the whole
    process tree, escaped sessions included, on timeout and when the command ends.

    Output is read incrementally: at most `cap` bytes of each stream are kept and the
    rest is read and dropped, so memory stays bounded whatever the command prints.
    """
    limit = min(request.timeout or DEFAULT_TIMEOUT, MAX_TIMEOUT)
    try:
        proc = await _start(request, cwd, limit)
    except OSError as exc:
        return ExecResult(id=request.id, exit_code=127, stderr=f"cannot start command: {exc}")
    try:
        async with asyncio.timeout(limit + REAPER_GRACE_SECONDS):
            (out, out_more), (err, err_more), _, code = await asyncio.gather(
                _drain(proc.stdout, cap),
                _drain(proc.stderr, cap),
                _feed(proc.stdin, request.stdin),
                proc.wait(),
            )
    except TimeoutError:  # the reaper itself is stuck or was killed by the command
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return ExecResult(id=request.id, exit_code=124, stderr="command timed out", timed_out=True)
    timed_out = code == -_reaper.TIMEOUT_SIGNAL
    return ExecResult(
        id=request.id,
        exit_code=124 if timed_out else code,
        stdout=_render(out, out_more, cap),
        stderr=_render(err, err_more, cap),
        timed_out=timed_out,
    )


async def _start(request: ExecRequest, cwd: Path, limit: int) -> asyncio.subprocess.Process:
    # The reaper runs as a plain script (-I -S: stdlib only, no site, no package import).
    reaper = [sys.executable, "-I", "-S", _reaper.__file__, str(limit)]
    return await asyncio.create_subprocess_exec(
        *reaper,
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


async def _drain(stream: asyncio.StreamReader | None, cap: int) -> tuple[bytes, bool]:
    """Read `stream` to EOF keeping at most `cap` bytes; True if more was dropped."""
    kept = bytearray()
    dropped = False
    while stream is not None and (chunk := await stream.read(1 << 16)):
        room = cap - len(kept)
        if room > 0:
            kept += chunk[:room]
        dropped = dropped or len(chunk) > room
    return bytes(kept), dropped


async def _feed(stdin: asyncio.StreamWriter | None, data: str | None) -> None:
    if stdin is None:
        return
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        if data:
            stdin.write(data.encode())
            await stdin.drain()
        stdin.close()
        await stdin.wait_closed()


def _render(data: bytes, dropped: bool, limit: int) -> str:
    if not dropped:
        return data.decode("utf-8", errors="replace")
    return data.decode("utf-8", errors="ignore") + f"\n... (truncated at {limit} bytes)"
