"""Spec fragments used by more than one kind: skill references, sandbox, resources."""

from __future__ import annotations

from pydantic import Field

from k8sclaw_protocol._base import CRModel, ObjectName, Quantity


class SkillRef(CRModel):
    """A source of skills mounted under /skills: a SkillPack or a plain ConfigMap."""

    skill_pack_ref: ObjectName | None = None
    """Name of a SkillPack in the same namespace (or the system namespace)."""
    config_map_ref: ObjectName | None = None
    """Name of a ConfigMap whose keys are Markdown skill files."""


class ResourceRequirements(CRModel):
    """CPU and memory requests and limits, as Kubernetes quantities."""

    requests: dict[str, Quantity] | None = None
    """Minimum resources, e.g. {cpu: 100m, memory: 128Mi}."""
    limits: dict[str, Quantity] | None = None
    """Maximum resources, e.g. {cpu: "1", memory: 1Gi}."""


class SandboxSpec(CRModel):
    """The optional sandbox container that runs the agent's commands."""

    enabled: bool = False
    """Add the sandbox container to the agent pod."""
    image: str | None = None
    """Sandbox image; the policy's default image is used when empty."""
    resources: ResourceRequirements | None = None
    """Resources of the sandbox container."""


class SubagentsSpec(CRModel):
    """Limits on sub-agents an agent may spawn."""

    max_depth: int = Field(default=2, ge=0, le=10)
    """Maximum nesting depth of sub-agents."""
    max_concurrent: int = Field(default=5, ge=1, le=1000)
    """Maximum sub-agents running at once for one instance."""
    max_children_per_agent: int = Field(default=3, ge=0, le=100)
    """Maximum sub-agents one agent may spawn."""


class SecretKeyRef(CRModel):
    """A Secret holding credentials for one model provider."""

    provider: str | None = Field(default=None, max_length=63)
    """Provider these credentials are for (openai, anthropic, azure-openai, ollama, ...)."""
    secret: ObjectName
    """Name of the Secret in the instance's namespace."""
