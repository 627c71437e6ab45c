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
from dataclasses import dataclass
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


@dataclass(frozen=True)
class ToolGate:
    """Which tool-backed topics this run may publish on."""

    allowed: frozenset[str]

    @classmethod
    def from_env(cls) -> ToolGate:
        """The run's effective policy from the pod environment (as the agent reads it)."""
        settings = AgentSettings.from_env([])
        return cls(frozenset(allowed_tools(settings.tools_allow, settings.tools_deny)))

    def permits(self, topic: str) -> bool:
        tool = TOOL_OF_TOPIC.get(topic)
        return tool is None or tool in self.allowed

    def admit(self, layout: IpcLayout, path: Path, topic: str) -> bool:
        """True if `path` may be published on `topic`; otherwise it is quarantined."""
        if self.permits(topic):
            return True
        reason = f"the run's tool policy does not allow {TOOL_OF_TOPIC[topic]} ({topic})"
        ipc.quarantine(layout, path, reason)
        log.warning("quarantined %s: %s", path.name, reason)
        return False
