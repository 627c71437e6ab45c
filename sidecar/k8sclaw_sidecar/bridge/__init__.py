"""`k8sclaw-ipc-bridge`: publishes an agent pod's `/ipc` files on the NATS event bus.

Runs in the `ipc-bridge` container; exits 0 once the run's result is acknowledged.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Sequence

from k8sclaw_sidecar._settings import setup_logging
from k8sclaw_sidecar.bridge._bridge import (
    EXIT_BUS_UNAVAILABLE,
    EXIT_NO_RESULT,
    Bridge,
    run_bridge,
)
from k8sclaw_sidecar.bridge._policy import ToolGate
from k8sclaw_sidecar.bridge._settings import BridgeSettings, SettingsError

__all__ = [
    "EXIT_BUS_UNAVAILABLE",
    "EXIT_NO_RESULT",
    "Bridge",
    "BridgeSettings",
    "SettingsError",
    "ToolGate",
    "main",
    "run_bridge",
]


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; SIGTERM/SIGINT stop the bridge cleanly."""
    try:
        settings = BridgeSettings.from_args(argv)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return exc.exit_code
    setup_logging("ipc-bridge")

    async def _main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await run_bridge(settings, stop)

    return asyncio.run(_main())
