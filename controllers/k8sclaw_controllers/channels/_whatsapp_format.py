"""Text for and from WhatsApp: Markdown → WhatsApp formatting, cutting at the platform's
limit, and cleaning what users send before anyone displays it.

WhatsApp formats `*bold*`, `_italic_`, `~strike~`, `` `inline code` ``, ```` ``` ```` blocks,
`- ` lists and `> ` quotes; it has no headings or links. Code is left exactly as written.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

TEXT_LIMIT: Final = 4096
"""Characters in one WhatsApp text message body."""

_FENCE = re.compile(r"^```[^\n`]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_EMPHASIS = re.compile(
    r"\*\*(?P<b1>[^\n]+?)\*\*"
    r"|__(?P<b2>[^\n]+?)__"
    r"|~~(?P<s>[^\n]+?)~~"
    r"|(?<![*\w])\*(?![\s*])(?P<i>[^*\n]+?)(?<!\s)\*(?![*\w])"
)
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_BULLET = re.compile(r"^([ \t]*)[*+][ \t]+", re.MULTILINE)
_BIDI: Final = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def to_whatsapp(markdown: str) -> str:
    """The reply in WhatsApp's formatting; fenced code keeps its content, drops its language."""
    out: list[str] = []
    last = 0
    for fence in _FENCE.finditer(markdown):
        out.append(_prose(markdown[last : fence.start()]))
        out.append("```\n" + fence.group(1).rstrip("\n") + "\n```")
        last = fence.end()
    out.append(_prose(markdown[last:]))
    return "".join(out).strip()


def _prose(text: str) -> str:
    """Convert text outside code blocks, leaving inline code spans untouched."""
    out: list[str] = []
    last = 0
    for code in _INLINE_CODE.finditer(text):
        out.append(_inline(text[last : code.start()]))
        out.append(code.group(0))
        last = code.end()
    out.append(_inline(text[last:]))
    return "".join(out)


def _inline(text: str) -> str:
    text = _HEADING.sub(r"**\1**", text)
    text = _BULLET.sub(r"\1- ", text)
    text = _LINK.sub(r"\1 (\2)", text)
    return _EMPHASIS.sub(_emphasis, text)


def _emphasis(match: re.Match[str]) -> str:
    if bold := match["b1"] or match["b2"]:
        return f"*{bold}*"
    if strike := match["s"]:
        return f"~{strike}~"
    return f"_{match['i']}_"


def split(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Cut `text` into parts of at most `limit` characters, at a paragraph, line or word
    break where one exists in the back half of the window; none empty, no word lost.

    Platform-neutral cutting belongs to the runtime's `_split.split_text`, which replaces
    this function when the runtime is merged.
    """
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = _cut_point(rest, limit)
        head, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if head:
            parts.append(head)
    if rest:
        parts.append(rest)
    return parts


def _cut_point(text: str, limit: int) -> int:
    window = text[: limit + 1]
    for separator in ("\n\n", "\n", " "):
        at = window.rfind(separator)
        if at >= limit // 2:
            return at
    return limit


def clean(text: str) -> str:
    """Drop control and bidi-override characters (keeping newlines and tabs), so hostile
    text cannot rewrite a terminal or reorder what a reviewer sees."""
    return "".join(
        ch for ch in text if ch in "\n\t" or (unicodedata.category(ch) != "Cc" and ch not in _BIDI)
    )


def cap_bytes(text: str, limit: int) -> str:
    """At most `limit` UTF-8 bytes, cut on a character boundary."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[:limit].decode(errors="ignore")
