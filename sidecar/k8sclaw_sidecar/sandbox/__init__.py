"""`k8sclaw-sandbox`: the executor in the agent pod's `sandbox` container.

Claims `/ipc-sandbox/tools/exec-request-*.json`, runs each once with a timeout in
`/workspace`, writes `exec-result-<id>.json` atomically and exits after `/ipc-sandbox/done`.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence

from k8sclaw_sidecar._settings import setup_logging
from k8sclaw_sidecar.sandbox._executor import (
    OUTPUT_CAP,
    Executor,
    SandboxSettings,
    run_command,
)

__all__ = [
    "Executor",
    "OUTPUT_CAP",
    "SandboxSettings",
    "main",
    "run_command",
]


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; SIGTERM/SIGINT stop after running commands finish."""
    settings = SandboxSettings.from_args(argv)
    setup_logging("sandbox")

    async def _main() -> int:
        executor = Executor(settings)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, executor.stop.set)
        return await executor.run()

    return asyncio.run(_main())
