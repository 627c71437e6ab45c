"""The agent's stdout, what `kubectl logs -f <pod> -c agent` shows while a run works.

The answer text is written as the chunker coalesces it (the same pieces that become
stream chunk files), one short `→ tool: argument` line per tool call (never a tool's
output, never a secret), and last, on a line of its own, the result marker line the
controller parses. Every write is flushed: a log follower sees text within one chunk
interval. Logging stays on stderr.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from typing import Any, Final, TextIO
from urllib.parse import urlsplit, urlunsplit

from k8sclaw_protocol import AgentResult, ipc, names

MAX_TOOL_LINE: Final = 120
MASK: Final = "********"
_MIN_SECRET: Final = 6  # shorter "secrets" would mask ordinary words
_SECRET_PATTERNS: Final = (
    # `Authorization: Bearer x`, `token=x`, `--password x`, `API_KEY: "x"`
    re.compile(
        r"(?i)((?:authorization|bearer|api[_-]?key|token|secret|passw(?:or)?d|pwd)"
        r"[\"']?(?:\s*[=:]\s*|\s+)(?:bearer\s+)?[\"']?)([^\s\"'&]+)"
    ),
    re.compile(r"\b(sk-|xox[abpr]-|ghp_|gho_|AKIA)([A-Za-z0-9_\-]{6,})"),
)
_MAIN_ARGUMENT: Final = {
    names.TOOL_EXECUTE_COMMAND: "command",
    names.TOOL_READ_FILE: "path",
    names.TOOL_WRITE_FILE: "path",
    names.TOOL_LIST_DIRECTORY: "path",
    names.TOOL_FETCH_URL: "url",
    names.TOOL_SPAWN_SUBAGENT: "task",
}


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with known secret values and secret-looking values masked."""
    for secret in secrets:
        if len(secret) >= _MIN_SECRET:
            text = text.replace(secret, MASK)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


_CONTROLS: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def for_log(text: str, secrets: Iterable[str] = (), limit: int = 300) -> str:
    """One log line from untrusted text (tool output, provider errors): secrets masked,
    control characters (newlines included) collapsed to a space, at most `limit` chars.
    The agent's stderr is read back into `status.error`, so this is what may leak."""
    line = redact(_CONTROLS.sub(" ", text), secrets)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def env_secrets(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """Values of environment variables that look like credentials (API keys, tokens)."""
    env = os.environ if environ is None else environ
    marked = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL")
    return tuple(
        v for k, v in env.items() if len(v) >= _MIN_SECRET and any(m in k.upper() for m in marked)
    )


def _url_without_credentials(url: str) -> str:
    """A URL without user:password and with its query values masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    host = parts.netloc.rsplit("@", 1)[-1]
    query = "&".join(
        f"{kv.split('=', 1)[0]}={MASK}" if "=" in kv else kv for kv in parts.query.split("&")
    )
    return urlunsplit((parts.scheme, host, parts.path, query if parts.query else "", ""))


def describe_tool_call(name: str, args: dict[str, Any], secrets: Iterable[str] = ()) -> str:
    """One short human line for a tool call: `execute_command: cat notes.txt`."""
    if name == names.TOOL_SEND_CHANNEL_MESSAGE:
        detail = f"{args.get('channel', '')}: {args.get('text', '')}"
    else:
        detail = str(args.get(_MAIN_ARGUMENT.get(name, ""), ""))
    if name == names.TOOL_FETCH_URL:
        detail = _url_without_credentials(detail)
    if name == names.TOOL_WRITE_FILE:
        detail += f" ({len(str(args.get('content', '')))} chars)"
    line = redact(" ".join(f"{name}: {detail}".split()), secrets).rstrip(": ")
    return line if len(line) <= MAX_TOOL_LINE else line[: MAX_TOOL_LINE - 1] + "…"


class Console:
    """Writes the run's progress to stdout; remembers whether a line is open."""

    def __init__(self, out: TextIO | None = None, secrets: Iterable[str] = ()) -> None:
        self._out = out
        self._secrets = tuple(s for s in secrets if s)
        self._line_open = False

    def _write(self, text: str) -> None:
        out = self._out or sys.stdout  # looked up per write: tests capture sys.stdout
        out.write(text)
        out.flush()
        if text:
            self._line_open = not text.endswith("\n")

    def text(self, piece: str) -> None:
        """A coalesced piece of answer text (markers already stripped by the chunker)."""
        if piece:
            self._write(piece)

    def end_line(self) -> None:
        """Close an open answer line, so the next line (tool, log, marker) starts clean."""
        if self._line_open:
            self._write("\n")

    def tool(self, name: str, args: dict[str, Any]) -> None:
        """One `→ name: argument` line."""
        self.end_line()
        self._write(f"{names.TOOL_LINE_PREFIX}{describe_tool_call(name, args, self._secrets)}\n")

    def result(self, result: AgentResult) -> None:
        """The result marker line: last, and on a line of its own."""
        self.end_line()
        self._write(ipc.result_line(result) + "\n")
