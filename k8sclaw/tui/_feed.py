"""The conversation feed: the selected instance's runs as task → answer/error, live.

Rebuilt from the store's runs whenever a run of that instance changes, and whenever the
followed run's agent log grows (`_livefeed`): a running run shows its answer as the agent
streams it, tool calls as dimmed `→ tool` lines (log lines and the result marker left
out), until its status carries the result, which then replaces the streamed text.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from k8sclaw.render import terminal_safe
from k8sclaw.tui._livefeed import LiveAnswer
from k8sclaw.tui._store import RUNS, Store
from k8sclaw.tui._table import PHASE_STYLES
from k8sclaw_protocol import AgentRun

MAX_RUNS = 20


def _streamed(out: Text, live: LiveAnswer) -> None:
    """The answer so far: text as written, tool lines dimmed, each on its own line."""
    body = Text()
    for piece in live.pieces:
        if piece.kind == "text":
            body.append(terminal_safe(piece.text))
        elif piece.kind == "tool":
            if body.plain and not body.plain.endswith("\n"):
                body.append("\n")
            body.append(terminal_safe(piece.text) + "\n", style="dim")
    body.rstrip()
    if not body.plain:
        out.append("…\n", style="dim")
        return
    out.append(body)
    out.append(" ▍\n", style="dim")  # still being written


def feed_text(store: Store, instance: str | None, live: LiveAnswer | None = None) -> Text:
    """The feed of `instance`: newest runs last, each with its task and outcome.

    `live` is the followed run's streamed answer, shown until that run has a result.
    """
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
        out.append(f"{terminal_safe(run.spec.task)}\n")
        out.append(f"  [{phase}] ", style=PHASE_STYLES.get(phase, ""))
        if run.status and run.status.result:
            out.append(terminal_safe(run.status.result).strip() + "\n")
        elif run.status and run.status.error:
            out.append(f"✗ {terminal_safe(run.status.error)}\n", style="red")
        elif live is not None and live.run == run.name:
            _streamed(out, live)
        else:
            out.append("…\n", style="dim")
    return out


class Feed(VerticalScroll, can_focus=False):
    """The feed pane; `show(store, instance)` re-renders its text (the `#feed` Static).

    Like `tail -f` it keeps the newest entry in view, unless the user scrolled away from
    the end (then it stays where they are until they scroll back down).
    """

    instance: str | None = None
    """The instance shown (None before the first `show` or with no instance)."""

    def compose(self) -> ComposeResult:
        yield Static(id="feed")

    def show(self, store: Store, instance: str | None, live: LiveAnswer | None = None) -> None:
        """Render the feed of `instance` from the store (and the live answer, if any)."""
        follow = instance != self.instance or self.scroll_y >= self.max_scroll_y
        self.instance = instance
        self.query_one("#feed", Static).update(feed_text(store, instance, live))
        if follow:
            self.call_after_refresh(self.scroll_end, animate=False, immediate=True)
