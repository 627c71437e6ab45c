"""Markdown (as models write it) → the HTML subset Telegram's `parse_mode=HTML` accepts.

Everything is escaped first (`<`, `>`, `&`, `"`); then bold, italic, strike, inline code,
fenced code and http(s) links become tags. Each tag wraps tag-free text only, so the
output is always well-formed (Telegram refuses a message with crossing tags).
"""

from __future__ import annotations

import html
import re
from typing import Final

_FENCE: Final = re.compile(r"^[ \t]*```([^\n`]*)\n(.*?)(?:^[ \t]*```[ \t]*$|\Z)", re.M | re.S)
_INLINE_CODE: Final = re.compile(r"`([^`\n]+)`")
_LINK: Final = re.compile(r"\[([^\]\n<]+)\]\((https?://[^\s()<]+)\)")
_RULES: Final = (
    (re.compile(r"\*\*([^\n<*][^\n<]*?)\*\*"), "b"),
    (re.compile(r"(?<!\w)__([^\n<_][^\n<]*?)__(?!\w)"), "b"),
    (re.compile(r"~~([^\n<~][^\n<]*?)~~"), "s"),
    (re.compile(r"(?<![\w*])\*(?![\s*])([^\n<*]*?[^\s*<])\*(?![\w*])"), "i"),
    (re.compile(r"(?<![\w_])_(?![\s_])([^\n<_]*?[^\s_<])_(?![\w_])"), "i"),
)
_LANGUAGE: Final = re.compile(r"[\w+#.-]{1,32}")


def to_html(markdown: str) -> str:
    """Telegram HTML for `markdown`."""
    out: list[str] = []
    pos = 0
    for match in _FENCE.finditer(markdown):
        out.append(_inline(markdown[pos : match.start()]))
        out.append(_pre(match.group(1).strip(), match.group(2)))
        pos = match.end()
    out.append(_inline(markdown[pos:]))
    return "".join(out)


def to_plain(telegram_html: str) -> str:
    """The text of Telegram HTML without tags (the fallback when HTML is refused)."""
    return html.unescape(re.sub(r"<[^>]*>", "", telegram_html))


def _pre(language: str, code: str) -> str:
    attr = f' class="language-{language}"' if _LANGUAGE.fullmatch(language) else ""
    return f"<pre><code{attr}>{_escape(code.removesuffix(chr(10)))}</code></pre>"


def _inline(text: str) -> str:
    out: list[str] = []
    pos = 0
    for match in _INLINE_CODE.finditer(text):
        out.append(_styled(text[pos : match.start()]))
        out.append(f"<code>{_escape(match.group(1))}</code>")
        pos = match.end()
    out.append(_styled(text[pos:]))
    return "".join(out)


def _styled(text: str) -> str:
    escaped = _escape(text)
    escaped = _LINK.sub(lambda m: f'<a href="{m.group(2)}">{m.group(1)}</a>', escaped)
    for pattern, tag in _RULES:
        escaped = pattern.sub(rf"<{tag}>\1</{tag}>", escaped)
    return escaped


def _escape(text: str) -> str:
    return html.escape(text, quote=True).replace("&#x27;", "'")
