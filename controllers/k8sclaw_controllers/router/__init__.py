"""The chat router (SPEC §9, issue #16): chat messages become AgentRuns, results replies.

`_keys` (conversation, session key, deterministic run names), `_history` (prior turns from
the transcript store), `_runs` (the run of a message, through the shared run builder),
`_replies` (reply, friendly error, "queued", typing), `_state` (per-conversation queue),
`_outbound` (the agent's `send_channel_message`, own chat only) and `_router` (the
consumers and the AgentRun watch). It runs inside `k8sclaw-apiserver` (`run_router`).
"""

from k8sclaw_controllers.router._keys import Conversation, run_name
from k8sclaw_controllers.router._router import OnAction, Router, RouterStats, run_router

__all__ = ["Conversation", "OnAction", "Router", "RouterStats", "run_name", "run_router"]
