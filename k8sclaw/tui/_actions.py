"""The one action registry: app key bindings, the footer and the `?` help all come from it."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Action:
    """A key, the app action it runs, what it does, and whether it destroys something."""

    key: str
    action: str
    description: str
    footer: bool = True
    destructive: bool = False
    writes: bool = False  # changes the cluster: hidden and refused with --readonly

    @property
    def read_only_refused(self) -> bool:
        """Whether --readonly hides and refuses this action."""
        return self.writes or self.destructive


ACTIONS: tuple[Action, ...] = (
    Action("question_mark", "help", "Help"),
    Action("slash", "command", "Command"),
    Action("colon", "jump", "Jump"),
    Action("l", "logs", "Logs"),
    Action("p", "previous_logs", "Logs before the last restart", footer=False),
    Action("d", "describe", "Describe"),
    Action("y", "yaml", "YAML"),
    Action("e", "edit", "Edit", footer=False, writes=True),
    Action("x", "delete", "Delete", destructive=True),
    Action("R", "run_prompt", "Run", writes=True),
    Action("O", "onboard", "Onboard", writes=True),
    Action("a", "approvals", "Approvals"),
    Action("A", "decide('approve')", "Approve", footer=False, writes=True),
    Action("D", "decide('deny')", "Deny", footer=False, writes=True),
    Action("f", "filter", "Filter", footer=False),
    Action("s", "sort", "Sort by next column", footer=False),
    Action("tab", "next_view", "Next view", footer=False),
    Action("shift+tab", "previous_view", "Previous view", footer=False),
    Action("j", "cursor_down", "Down", footer=False),
    Action("k", "cursor_up", "Up", footer=False),
    Action("enter", "detail", "Detail", footer=False),
    Action("escape", "go_back", "Back", footer=False),
    Action("q", "quit", "Quit", footer=False),
    *(Action(str(i), f"view({i - 1})", f"View {i}", footer=False) for i in range(1, 9)),
)


WRITE_ACTIONS = frozenset(a.action.split("(", 1)[0] for a in ACTIONS if a.read_only_refused)
# Slash commands that change the cluster: refused with --readonly.
WRITE_COMMANDS = frozenset(
    {"run", "channel", "rmchannel", "provider", "baseurl", "abort", "delete", "onboard"}
)


def bindings() -> list[Binding]:
    """Key bindings for the app, built from `ACTIONS`.

    A write action's key has a second, hidden binding to `refuse_readonly`: with --readonly
    the app's `check_action` turns the first off (hidden from the footer) and the second on,
    so the key says why it does nothing instead of doing nothing.
    """
    keys = [
        Binding(
            a.key, a.action, a.description, show=a.footer, priority=a.key in ("tab", "shift+tab")
        )
        for a in ACTIONS
    ]
    refusals = [
        Binding(a.key, f"refuse_readonly('{a.description.lower()}')", show=False)
        for a in ACTIONS
        if a.read_only_refused
    ]
    return keys + refusals


def help_text(*, readonly: bool = False) -> str:
    """The `?` screen: every key and slash command; destructive ones flagged, and with
    --readonly the ones it hides."""
    hidden = "  (hidden: --readonly)"
    lines = ["Keys", ""]
    for a in ACTIONS:
        flag = "  (asks first)" if a.destructive else ""
        flag = hidden if readonly and a.read_only_refused else flag
        lines.append(f"  {_key_label(a.key):<10} {a.description}{flag}")
    lines += ["", "Slash commands (/ then Tab completes)", ""]
    from k8sclaw.tui._commands import COMMANDS

    for cmd in COMMANDS:
        flag = hidden if readonly and cmd.name in WRITE_COMMANDS else ""
        lines.append(f"  /{cmd.usage:<28} {cmd.help}{flag}")
    return "\n".join(lines)


def _key_label(key: str) -> str:
    return {"question_mark": "?", "slash": "/", "colon": ":", "escape": "Esc"}.get(key, key)
