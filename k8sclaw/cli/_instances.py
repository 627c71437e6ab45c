"""`k8sclaw instances list|get|delete`: ClawInstances, one tenant's gateway each."""

from __future__ import annotations

from k8sclaw.cli import _resources

instances = _resources.group("instances", "ClawInstance", verbs=("list", "get", "delete"))
