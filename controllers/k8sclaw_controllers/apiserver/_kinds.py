"""The K8sClaw kinds the API serves, and the RBAC resource each path maps to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    path: str  # the API's path segment
    plural: str  # the Kubernetes resource, what RBAC rules name
    kind: str
    writable: bool  # create and delete served

    @property
    def singular(self) -> str:
        return self.path[:-1] if not self.path.endswith("ies") else self.path[:-3] + "y"


INSTANCES = Kind("instances", "clawinstances", "ClawInstance", True)
RUNS = Kind("runs", "agentruns", "AgentRun", True)
POLICIES = Kind("policies", "clawpolicies", "ClawPolicy", False)
SKILLS = Kind("skills", "skillpacks", "SkillPack", False)
SCHEDULES = Kind("schedules", "clawschedules", "ClawSchedule", True)
KINDS = (INSTANCES, RUNS, POLICIES, SKILLS, SCHEDULES)
