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


def loads(raw: bytes) -> Any:
    """Decode a request body; `ValueError` with the standard library's message if invalid."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw, parse_constant=_not_json)
