"""Chat text from a platform is hostile: control characters out, sizes capped in bytes."""

from __future__ import annotations

import unicodedata
from typing import Final

from k8sclaw_protocol._chat import MAX_ID_CHARS, MAX_TEXT_BYTES

_BIDI_CONTROLS: Final = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean_text(text: str, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """`text` without control characters (newline and tab kept; no terminal escapes, no
    bidirectional overrides that disguise a command) and at most `max_bytes` in UTF-8,
    cut at a character boundary."""
    kept = "".join(
        ch
        for ch in text
        if ch in "\n\t" or (unicodedata.category(ch) != "Cc" and ch not in _BIDI_CONTROLS)
    )
    raw = kept.encode()
    if len(raw) <= max_bytes:
        return kept
    return raw[:max_bytes].decode(errors="ignore")


def clean_id(value: object) -> str:
    """A platform identifier as text: cleaned, one line, capped at `MAX_ID_CHARS`."""
    return (
        clean_text(str(value), MAX_ID_CHARS * 4)
        .replace("\n", " ")
        .replace("\t", " ")[:MAX_ID_CHARS]
    )
