"""`k8sclaw skills list|get`: SkillPacks mounted into runs."""

from __future__ import annotations

from k8sclaw.cli import _resources

skills = _resources.group("skills", "SkillPack", verbs=("list", "get"))
