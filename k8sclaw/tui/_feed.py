"""The conversation feed: the selected instance's runs as task → answer/error, live.

Rebuilt from the store's runs whenever a run of that instance changes. A running run shows
"…" until its status carries the result: the agent streams its answer only into
/ipc/output stream-chunk files that the bridge publishes on the in-cluster bus; its
container log (what pods/log returns) holds stderr log lines and the final result marker,
no partial answer a laptop could follow.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from k8sclaw.tui._store import RUNS, Store
from k8sclaw.tui._table import PHASE_STYLES
from k8sclaw_protocol import AgentRun

MAX_RUNS = 20


def feed_text(store: Store, instance: str | None) -> Text:
    """The feed of `instance`: newest runs last, each with its task and outcome."""
    if not instance:
        return Text("Select an instance to see its conversation.", style="dim")
    runs: list[AgentRun] = [r for r in store.all(RUNS) if r.spec.instance_ref == instance]
    runs.sort(
        key=lambda r: (r.metadata.creation_timestamp is None, r.metadata.creation_timestamp, r.name)
    )
    out = Text(f"── {instance} ──\n", style="bold #74C7EC")
    if not runs:
        out.append("No runs yet: /run <task> starts one.\n", style="dim")
    for run in runs[-MAX_RUNS:]:
        phase = (run.status.phase if run.status else None) or "Pending"
        out.append("> ", style="bold")
        out.append(f"{run.spec.task}\n")
        out.append(f"  [{phase}] ", style=PHASE_STYLES.get(phase, ""))
        if run.status and run.status.result:
            out.append(run.status.result.strip() + "\n")
        elif run.status and run.status.error:
            out.append(f"✗ {run.status.error}\n", style="red")
        else:
            out.append("…\n", style="dim")
    return out


class Feed(Static):
    """The feed pane; `show(store, instance)` re-renders it."""

    def show(self, store: Store, instance: str | None) -> None:
        """Render the feed of `instance` from the store."""
        self.instance = instance
        self.update(feed_text(store, instance))
