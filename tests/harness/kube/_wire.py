"""JSON on the wire: orjson where it can, the standard library where it cannot.

Encoding responses and watch lines was the emulator's largest cost after socket writes;
orjson does it an order of magnitude faster. Where orjson refuses a value the standard
library takes (integers beyond 64 bits, non-string keys) or a body it cannot read, the
standard library does the work, so results and error messages stay what they were.
One rule is Go's, as in kube-apiserver: NaN and Infinity are not JSON, so a body holding
them is undecodable (the standard library would accept them, orjson could not send them).
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    """Compact JSON, UTF-8."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError: a value only the standard library takes
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_GO_CONTEXT = {
    "Expecting value": "looking for beginning of value",
    "Expecting ':' delimiter": "after object key",
    "Expecting ',' delimiter": "after object key:value pair",
    "Expecting property name enclosed in double quotes": (
        "looking for beginning of object key string"
    ),
    "Extra data": "after top-level value",
}


def _go_quote(char: str) -> str:
    """Go's `quoteChar`: the offending character in single quotes."""
    if char == "'":
        return "'\\''"
    if char == '"':
        return "'\"'"
    return "'" + json.dumps(char, ensure_ascii=False)[1:-1] + "'"


def go_error(raw: bytes) -> str:
    """What Go's encoding/json says about `raw` (invalid JSON), as kube-apiserver quotes
    it: `unexpected end of JSON input` or `invalid character 'N' looking for beginning of
    value`. The position is orjson's, the context the standard library's (NaN and Infinity,
    which the standard library reads, are values that cannot begin)."""
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        pos = exc.pos
    else:
        return "json: cannot unmarshal value"  # valid JSON; the caller's mistake
    text = raw.decode("utf-8", "replace")
    if pos >= len(text.rstrip()):
        return "unexpected end of JSON input"
    try:
        json.loads(text)
        context = "looking for beginning of value"
    except json.JSONDecodeError as exc:
        context = _GO_CONTEXT.get(exc.msg, "looking for beginning of value")
    return f"invalid character {_go_quote(text[pos])} {context}"


def summarize(raw: bytes, limit: int = 30) -> str:
    """apiserver's `summarizeData`: a request body shortened for an error message."""
    if not raw:
        return "<empty>"
    if raw[:1] == b"{":
        text = raw[:limit].decode("utf-8", "replace")
        return text + " ..." if len(raw) > limit else text
    return raw[:limit].hex() + (" ..." if len(raw) > limit else "")


def loads(raw: bytes) -> Any:
    """Decode a request body; `ValueError` with the standard library's message if invalid."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw, parse_constant=_not_json)
