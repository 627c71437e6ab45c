"""Slack text both ways: Markdown replies → mrkdwn parts; what people type → plain text.

Replies come from a model (hostile): control characters go, `&<>` are escaped so a reply
cannot ping `<!channel>` or forge a mention, and only http(s)/mailto links become links.
Slack accepts 40,000 characters per message but folds long messages behind "Show more" and
caps a section block at 3,000, so replies are cut at `PART_CHARS` for readability.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

PART_CHARS: Final = 3_000
"""Readable part size: Slack's section-block text limit; far below the 40,000 hard limit."""

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CODE = re.compile(r"(```.*?(?:```|\Z)|`[^`\n]+`)", re.S)
_TABLE = re.compile(r"^(?:[ \t]*\|.*\|[ \t]*(?:\n|\Z))+", re.M)
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)
_BULLET = re.compile(r"^([ \t]*)[-*+][ \t]+", re.M)
_LINK = re.compile(r"!?\[([^\]\n]+)\]\(([^)\s]+)\)")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_ITALIC = re.compile(r"(?<![*\w])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![*\w])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_SAFE_URL = re.compile(r"^(https?://|mailto:)[^\s|]+$", re.I)
_SLACK_TOKEN = re.compile(r"<([^<>\n]{1,2000})>")
_BOLD_MARK = "\x00"  # placeholder; control characters are stripped before conversion


def strip_controls(text: str) -> str:
    """Drop control and bidi-override characters, keeping newlines and tabs."""
    return _CONTROL.sub("", text)


def cap_bytes(text: str, cap: int) -> str:
    """At most `cap` UTF-8 bytes, never cutting a character in half."""
    return text.encode()[:cap].decode("utf-8", "ignore")


def escape(text: str) -> str:
    """Slack's three control characters in message text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(markdown: str) -> str:
    """Markdown (what models write) in Slack's mrkdwn; code spans are escaped, not styled,
    and tables (which Slack cannot show) become code blocks so their columns line up."""
    pieces = _CODE.split(strip_controls(markdown))
    pieces = [p if i % 2 else _TABLE.sub(_table, p) for i, p in enumerate(pieces)]
    pieces = _CODE.split("".join(pieces))
    out = [_code(p) if i % 2 else _prose(p) for i, p in enumerate(pieces)]
    return "".join(out).strip()


def _table(match: re.Match[str]) -> str:
    return "```\n" + match.group(0).rstrip("\n") + "\n```\n"


def _code(piece: str) -> str:
    if not piece.startswith("```"):
        return escape(piece)
    body = piece[3:].removesuffix("```")
    first, newline, rest = body.partition("\n")
    if newline and re.fullmatch(r"[\w+#.-]*", first.strip()):
        body = rest  # Slack shows a language tag as code, so it goes
    return "```\n" + escape(body.strip("\n")) + "\n```"


def _prose(text: str) -> str:
    text = escape(text)
    text = _HEADING.sub(lambda m: _BOLD_MARK + m.group(1).replace("**", "") + _BOLD_MARK, text)
    text = _BULLET.sub(r"\1• ", text)
    text = _LINK.sub(_link, text)
    text = _BOLD.sub(lambda m: _BOLD_MARK + (m.group(1) or m.group(2)) + _BOLD_MARK, text)
    text = _ITALIC.sub(r"_\1_", text)
    text = _STRIKE.sub(r"~\1~", text)
    return text.replace(_BOLD_MARK, "*")


def _link(match: re.Match[str]) -> str:
    label, url = match.group(1), match.group(2)
    if not _SAFE_URL.match(url):
        return f"{label} ({url})"
    return f"<{url}|{label}>" if label != url else f"<{url}>"


def split_parts(text: str, limit: int = PART_CHARS) -> list[str]:
    """Cut `text` into parts of at most `limit` characters at paragraph, line or word
    boundaries, never inside an entity or a `<link>`, closing and reopening a code block
    that spans a cut. Platform-specific (code fences, entities), so kept here rather than
    in the runtime's generic `_split.split_text`."""
    parts: list[str] = []
    rest = text.strip()
    while rest:
        if len(rest) <= limit:
            parts.append(rest)
            break
        cut = _cut_point(rest, limit - 4)
        chunk, rest = rest[:cut].rstrip(), rest[cut:].lstrip("\n")
        if chunk.count("```") % 2:
            chunk, rest = chunk + "\n```", "```\n" + rest
        if chunk.strip():
            parts.append(chunk)
    return parts


def _cut_point(text: str, limit: int) -> int:
    window = text[:limit]
    for separator, floor in (("\n\n", limit // 2), ("\n", limit // 3), (" ", limit // 3)):
        at = window.rfind(separator)
        if at > floor:
            return at + len(separator)
    return _safe_hard_cut(window)


def _safe_hard_cut(window: str) -> int:
    cut = len(window)
    amp = window.rfind("&", cut - 6)
    if amp > 0 and ";" not in window[amp:]:
        cut = amp
    opening = window.rfind("<", 0, cut)
    if opening > 0 and window.rfind(">", 0, cut) < opening:
        cut = opening
    return cut


def from_slack(text: str, bot_user_id: str | None, cap: int) -> str:
    """A person's Slack text as plain text for the agent: the bot's own mention removed,
    `<@U…>`/`<#C…|name>`/`<url|label>` spelled out, entities unescaped, controls gone."""
    text = strip_controls(text)
    if bot_user_id:
        text = text.replace(f"<@{bot_user_id}>", "")
    text = _SLACK_TOKEN.sub(_spell_token, text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return cap_bytes(text.strip(), cap)


def _spell_token(match: re.Match[str]) -> str:
    target, _, label = match.group(1).partition("|")
    spell: dict[str, Callable[[], str]] = {
        "@": lambda: "@" + (label or target[1:]),
        "#": lambda: "#" + (label or target[1:]),
        "!": lambda: "@" + (label or target[1:].split("^")[0]),
    }
    if target[:1] in spell:
        return spell[target[:1]]()
    return f"{label} ({target})" if label and label != target else target
