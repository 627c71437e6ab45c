"""The run's tool policy, enforced by the bridge on what it publishes (issue #13 item 3).

The agent offers the model only the tools the run may use, but the agent container is
not the only thing that can put files in front of the bridge, and a compromised agent
is an adversary too: a `channel.message.send`, `agent.spawn.request` or
`tool.exec.request` file for a tool the run may not use is quarantined, never
published. The policy comes from the same `TOOLS_ALLOW` / `TOOLS_DENY` environment the
Job builder gives the agent, parsed by the agent's own settings and filtered by the
agent's own `allowed_tools`, so the two can never disagree on what a run may do.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from k8sclaw_protocol import IpcLayout, events, ipc, names
from k8sclaw_sidecar.agent._settings import AgentSettings
from k8sclaw_sidecar.agent._tools import allowed_tools

log = logging.getLogger("k8sclaw.bridge")

TOOL_OF_TOPIC: Final = {
    events.CHANNEL_MESSAGE_SEND: names.TOOL_SEND_CHANNEL_MESSAGE,
    events.AGENT_SPAWN_REQUEST: names.TOOL_SPAWN_SUBAGENT,
    events.TOOL_EXEC_REQUEST: names.TOOL_EXECUTE_COMMAND,
    events.AGENT_MEMORY_UPDATE: names.TOOL_UPDATE_MEMORY,
}
"""Topics a file may only be published on when the run may use the tool behind it."""


@dataclass
class ToolGate:
    """Which tool-backed topics this run may publish on.

    A tool gated `ask` is published only against an approval: each approve decision the
    bridge hands to the agent lets exactly one file of that tool's topic through; any
    other (a compromised agent skipping the question) is quarantined.
    """

    allowed: frozenset[str]
    ask: frozenset[str] = frozenset()
    approved: Counter[str] = field(default_factory=Counter)
    """Approved calls per gated tool not yet used by a published file."""

    @classmethod
    def from_env(cls) -> ToolGate:
        """The run's effective policy from the pod environment (as the agent reads it)."""
        settings = AgentSettings.from_env([])
        allowed = frozenset(allowed_tools(settings.tools_allow, settings.tools_deny))
        return cls(allowed, settings.tools_ask & allowed)

    def permits(self, topic: str) -> bool:
        tool = TOOL_OF_TOPIC.get(topic)
        return tool is None or tool in self.allowed

    def grant(self, tool: str) -> None:
        """A person approved one call of `tool`."""
        if tool in self.ask:
            self.approved[tool] += 1

    def _reason(self, topic: str) -> str | None:
        """Why a file of `topic` may not be published now; None if it may (one approved
        call of a gated tool is used up by this)."""
        tool = TOOL_OF_TOPIC.get(topic)
        if tool is None:
            return None
        if tool not in self.allowed:
            return f"the run's tool policy does not allow {tool} ({topic})"
        if tool not in self.ask:
            return None
        if self.approved[tool] <= 0:
            return f"{tool} needs a person's approval and none was given for this call ({topic})"
        self.approved[tool] -= 1
        return None

    def admit(self, layout: IpcLayout, path: Path, topic: str) -> bool:
        """True if `path` may be published on `topic`; otherwise it is quarantined."""
        reason = self._reason(topic)
        if reason is None:
            return True
        ipc.quarantine(layout, path, reason)
        log.warning("quarantined %s: %s", path.name, reason)
        return False
