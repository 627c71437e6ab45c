"""The k9s-style terminal UI (textual). Placeholder until issue #7 lands."""

from __future__ import annotations

import sys

EXIT_NOT_IMPLEMENTED = 3


def run_tui() -> int:
    """Open the terminal UI; until issue #7 lands, explain and exit non-zero."""
    print(
        "k8sclaw: the terminal UI is not implemented yet (issue #7); "
        "run 'k8sclaw --help' for the commands that are.",
        file=sys.stderr,
    )
    return EXIT_NOT_IMPLEMENTED


__all__ = ["run_tui"]
