"""Agent-written text made safe to print on a terminal (issue #13 item 14, SPEC §17).

Everything an agent wrote (its log, its result and error, tool output) is hostile: an
`ESC ] 52 ; c ; <base64> BEL` writes the reader's clipboard, `ESC [ 2 J` or a bare `\\r`
overwrites what they already read, and the 8-bit C1 forms (`\\x9b` is CSI) work on many
terminals too. `terminal_safe` is the one function every display path calls (CLI logs and
results, the TUI's feed, log view and text screens, table cells): escape sequences go
whole, then every C0/C1 control but newline and tab, and DEL.

It lives here, not in `k8sclaw_protocol`, so the CLI's fast read path (table cells) does
not pay for importing pydantic. Text is often printed as it streams in: a sequence cut
between two pieces loses its ESC in the first, so what reaches the terminal from the
second is printable debris, never a control.
"""

from __future__ import annotations

import re

# String sequences: OSC (ESC ]), DCS (ESC P), SOS (ESC X), PM (ESC ^), APC (ESC _) and their
# 8-bit forms, up to BEL or ST (ESC \ or 0x9c); unterminated, up to the end of the text
# (a terminal would swallow that much too).
_STRING = r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c|$)"
# CSI (ESC [ or 0x9b): parameter bytes, intermediate bytes, one final byte.
_CSI = r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
# Any other escape: intermediates, then one final byte (ESC c resets the terminal).
_ESCAPE = r"\x1b[\x20-\x2f]*[\x30-\x7e]?"
_SEQUENCES = re.compile(f"{_STRING}|{_CSI}|{_ESCAPE}")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def terminal_safe(text: str) -> str:
    """`text` without escape sequences (removed whole) and without control characters
    other than newline and tab (`\\r` included: it overwrites the line on screen)."""
    if text.isprintable():  # the common case: nothing to remove (newline and tab are not)
        return text
    return _CONTROLS.sub("", _SEQUENCES.sub("", text))
