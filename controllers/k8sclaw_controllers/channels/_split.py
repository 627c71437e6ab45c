"""Cut a long reply into platform-sized messages without losing a character.

Cuts fall at a paragraph break, else a line break, else a space, and only when nothing
else fits inside a ``` code fence; a fence cut is closed at the end of its part and
reopened (with its language) at the start of the next, so every part renders on its own.
Removing those added fence lines gives back the original text exactly.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass

Measure = Callable[[str], int]
FENCE_CLOSE = "\n```"
MIN_LIMIT = 16
"""Below this, fence markers may not fit next to one character."""
_FENCE_LINE = re.compile(r"^[ \t]*```[^\n]*$", re.MULTILINE)


@dataclass(frozen=True)
class Piece:
    """One part: a slice of the original, plus the fence lines added around it."""

    text: str
    reopen: str = ""
    """The fence opening line (with newline) prepended, when the part starts in a fence."""
    close: bool = False
    """True when a closing fence is appended (the part ends inside a fence)."""

    @property
    def closing(self) -> str:
        """The fence line appended (on its own line), or ""."""
        if not self.close:
            return ""
        return FENCE_CLOSE[1:] if self.text.endswith("\n") else FENCE_CLOSE

    def render(self) -> str:
        return self.reopen + self.text + self.closing


def split_text(text: str, limit: int, measure: Measure = len) -> list[str]:
    """`text` cut into parts of at most `limit` (as counted by `measure`), none empty."""
    return [piece.render() for piece in split_pieces(text, limit, measure)]


def split_pieces(text: str, limit: int, measure: Measure = len) -> list[Piece]:
    """Like `split_text`, keeping apart what was taken from `text` and what was added."""
    if limit < MIN_LIMIT:
        raise ValueError(f"limit {limit} is below the minimum of {MIN_LIMIT}")
    fences = _Fences(text)
    pieces: list[Piece] = []
    start, reopen = 0, ""
    while start < len(text):
        piece = _next_piece(text, fences, start, reopen, limit=limit, measure=measure)
        pieces.append(piece)
        start += len(piece.text)
        reopen = fences.open_at(start)
        if measure(reopen) > limit // 4:
            reopen = "```\n"  # a long info string would crowd out the content
    return pieces


class _Fences:
    """Where the ``` fence lines of a text are, to tell whether an offset is inside one."""

    def __init__(self, text: str) -> None:
        self._lines = [(m.start(), m.end(), m.group(0).strip()) for m in _FENCE_LINE.finditer(text)]

    def open_at(self, offset: int) -> str:
        """The opening fence line (with newline) of the fence `offset` lies in, else ""."""
        index = bisect.bisect_left(self._lines, offset, key=lambda line: line[1])
        # Fence lines ending before `offset` alternate open/close; a cut fence line itself
        # (index not counted) is treated as outside.
        if index % 2 == 0:
            return ""
        return self._lines[index - 1][2] + "\n"


def _next_piece(
    text: str, fences: _Fences, start: int, reopen: str, *, limit: int, measure: Measure
) -> Piece:
    rest = text[start:]
    whole = Piece(rest, reopen, False)
    if measure(whole.render()) <= limit:
        return whole
    budget = limit - measure(reopen)
    cut = _cut(text, fences, start, budget, measure)
    while True:
        piece = Piece(rest[:cut], reopen, bool(fences.open_at(start + cut)))
        if measure(piece.render()) <= limit or cut == 1:
            return piece
        cut = max(1, cut - max(1, cut // 10))  # a measure that is not quite monotonic


def _cut(text: str, fences: _Fences, start: int, budget: int, measure: Measure) -> int:
    """Where to end the part starting at `start`: the best boundary within `budget` —
    paragraph, line, then word; outside a fence if any such boundary is, else the
    latest boundary inside; else as much as fits."""
    rest = text[start:]
    room = _longest_fit(rest, budget, measure)
    room_in_fence = _longest_fit(rest, budget - measure(FENCE_CLOSE), measure)
    window = rest[:room]
    inside: list[int] = []
    for pattern in ("\n\n", "\n", " "):
        for found in _ends_of(window, pattern):
            if not fences.open_at(start + found):
                return found
            if found <= room_in_fence:
                inside.append(found)
    if inside:
        return max(inside)
    return room_in_fence if fences.open_at(start + room) else room


def _ends_of(window: str, pattern: str) -> list[int]:
    """End offsets of `pattern` in `window`, last first (at most 64)."""
    ends: list[int] = []
    index = window.rfind(pattern)
    while index >= 0 and len(ends) < 64:
        ends.append(index + len(pattern))
        index = window.rfind(pattern, 0, index)
    return ends


def _longest_fit(rest: str, budget: int, measure: Measure) -> int:
    """Length of the longest prefix of `rest` whose measure is within `budget` (≥ 1).

    Measures count at least a quarter unit per character (characters, UTF-16 units,
    rendered HTML), so longer prefixes are not tried: a 256 KiB reply stays cheap."""
    low, high = 1, min(len(rest), 4 * max(budget, 1))
    while low < high:
        mid = (low + high + 1) // 2
        if measure(rest[:mid]) <= budget:
            low = mid
        else:
            high = mid - 1
    return low
