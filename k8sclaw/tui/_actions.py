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


ACTIONS: tuple[Action, ...] = (
    Action("question_mark", "help", "Help"),
    Action("slash", "command", "Command"),
    Action("colon", "jump", "Jump"),
    Action("l", "logs", "Logs"),
    Action("d", "describe", "Describe"),
    Action("y", "yaml", "YAML"),
    Action("x", "delete", "Delete", destructive=True),
    Action("R", "run_prompt", "Run"),
    Action("O", "onboard", "Onboard"),
    Action("f", "filter", "Filter", footer=False),
    Action("s", "sort", "Sort by next column", footer=False),
    Action("tab", "next_view", "Next view", footer=False),
    Action("shift+tab", "previous_view", "Previous view", footer=False),
    Action("j", "cursor_down", "Down", footer=False),
    Action("k", "cursor_up", "Up", footer=False),
    Action("enter", "detail", "Detail", footer=False),
    Action("escape", "go_back", "Back", footer=False),
    Action("q", "quit", "Quit", footer=False),
    *(Action(str(i), f"view({i - 1})", f"View {i}", footer=False) for i in range(1, 8)),
)


def bindings() -> list[Binding]:
    """Key bindings for the app, built from `ACTIONS`."""
    return [
        Binding(
            a.key, a.action, a.description, show=a.footer, priority=a.key in ("tab", "shift+tab")
        )
        for a in ACTIONS
    ]


def help_text() -> str:
    """The `?` screen: every key and slash command; destructive ones flagged."""
    lines = ["Keys", ""]
    for a in ACTIONS:
        flag = "  (asks first)" if a.destructive else ""
        lines.append(f"  {_key_label(a.key):<10} {a.description}{flag}")
    lines += ["", "Slash commands (/ then Tab completes)", ""]
    from k8sclaw.tui._commands import COMMANDS

    for cmd in COMMANDS:
        lines.append(f"  /{cmd.usage:<28} {cmd.help}")
    return "\n".join(lines)


def _key_label(key: str) -> str:
    return {"question_mark": "?", "slash": "/", "colon": ":", "escape": "Esc"}.get(key, key)
