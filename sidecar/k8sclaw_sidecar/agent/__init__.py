"""`k8sclaw-agent`: the agent runner of the `agent` container (SPEC §4).

Reads the task, runs the tool loop against the configured provider (echoing the answer
and one line per tool call on stdout as they happen), writes `/ipc/output/result.json`,
prints the result marker line and writes `/ipc/done`.
Exit status 0 on success, 1 on error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from k8sclaw_protocol import IpcLayout
from k8sclaw_sidecar._settings import setup_logging
from k8sclaw_sidecar.agent._providers import ProviderError, ToolCall, Turn, make_provider
from k8sclaw_sidecar.agent._runner import AgentRunner, RunError, finish
from k8sclaw_sidecar.agent._settings import AgentSettings
from k8sclaw_sidecar.agent._tools import TOOLS, Toolbox, allowed_tools

__all__ = [
    "AgentRunner",
    "AgentSettings",
    "ProviderError",
    "RunError",
    "TOOLS",
    "ToolCall",
    "Toolbox",
    "Turn",
    "allowed_tools",
    "finish",
    "main",
    "make_provider",
]


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point."""
    settings = AgentSettings.from_env(argv)
    setup_logging("agent")
    runner = AgentRunner(settings)
    result = asyncio.run(runner.run())
    sandbox = IpcLayout(settings.paths.sandbox_ipc)
    return finish(IpcLayout(settings.paths.ipc), result, runner.console, sandbox)
