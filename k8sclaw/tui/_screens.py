"""Overlay screens: delete confirmation, text (describe/YAML/help/events/logs), onboarding."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Input, Label, RichLog, Select, Static

from k8sclaw import onboard
from k8sclaw.render import terminal_safe
from k8sclaw.tui._ops import Onboarding
from k8sclaw_protocol import CHANNEL_TYPES, PROVIDERS, ipc, names


class ConfirmScreen(ModalScreen[bool]):
    """`x`: "Delete <kind> <name>?" — `y` deletes, Esc (or `n`) cancels."""

    BINDINGS = [  # noqa: RUF012 - textual's declared class attribute
        Binding("y", "answer(True)", "Delete"),
        Binding("n,escape", "answer(False)", "Cancel"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm"):
            yield Label(self.question, id="question")
            yield Label("[b]y[/b] delete   [b]Esc[/b] cancel", id="confirm-keys")

    def action_answer(self, yes: bool) -> None:
        """Close, telling the caller whether to go ahead."""
        self.dismiss(yes)


class LogLine(Message):
    """A streamed log line arrived (posted by the log worker)."""

    def __init__(self, line: str) -> None:
        super().__init__()
        self.line = line


def _readable(line: str) -> str:
    """The result marker line as one sentence (its JSON is for machines); others as they are."""
    if not line.startswith(names.RESULT_MARKER_START):
        return line
    result = ipc.parse_result_line(line)
    if result is None:
        return "── result line (unreadable)"
    return f"── run ended: {result.status} (Enter on the run shows its result)"


class TextScreen(Screen[None]):
    """Full-screen text: describe, YAML, help, events; with `stream`, live-follows logs."""

    BINDINGS = [Binding("escape,q", "close", "Back")]  # noqa: RUF012

    def __init__(
        self,
        title: str,
        text: str = "",
        stream: Callable[[], Iterator[str]] | None = None,
        on_close: Callable[[], None] | None = None,
        *,
        follow: bool = False,
    ) -> None:
        super().__init__()
        self.follow = follow  # logs keep the newest line in view; documents open at the top
        self.title_text = title
        self.text = text
        self.stream = stream
        self.closer = on_close
        self.lines: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(self.title_text, id="text-title")
        # wrap: a long log line (a tool's JSON, a stack trace) is read, not cut at the edge.
        yield RichLog(
            id="text-body", wrap=True, highlight=False, markup=False, auto_scroll=self.follow
        )
        yield Static("Esc back", id="text-keys")

    def on_mount(self) -> None:
        log = self.query_one(RichLog)
        for line in terminal_safe(self.text).splitlines():
            log.write(line)
        if self.stream is not None:
            # A dedicated thread (not a worker from the shared executor): it may follow for
            # as long as the screen is open.
            threading.Thread(target=self._follow, name="follow", daemon=True).start()

    def _follow(self) -> None:
        assert self.stream is not None
        try:
            for line in self.stream():
                self.post_message(LogLine(line))
        except Exception as exc:
            self.post_message(LogLine(f"✗ log stream ended: {' '.join(str(exc).split())}"))

    def on_log_line(self, message: LogLine) -> None:
        line = terminal_safe(_readable(message.line))  # the agent's log, or an error quoting it
        self.lines.append(line)
        self.query_one(RichLog).write(line)

    def on_unmount(self) -> None:
        if self.closer is not None:
            self.closer()

    def action_close(self) -> None:
        """Back to the table."""
        self.dismiss(None)


class OnboardScreen(Screen[Onboarding | None]):
    """`O`: the onboard wizard — instance, provider, model, key, channel; Enter applies."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]  # noqa: RUF012

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="wizard"):
            yield Static(
                "Onboard: create an instance (Enter applies, Esc cancels)", id="wizard-title"
            )
            yield Input(placeholder="instance name (my-agent)", id="w-instance")
            yield Select(
                [(p, p) for p in PROVIDERS], value="openai", id="w-provider", allow_blank=False
            )
            yield Input(placeholder="model (gpt-4o)", id="w-model")
            yield Input(placeholder="API key (not needed for ollama)", password=True, id="w-key")
            yield Input(placeholder="base URL (azure, ollama, openai-compatible)", id="w-base_url")
            yield Select(
                [(c, c) for c in CHANNEL_TYPES], prompt="channel (optional)", id="w-channel"
            )
            yield Input(placeholder="channel token", password=True, id="w-token")
            yield Select(
                [("create default-policy", True), ("no policy", False)],
                value=True,
                id="w-policy",
                allow_blank=False,
            )
            yield Static("", id="w-error")

    def on_mount(self) -> None:
        self.query_one("#w-instance", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter: apply when the form is complete, else say what is missing and go there
        (one Enter in the first field must not create a keyless, URL-less instance)."""
        answers = self.answers()
        found = onboard.problems(answers.to_answers(""))
        if not found:
            self.dismiss(answers)
            return
        field, why = found[0]
        self.query_one("#w-error", Static).update(Text(f"✗ {why}", style="red"))
        self.query_one(f"#w-{field}", Input).focus()

    def answers(self) -> Onboarding:
        """What the form says, with the wizard's defaults filled in."""
        provider = str(self.query_one("#w-provider", Select).value)
        channel_select = self.query_one("#w-channel", Select)
        return Onboarding(
            instance=self.query_one("#w-instance", Input).value.strip() or "my-agent",
            provider=provider,
            model=self.query_one("#w-model", Input).value.strip()
            or onboard.PROVIDERS[provider].default_model,
            api_key=self.query_one("#w-key", Input).value,
            channel="" if channel_select.is_blank() else str(channel_select.value),
            channel_token=self.query_one("#w-token", Input).value,
            policy=bool(self.query_one("#w-policy", Select).value),
            base_url=self.query_one("#w-base_url", Input).value.strip(),
        )

    def action_cancel(self) -> None:
        """Leave without creating anything."""
        self.dismiss(None)
