"""Text in and out of Discord: clean what people and agents wrote, cut replies at Discord's
2,000-character limit without breaking code blocks, and word the approval card.

Discord's Markdown is the same family as ours (bold, italics, code, fences, links,
`#` headings, lists), so a reply keeps its Markdown; only control characters go.
"""

from __future__ import annotations

import re
from typing import Final

from k8sclaw_protocol._chat import MAX_ID_CHARS, MAX_TEXT_BYTES, ApprovalCard

TEXT_LIMIT: Final = 2000
"""Discord's maximum message content length."""

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""C0/C1 controls (newline and tab stay) and bidi overrides that disguise text."""
_FENCE = "```"
_FENCE_KEEP = 20
"""How much of a fence's opening line (its language tag) is repeated after a cut."""


def clean(text: str) -> str:
    """Text with control characters and direction overrides removed."""
    return _CONTROL.sub("", text)


def cut_bytes(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes, on a character boundary."""
    raw = text.encode()
    return text if len(raw) <= limit else raw[:limit].decode(errors="ignore")


def inbound_text(text: str) -> str:
    """A person's message as the router may take it: cleaned, within the bus cap."""
    return cut_bytes(clean(text), MAX_TEXT_BYTES)


def inbound_name(name: str | None) -> str | None:
    """A display name, cleaned and capped; None when nothing printable is left."""
    cleaned = clean(name or "").strip()[:MAX_ID_CHARS]
    return cleaned or None


def render(markdown: str, limit: int = TEXT_LIMIT) -> list[str]:
    """The reply as Discord messages: Markdown kept, none empty, nothing dropped."""
    text = clean(markdown).strip("\n")
    return [part for part in split_markdown(text, limit) if part.strip()]


def split_markdown(text: str, limit: int) -> list[str]:
    """Cut at line ends where possible; a code fence open at a cut is closed at the end
    of one part and reopened at the start of the next, so each part renders alone.

    The runtime's `_split.split_text` should replace this cutting at merge if it keeps
    code fences balanced the same way; the fence handling is what Discord needs (each
    message renders on its own), so without that it stays.
    """
    parts: list[str] = []
    current, fence = "", None
    for line in _pieces(text, limit - _FENCE_KEEP - len(_FENCE) - 8):
        reserve = len("\n" + _FENCE) if fence is not None else 0
        candidate = line if not current else current + "\n" + line
        if current and len(candidate) + reserve > limit:
            parts.append(current + ("\n" + _FENCE if fence is not None else ""))
            current = (fence + "\n" + line) if fence is not None else line
        else:
            current = candidate
        fence = _fence_after(line, fence)
    if current:
        parts.append(current)
    return parts


def _pieces(text: str, width: int) -> list[str]:
    """The lines of `text`, each longer than `width` cut at spaces (or hard) to fit."""
    pieces: list[str] = []
    for line in text.split("\n"):
        rest = line
        while len(rest) > width:
            cut = rest.rfind(" ", width // 2, width)
            cut = cut if cut > 0 else width
            pieces.append(rest[:cut])
            rest = rest[cut:].lstrip(" ")
        pieces.append(rest)
    return pieces


def _fence_after(line: str, fence: str | None) -> str | None:
    """The open fence (its opening line, e.g. "```python") after `line`, or None."""
    stripped = line.strip()
    if not stripped.startswith(_FENCE):
        return fence
    return None if fence is not None else stripped[:_FENCE_KEEP]


def approval_text(card: ApprovalCard, limit: int = TEXT_LIMIT) -> str:
    """The card's message: what asks, and the request verbatim in a code block."""
    summary = clean(card.summary).replace("`", "\u02cb")
    head = f"**Approval needed**: run `{_inline(card.run)}` wants to use `{_inline(card.tool)}`"
    room = limit - len(head) - len("\n```\n\n```") - 1
    if len(summary) > room:
        summary = summary[: room - 1] + "\u2026"
    return f"{head}\n```\n{summary}\n```"


def _inline(value: str) -> str:
    return clean(value).replace("`", "\u02cb")[:100]
