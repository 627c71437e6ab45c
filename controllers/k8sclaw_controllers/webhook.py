"""`k8sclaw-webhook` — placeholder until issue #8 lands: Admission webhook: validates and
mutates AgentRuns against their ClawPolicy.
"""

from __future__ import annotations

from k8sclaw_protocol._placeholder import placeholder_main

PURPOSE = "Admission webhook: validates and mutates AgentRuns against their ClawPolicy."


def main() -> int:
    """Console entry point."""
    return placeholder_main("k8sclaw-webhook", PURPOSE, 8)


if __name__ == "__main__":
    raise SystemExit(main())
