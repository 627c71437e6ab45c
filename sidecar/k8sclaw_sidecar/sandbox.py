"""`k8sclaw-sandbox` — placeholder until issue #5 lands: Sandbox executor: runs the agent's
commands in the sandbox container.
"""

from __future__ import annotations

from k8sclaw_protocol._placeholder import placeholder_main

PURPOSE = "Sandbox executor: runs the agent's commands in the sandbox container."


def main() -> int:
    """Console entry point."""
    return placeholder_main("k8sclaw-sandbox", PURPOSE, 5)


if __name__ == "__main__":
    raise SystemExit(main())
