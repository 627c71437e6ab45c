"""Entry point for components whose issue has not landed yet.

Console scripts exist from day one so manifests, images and tests share their names;
until a component is built its command explains itself and exits non-zero.
Delete this module when the last placeholder is replaced.
"""

from __future__ import annotations

import sys

EXIT_NOT_IMPLEMENTED = 3


def placeholder_main(
    prog: str, purpose: str, tracked_in: str, argv: list[str] | None = None
) -> int:
    """Print usage for `--help`; otherwise say the command is not implemented yet.

    `tracked_in` names where the work is planned, e.g. "issue #7" or "SPEC §7".
    """
    args = sys.argv[1:] if argv is None else argv
    usage = f"usage: {prog} [--help]\n\n{purpose}\n"
    if args and args[0] in ("-h", "--help"):
        print(usage + f"\nNot implemented yet (tracked in {tracked_in}).")
        return 0
    print(f"{prog}: not implemented yet (tracked in {tracked_in})", file=sys.stderr)
    return EXIT_NOT_IMPLEMENTED
