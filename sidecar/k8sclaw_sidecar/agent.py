"""`k8sclaw-agent` — placeholder until issue #5 lands: Agent runner: runs the tool-calling loop
against the model provider.
"""

from __future__ import annotations

from k8sclaw_protocol._placeholder import placeholder_main

PURPOSE = "Agent runner: runs the tool-calling loop against the model provider."


def main() -> int:
    """Console entry point."""
    return placeholder_main("k8sclaw-agent", PURPOSE, 5)


if __name__ == "__main__":
    raise SystemExit(main())
