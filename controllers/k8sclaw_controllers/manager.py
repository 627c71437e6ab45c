"""`k8sclaw-controller` — placeholder until issue #4 lands: Controller manager: reconciles
AgentRuns into Jobs, ClawInstances into channel Deployments, SkillPacks and ClawPolicies.
"""

from __future__ import annotations

from k8sclaw_protocol._placeholder import placeholder_main

PURPOSE = (
    "Controller manager: reconciles AgentRuns into Jobs, ClawInstances into channel "
    "Deployments, SkillPacks and ClawPolicies."
)


def main() -> int:
    """Console entry point."""
    return placeholder_main("k8sclaw-controller", PURPOSE, 4)


if __name__ == "__main__":
    raise SystemExit(main())
