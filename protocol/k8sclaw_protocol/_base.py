"""Building blocks shared by every custom resource model: base class, metadata, conditions.

Wire names are camelCase (Kubernetes convention); Python attributes are snake_case.
The CRD generator (`_crdgen`) reads the same classes, so schema and code cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel

from k8sclaw_protocol import _names

# Kubernetes resource quantity ("500m", "1Gi", 2): the apiserver's own pattern.
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
Quantity = Annotated[
    int | str,
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": QUANTITY_PATTERN,
            "x-kubernetes-int-or-string": True,
        }
    ),
]
# Go-style duration as used by `spec.timeout` ("90s", "10m", "1h30m").
DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
Duration = Annotated[str, Field(pattern=DURATION_PATTERN)]
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# Names of other objects (instances, secrets, policies): RFC 1123 subdomain.
ObjectName = Annotated[
    str,
    Field(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"),
]


class CRModel(BaseModel):
    """Base of every wire model: camelCase aliases, unknown fields ignored on read.

    Ignoring (not rejecting) unknown fields keeps an older CLI working against a newer
    cluster; the CRD schema is what rejects unknown fields on write.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        use_attribute_docstrings=True,
        validate_default=False,
    )

    def to_wire(self) -> dict[str, Any]:
        """Serialise for the Kubernetes API: camelCase, unset optionals left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class OwnerReference(CRModel):
    """Link to the object that owns this one (garbage collection)."""

    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(CRModel):
    """The subset of Kubernetes ObjectMeta that K8sClaw reads and writes."""

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    finalizers: list[str] = Field(default_factory=list)
    owner_references: list[OwnerReference] = Field(default_factory=list)


ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(CRModel):
    """Standard Kubernetes condition (metav1.Condition)."""

    type: str = Field(max_length=316)
    """Kind of condition, e.g. Ready, Progressing, Failed."""
    status: ConditionStatus
    """True, False or Unknown."""
    observed_generation: int | None = Field(default=None, ge=0)
    """metadata.generation the condition was computed from."""
    last_transition_time: datetime
    """When the status last changed."""
    reason: str = Field(max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    """CamelCase machine-readable reason."""
    message: str = Field(default="", max_length=32768)
    """Human-readable detail."""


Conditions = Annotated[
    list[Condition],
    Field(
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        }
    ),
]


@dataclass(frozen=True)
class PrinterColumn:
    """One `kubectl get` column (additionalPrinterColumns)."""

    name: str
    type: str
    json_path: str
    description: str = ""
    priority: int = 0
    format: str = ""

    def to_wire(self) -> dict[str, Any]:
        """CRD form of the column."""
        wire: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.description:
            wire["description"] = self.description
        if self.format:
            wire["format"] = self.format
        if self.priority:
            wire["priority"] = self.priority
        return wire


AGE_COLUMN = PrinterColumn("Age", "date", ".metadata.creationTimestamp")


@dataclass(frozen=True)
class KindInfo:
    """How a resource kind is registered with the API server."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    columns: tuple[PrinterColumn, ...] = field(default=())
    label_name: bool = False
    """Names must be DNS-1123 labels (no dots, at most 63 characters): the name becomes a
    label value, a Job name or a bus subject token. Enforced by the CRD schema (a
    `pattern` and `maxLength` on metadata.name) and by the admission webhook."""

    @property
    def list_kind(self) -> str:
        """Kind name of the list type."""
        return f"{self.kind}List"

    @property
    def crd_name(self) -> str:
        """metadata.name of the CustomResourceDefinition."""
        return f"{self.plural}.{_names.GROUP}"


class Resource(CRModel):
    """A namespaced K8sClaw custom resource: apiVersion, kind, metadata, spec, status."""

    info: ClassVar[KindInfo]

    api_version: str = _names.GROUP_VERSION
    kind: str = ""
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)

    def model_post_init(self, context: Any, /) -> None:
        """Fill `kind` from the class so callers never spell it."""
        if not self.kind:
            self.kind = self.info.kind

    @classmethod
    def from_wire(cls, body: dict[str, Any]) -> Self:
        """Parse an object as returned by the API server (dict or kubernetes client)."""
        return cls.model_validate(body)

    @property
    def name(self) -> str:
        """metadata.name (empty when the server has not named it yet)."""
        return self.metadata.name or ""

    @property
    def namespace(self) -> str:
        """metadata.namespace (empty before creation in an implicit namespace)."""
        return self.metadata.namespace or ""
