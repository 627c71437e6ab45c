"""The admission rules for one AgentRun, each a small pure function returning violations.

Rule names are the policy fields that forbid something (`subagentPolicy.maxDepth`,
`toolGating.rules[execute_command]`, ...) so a denial points at what to change.
Pod security rules hold with or without a policy: the controller builds pods that
must pass the Kubernetes "restricted" Pod Security Standard.
"""

from __future__ import annotations

from decimal import Decimal

from k8sclaw_controllers.policy import _quantity, _tools
from k8sclaw_controllers.policy._decision import Violation
from k8sclaw_protocol import AgentRun, ClawInstance, ClawPolicy

# Sandbox resource name -> the policy field capping its limit.
CAPS = {"cpu": "maxCPU", "memory": "maxMemory"}


def pod_security(run: AgentRun) -> list[Violation]:
    """The sandbox may not weaken the hardening every agent pod carries."""
    sandbox = run.spec.sandbox
    context = sandbox.security_context if sandbox and sandbox.enabled else None
    if context is None:
        return []
    found = []
    if not context.run_as_non_root:
        found.append("runAsNonRoot must be true")
    if not context.read_only_root_filesystem:
        found.append("readOnlyRootFilesystem must be true")
    if context.capabilities is not None and "ALL" not in context.capabilities.drop:
        found.append('capabilities.drop must include "ALL"')
    return [
        Violation("podSecurity.restricted", f"spec.sandbox.securityContext: {text}")
        for text in found
    ]


def sandbox_required(run: AgentRun, policy: ClawPolicy) -> list[Violation]:
    """`sandboxPolicy.required`: the run must enable its sandbox."""
    rules = policy.spec.sandbox_policy
    if rules is None or not rules.required:
        return []
    if run.spec.sandbox is not None and run.spec.sandbox.enabled:
        return []
    return [Violation("sandboxPolicy.required", "set spec.sandbox.enabled: true")]


def policy_caps(policy: ClawPolicy) -> tuple[dict[str, tuple[str, Decimal]], list[Violation]]:
    """The policy's valid caps by resource, and a violation for each malformed one."""
    rules = policy.spec.sandbox_policy
    caps: dict[str, tuple[str, Decimal]] = {}
    broken: list[Violation] = []
    if rules is None:
        return caps, broken
    for resource, raw in (("cpu", rules.max_cpu), ("memory", rules.max_memory)):
        if raw is None:
            continue
        try:
            caps[resource] = (str(raw), _quantity.parse_quantity(raw))
        except _quantity.QuantityError as error:
            rule = f"sandboxPolicy.{CAPS[resource]}"
            broken.append(Violation(rule, f"{error}; fix the ClawPolicy"))
    return caps, broken


def resource_caps(run: AgentRun, policy: ClawPolicy) -> list[Violation]:
    """Sandbox requests and limits must parse and stay within maxCPU / maxMemory."""
    sandbox = run.spec.sandbox
    if sandbox is None or not sandbox.enabled:
        return []
    caps, found = policy_caps(policy)
    resources = sandbox.resources
    for kind in ("limits", "requests"):
        values = (getattr(resources, kind) if resources else None) or {}
        for resource, raw in values.items():
            found += _compare(f"spec.sandbox.resources.{kind}.{resource}", raw, caps.get(resource))
        for resource, (cap_text, _) in caps.items():
            if kind == "limits" and resource not in values:
                rule = f"sandboxPolicy.{CAPS[resource]}"
                text = f"the sandbox sets no {resource} limit; set one of at most {cap_text}"
                found.append(Violation(rule, text))
    return found


def _compare(field: str, raw: object, cap: tuple[str, Decimal] | None) -> list[Violation]:
    try:
        value = _quantity.parse_quantity(raw)
    except _quantity.QuantityError as error:
        return [Violation(field, str(error))]
    if cap is None or value <= cap[1]:
        return []
    resource = field.rsplit(".", 1)[1]
    rule = f"sandboxPolicy.{CAPS[resource]}"
    return [Violation(rule, f'{field} "{raw}" exceeds {cap[0]}')]


def spawn_depth(
    run: AgentRun, policy: ClawPolicy | None, parent_depth: int | None
) -> list[Violation]:
    """A sub-agent's depth must follow its parent's and stay within `maxDepth`."""
    parent = run.spec.parent
    if parent is None:
        return []
    found = []
    if parent_depth is not None and parent.spawn_depth != parent_depth + 1:
        text = (
            f"spawn depth {parent.spawn_depth} does not follow parent run "
            f'"{parent.run_name}" at depth {parent_depth}; expected {parent_depth + 1}'
        )
        found.append(Violation("spec.parent.spawnDepth", text))
    limits = policy.spec.subagent_policy if policy else None
    if limits is not None and parent.spawn_depth > limits.max_depth:
        text = f"spawn depth {parent.spawn_depth} exceeds {limits.max_depth}"
        found.append(Violation("subagentPolicy.maxDepth", text))
    return found


def instance_spawn_depth(run: AgentRun, instance: ClawInstance) -> list[Violation]:
    """A sub-agent may be no deeper than its instance's `subagents.maxDepth`, when set."""
    parent = run.spec.parent
    limits = instance.spec.agents.default.subagents
    if parent is None or limits is None or parent.spawn_depth <= limits.max_depth:
        return []
    text = (
        f"spawn depth {parent.spawn_depth} exceeds {limits.max_depth} "
        f'(ClawInstance "{instance.name}")'
    )
    return [Violation("spec.subagents.maxDepth", text)]


def concurrency(run: AgentRun, policy: ClawPolicy, active: int | None) -> list[Violation]:
    """At most `maxConcurrent` Pending or Running runs per instance (checked on create)."""
    limits = policy.spec.subagent_policy
    if active is None or limits is None or active < limits.max_concurrent:
        return []
    text = (
        f'instance "{run.spec.instance_ref}" already has {active} Pending or Running runs, '
        f"the limit is {limits.max_concurrent}; wait for one to finish"
    )
    return [Violation("subagentPolicy.maxConcurrent", text)]


def feature_gates(run: AgentRun, policy: ClawPolicy) -> list[Violation]:
    """Disabled gates forbid the sandbox (code-execution) and sub-agent runs (sub-agents)."""
    found = []
    sandbox = run.spec.sandbox
    if (
        sandbox is not None
        and sandbox.enabled
        and not _tools.gate_enabled(policy, "code-execution")
    ):
        text = "code execution is disabled, so spec.sandbox.enabled must be false"
        found.append(Violation("featureGates.code-execution", text))
    if run.spec.parent is not None and not _tools.gate_enabled(policy, "sub-agents"):
        found.append(Violation("featureGates.sub-agents", "sub-agent runs are disabled"))
    return found


def tools(run: AgentRun, policy: ClawPolicy) -> list[Violation]:
    """Every tool the run asks for in `toolPolicy.allow` must not be denied."""
    requested = run.spec.tool_policy.allow if run.spec.tool_policy else None
    found = []
    for tool in requested or []:
        action, rule = _tools.tool_action(policy, tool)
        if action == "deny":
            found.append(Violation(rule, f"tool {tool} is denied; remove it from toolPolicy.allow"))
    return found
