"""Validation of ClawPolicies and SkillPacks beyond what the CRD schema can express.

Called by the validating webhook on CREATE/UPDATE of those kinds: unknown feature
gates, malformed quantities, contradictory settings and egress entries a
NetworkPolicy cannot express are caught when the policy is written, not when the
first run trips over them.
"""

from __future__ import annotations

import ipaddress
import re

from k8sclaw_controllers.policy import _rules
from k8sclaw_controllers.policy._decision import Violation
from k8sclaw_protocol import FEATURE_GATES, ClawPolicy, SkillPack, names

# A ConfigMap holds at most 1 MiB; the SkillPack becomes one ConfigMap.
CONFIGMAP_LIMIT = 1024 * 1024
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$"
)
_BIN = re.compile(r"^[A-Za-z0-9._+-]{1,128}$")


def validate_policy(policy: ClawPolicy) -> list[Violation]:
    """Everything wrong with `policy`; empty when it may be stored."""
    found = [
        Violation(
            f"featureGates.{gate}", f"unknown feature gate; known: {', '.join(FEATURE_GATES)}"
        )
        for gate in sorted(policy.spec.feature_gates)
        if gate not in FEATURE_GATES
    ]
    found += _rules.policy_caps(policy)[1] + unknown_tools(policy) + _images(policy)
    rules = policy.spec.sandbox_policy
    if (
        rules is not None
        and rules.required
        and not policy.spec.feature_gates.get("code-execution", True)
    ):
        text = (
            "a required sandbox contradicts featureGates.code-execution: false; no run could pass"
        )
        found.append(Violation("sandboxPolicy.required", text))
    network = policy.spec.network_policy
    for index, egress in enumerate(network.allowed_egress if network else []):
        if egress_kind(egress.host) is None:
            text = f'host "{egress.host}" is neither a CIDR, an IP address nor a DNS name'
            found.append(Violation(f"networkPolicy.allowedEgress[{index}].host", text))
    return found


def unknown_tools(policy: ClawPolicy) -> list[Violation]:
    """A rule for a tool no agent has (a typo such as `exec_cmd`) would silently gate
    nothing; refuse it and list the tools that exist (`browser_*` names are allowed)."""
    gating = policy.spec.tool_gating
    found = []
    for rule in gating.rules if gating else []:
        if rule.tool in names.TOOLS or rule.tool.startswith(names.TOOL_BROWSER_PREFIX):
            continue
        text = (
            f'unknown tool "{rule.tool}"; known tools: {", ".join(names.TOOLS)} '
            f"and {names.TOOL_BROWSER_PREFIX}<action>"
        )
        found.append(Violation(f"toolGating.rules[{rule.tool}]", text))
    return found


def _images(policy: ClawPolicy) -> list[Violation]:
    """A defaultImage outside allowedImages would be injected and then refused."""
    rules = policy.spec.sandbox_policy
    if rules is None or rules.allowed_images is None or not rules.default_image:
        return []
    if rules.default_image in rules.allowed_images:
        return []
    text = f'defaultImage "{rules.default_image}" is not in allowedImages; add it there'
    return [Violation("sandboxPolicy.defaultImage", text)]


def policy_warnings(policy: ClawPolicy) -> list[str]:
    """Things that are allowed but probably not what the author meant."""
    warnings = []
    network = policy.spec.network_policy
    for egress in network.allowed_egress if network else []:
        if egress_kind(egress.host) == "hostname":
            warnings.append(
                f'networkPolicy.allowedEgress host "{egress.host}" is a DNS name; Kubernetes '
                "NetworkPolicies only match IP blocks, so it is not enforced — use a CIDR"
            )
    if network is not None and network.deny_all and not network.allow_event_bus:
        warnings.append(
            "networkPolicy.allowEventBus is false: agent pods cannot reach NATS and runs "
            "cannot report results"
        )
    return warnings


def egress_kind(host: str) -> str | None:
    """ "cidr" for a network or address, "hostname" for a DNS name, None for neither."""
    try:
        ipaddress.ip_network(host, strict=False)
    except ValueError:
        return "hostname" if _HOSTNAME.match(host) else None
    return "cidr"


def validate_skillpack(pack: SkillPack) -> list[Violation]:
    """Skills must fit one ConfigMap, have unique names and sane requirements."""
    found = []
    seen: set[str] = set()
    size = 0
    for index, skill in enumerate(pack.spec.skills):
        if skill.name in seen:
            found.append(Violation(f"skills[{index}].name", f'duplicate skill name "{skill.name}"'))
        seen.add(skill.name)
        size += len(skill.name) + 3 + len(skill.content.encode())
        if not skill.content.strip():
            found.append(Violation(f"skills[{index}].content", "must not be blank"))
        for bin_name in skill.requires.bins if skill.requires else []:
            if not _BIN.match(bin_name):
                text = f'"{bin_name}" is not an executable name (no paths or spaces)'
                found.append(Violation(f"skills[{index}].requires.bins", text))
    if size > CONFIGMAP_LIMIT:
        text = f"skills total {size} bytes, over the {CONFIGMAP_LIMIT}-byte ConfigMap limit; split"
        found.append(Violation("skills", text))
    runtime = pack.spec.runtime_requirements
    if runtime is not None and (
        not runtime.image.strip() or any(c.isspace() for c in runtime.image)
    ):
        found.append(
            Violation("runtimeRequirements.image", f'"{runtime.image}" is not an image reference')
        )
    return found
