"""Coalescing streamed answer text into stream chunk files.

Writing one file per token would flood `/ipc` and the bus; one file per turn would
make the user wait for the whole answer. `TextChunks` buffers deltas and emits a chunk
when 50 ms have passed since the first buffered delta (a timer, so a pause in the
stream does not hold text back) or 400 characters have piled up, and everything left
at the end of the turn. Protocol markers are stripped, and a tail that could be the
start of a marker is held back until the next delta decides, so a marker split across
deltas never reaches a chunk either (reference §15).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from k8sclaw_protocol import ipc

FLUSH_SECONDS = 0.05
FLUSH_CHARS = 400
_MARKERS = (ipc.RESULT_MARKER, ipc.END_MARKER)


def clean_text(text: str) -> str:
    """`text` without protocol markers, also those formed by removing one."""
    while True:
        cleaned = ipc.strip_markers(text)
        if cleaned == text:
            return cleaned
        text = cleaned


def _marker_prefix_len(text: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of a marker."""
    best = 0
    for marker in _MARKERS:
        for n in range(min(len(marker) - 1, len(text)), best, -1):
            if text.endswith(marker[:n]):
                best = n
                break
    return best


class TextChunks:
    """Buffers one turn's text deltas; `emit` receives the coalesced, cleaned pieces."""

    def __init__(
        self,
        emit: Callable[[str], None],
        *,
        seconds: float = FLUSH_SECONDS,
        chars: int = FLUSH_CHARS,
    ) -> None:
        self._emit, self._seconds, self._chars = emit, seconds, chars
        self._buffer = ""
        self._timer: asyncio.TimerHandle | None = None

    def feed(self, delta: str) -> None:
        self._buffer += delta
        if len(self._buffer) >= self._chars:
            self.flush()
        elif self._timer is None and self._buffer:
            self._timer = asyncio.get_running_loop().call_later(self._seconds, self.flush)

    def flush(self, *, final: bool = False) -> None:
        """Emit what is buffered (minus a possible marker start, unless `final`)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        text = clean_text(self._buffer)
        held = 0 if final else _marker_prefix_len(text)
        out, self._buffer = text[: len(text) - held], text[len(text) - held :]
        if out:
            self._emit(out)
