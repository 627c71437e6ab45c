"""The local run's child processes: each in its own process group, all stopped together.

A child runs in a new session, so a Ctrl-C in the terminal reaches only the CLI, which
then stops every child: SIGTERM to each group, SIGKILL to whatever is left after the
grace period (a command the sandbox started in the group goes with it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Sequence
from pathlib import Path

GRACE_SECONDS = 5.0


class Children:
    """The processes started for one local run."""

    def __init__(self) -> None:
        self.procs: dict[str, asyncio.subprocess.Process] = {}

    async def start(
        self,
        name: str,
        argv: Sequence[str],
        env: dict[str, str],
        *,
        cwd: Path,
        stdout: int | None = None,
        stderr: int | None = None,
    ) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    @property
    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.procs.items()}

    async def stop_all(self, grace: float = GRACE_SECONDS) -> None:
        """Terminate every group, wait up to `grace` seconds, then kill what is left."""
        running = [p for p in self.procs.values() if p.returncode is None]
        for proc in running:
            _signal_group(proc.pid, signal.SIGTERM)
        waits = [asyncio.create_task(p.wait()) for p in running]
        if waits:
            await asyncio.wait(waits, timeout=grace)
        for proc in self.procs.values():
            _signal_group(proc.pid, signal.SIGKILL)  # also a leftover grandchild
        for proc in running:
            with contextlib.suppress(ProcessLookupError, TimeoutError):
                await asyncio.wait_for(proc.wait(), timeout=grace)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
