"""Reading the agent container's log as it streams: answer text, tool lines, the result.

The agent's stdout carries the answer text as it is generated, one `→ tool: args` line
per tool call and, last and on a line of its own, the result marker line; its stderr
log lines (`2025-01-02 03:04:05,678 agent INFO ...`) are interleaved by the runtime.
`AgentLogReader` turns that stream, fed in arbitrary pieces (HTTP chunks of
`pods/log?follow=true`), into typed pieces so `k8sclaw runs logs -f` and the TUI feed can
show text the moment it arrives without ever showing the raw marker. A partial line is
released as text as soon as it can no longer become a marker, tool or log line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal

from k8sclaw_protocol import _names
from k8sclaw_protocol._ipc import AgentResult, parse_result_line

PieceKind = Literal["text", "tool", "log", "result"]

# The start of a stderr log line (logging's default asctime, then the component).
_LOG_LINE: Final = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [a-z-]+ [A-Z]+ ")
_LOG_TEMPLATE: Final = "0000-00-00 00:00:00,000 "
_LOG_REST: Final = re.compile(r"[a-z-]*( [A-Z]*)?")  # what may follow the stamp so far
_LINE_STARTS: Final = (_names.RESULT_MARKER_START, _names.TOOL_LINE_PREFIX)


@dataclass(frozen=True)
class LogPiece:
    """One piece of agent output.

    `text`: answer text (a partial line or lines, newlines kept); `tool`/`log`: one whole
    line without its newline; `result`: the parsed marker line (`result` set).
    """

    kind: PieceKind
    text: str = ""
    result: AgentResult | None = None


def _could_become_log_line(partial: str) -> bool:
    """`partial` (no newline yet) may still turn out to be a stderr log line."""
    stamp, rest = partial[: len(_LOG_TEMPLATE)], partial[len(_LOG_TEMPLATE) :]
    if not all(
        ch.isdigit() if t == "0" else ch == t for ch, t in zip(stamp, _LOG_TEMPLATE, strict=False)
    ):
        return False
    return _LOG_REST.fullmatch(rest) is not None or _LOG_LINE.match(partial) is not None


def _undecided(partial: str) -> bool:
    """A line start that might still become a marker, tool or log line: hold it back."""
    for start in _LINE_STARTS:
        if start.startswith(partial) or partial.startswith(start):
            return True
    return _could_become_log_line(partial)


class AgentLogReader:
    """Incremental splitter of an agent container log into `LogPiece`s."""

    def __init__(self) -> None:
        self._pending = ""
        self._mid_line = False  # part of the current line was already released as text

    def feed(self, data: str) -> list[LogPiece]:
        """The pieces that `data` completes; undecided line starts are held back."""
        self._pending += data
        out: list[LogPiece] = []
        while self._pending:
            newline = self._pending.find("\n")
            if self._mid_line:
                end = len(self._pending) if newline < 0 else newline + 1
                out.append(LogPiece("text", self._pending[:end]))
                self._pending, self._mid_line = self._pending[end:], newline < 0
            elif newline >= 0:
                line, self._pending = self._pending[:newline], self._pending[newline + 1 :]
                out.extend(_classify(line, ended=True))
            elif _undecided(self._pending):
                break
            else:
                out.append(LogPiece("text", self._pending))
                self._pending, self._mid_line = "", True
        return _merge(out)

    def close(self) -> list[LogPiece]:
        """The log ended: whatever is held back, classified as a final line."""
        line, self._pending = self._pending, ""
        return _classify(line, ended=False) if line else []


def _classify(line: str, *, ended: bool) -> list[LogPiece]:
    if line.startswith(_names.RESULT_MARKER_START):
        result = parse_result_line(line)
        return [LogPiece("result", result=result)] if result is not None else []
    if line.startswith(_names.TOOL_LINE_PREFIX):
        return [LogPiece("tool", line)]
    if _LOG_LINE.match(line):
        return [LogPiece("log", line)]
    return [LogPiece("text", line + "\n" if ended else line)]


def _merge(pieces: list[LogPiece]) -> list[LogPiece]:
    """Adjacent text pieces as one (fewer writes and repaints for the consumer)."""
    merged: list[LogPiece] = []
    for piece in pieces:
        if merged and piece.kind == "text" and merged[-1].kind == "text":
            merged[-1] = LogPiece("text", merged[-1].text + piece.text)
        else:
            merged.append(piece)
    return merged
