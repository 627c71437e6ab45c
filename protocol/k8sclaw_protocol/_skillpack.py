"""SkillPack: Markdown skills rendered into a ConfigMap and mounted under /skills."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from k8sclaw_protocol._base import (
    AGE_COLUMN,
    DNS_LABEL_PATTERN,
    Conditions,
    CRModel,
    KindInfo,
    PrinterColumn,
    Resource,
)


class SkillRequirements(CRModel):
    """What a skill needs from the sandbox."""

    bins: list[str] = Field(default_factory=list)
    """Executables that must exist in the sandbox image."""


class Skill(CRModel):
    """One Markdown skill."""

    name: str = Field(min_length=1, max_length=63, pattern=DNS_LABEL_PATTERN)
    """Skill name; the ConfigMap key is <name>.md."""
    description: str | None = None
    """One line on what the skill teaches."""
    requires: SkillRequirements | None = None
    """Binaries the skill relies on."""
    content: str = Field(min_length=1)
    """Markdown text given to the agent."""


class RuntimeRequirements(CRModel):
    """Runtime a SkillPack needs."""

    image: str = Field(min_length=1)
    """Sandbox image with the tools the skills use."""


class SkillPackSpec(CRModel):
    """Desired state of a SkillPack."""

    skills: list[Skill] = Field(
        min_length=1,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    """The skills of this pack."""
    runtime_requirements: RuntimeRequirements | None = None
    """Runtime the skills need."""


class SkillPackStatus(CRModel):
    """Observed state of a SkillPack."""

    phase: Literal["Pending", "Ready", "Error"] | None = None
    """Pending, Ready or Error."""
    observed_generation: int | None = None
    """Generation last reconciled."""
    config_map_name: str | None = None
    """ConfigMap holding the skills."""
    skill_count: int = Field(default=0, ge=0)
    """Number of skills."""
    conditions: Conditions = Field(default_factory=list)
    """Ready condition."""


class SkillPack(Resource):
    """A bundle of Markdown skills mounted into agent pods."""

    info = KindInfo(
        kind="SkillPack",
        plural="skillpacks",
        singular="skillpack",
        short_names=("sp",),
        columns=(
            PrinterColumn("Skills", "integer", ".status.skillCount"),
            PrinterColumn("ConfigMap", "string", ".status.configMapName"),
            PrinterColumn("Phase", "string", ".status.phase", priority=1),
            AGE_COLUMN,
        ),
    )

    spec: SkillPackSpec
    status: SkillPackStatus | None = None


def skill_files(pack: SkillPack) -> dict[str, str]:
    """One `<skill>.md` file per skill, as mounted under `/skills` (the controller's
    ConfigMap keys and the local run's files); a described skill gets a title and a quote
    line."""
    data = {}
    for skill in pack.spec.skills:
        text = skill.content
        if skill.description:
            text = f"# {skill.name}\n\n> {skill.description}\n\n{skill.content}"
        data[f"{skill.name}.md"] = text
    return data
