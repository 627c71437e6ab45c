"""The pure policy engine: judges AgentRuns, ClawPolicies and SkillPacks.

No I/O here. The admission webhook and the controller's pre-checks both call it with
objects they read from the cluster, so a run is judged the same way everywhere.

    decision = evaluate_run(run, policy, running_in_instance=2, parent_depth=0)
    decision.allowed, decision.message, decision.patches

`spec_immutable(old, new)` is the one rule that needs both sides of an UPDATE.
"""

from k8sclaw_controllers.policy._confine import (
    DEFAULT_SANDBOX_IMAGE,
    allowed_images,
    bind,
    name_token,
)
from k8sclaw_controllers.policy._decision import Decision, JsonPatchOp, Violation
from k8sclaw_controllers.policy._lifecycle import spec_immutable
from k8sclaw_controllers.policy._quantity import QuantityError, parse_quantity
from k8sclaw_controllers.policy._run import confinement, evaluate_run, mutation_patches
from k8sclaw_controllers.policy._tools import (
    GATE_TOOLS,
    effective_tool_policy,
    gate_for_tool,
    tool_action,
)
from k8sclaw_controllers.policy._validate import (
    egress_kind,
    policy_warnings,
    validate_policy,
    validate_skillpack,
)

__all__ = [
    "DEFAULT_SANDBOX_IMAGE",
    "Decision",
    "GATE_TOOLS",
    "JsonPatchOp",
    "QuantityError",
    "Violation",
    "allowed_images",
    "bind",
    "confinement",
    "effective_tool_policy",
    "egress_kind",
    "evaluate_run",
    "gate_for_tool",
    "mutation_patches",
    "name_token",
    "parse_quantity",
    "policy_warnings",
    "spec_immutable",
    "tool_action",
    "validate_policy",
    "validate_skillpack",
]
