"""The result types of the policy engine: a violated rule and an admission decision.

The webhook turns a `Decision` into an AdmissionReview response; the controller's
pre-checks read the same object, so both speak with one voice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JsonPatchOp = dict[str, Any]
"""One RFC 6902 operation, e.g. {"op": "add", "path": "/spec/toolPolicy", "value": {...}}."""


@dataclass(frozen=True)
class Violation:
    """A broken rule: `rule` is the policy field (or admission rule) that forbids it."""

    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


@dataclass(frozen=True)
class Decision:
    """Whether an object may be admitted, why not, and how it is to be mutated.

    `policy` names the ClawPolicy that judged it (None when no policy applies), so a
    denial can say which policy and which rule refused it.
    """

    policy: str | None = None
    violations: tuple[Violation, ...] = ()
    patches: tuple[JsonPatchOp, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def allowed(self) -> bool:
        """True when no rule is violated."""
        return not self.violations

    @property
    def message(self) -> str:
        """One line naming the policy and every violated rule; empty when allowed."""
        if self.allowed:
            return ""
        judge = f'ClawPolicy "{self.policy}"' if self.policy else "K8sClaw admission"
        rules = "; ".join(f"rule {violation}" for violation in self.violations)
        return f"denied by {judge} {rules}"
