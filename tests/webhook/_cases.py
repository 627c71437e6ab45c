"""Rule violations every webhook test level checks: (policy spec, run spec, rule named).

The server tests (direct HTTPS) and the end-to-end tests (through the API server) both
run these; each adds the cases only it can reach (a malformed quantity never gets past
the CRD schema to the webhook, so only the server tests send one).
"""

from __future__ import annotations

import pytest

from tests.policy._builders import sandbox

RULE_VIOLATIONS = [
    pytest.param({"sandboxPolicy": {"required": True}}, {}, "sandboxPolicy.required", id="sandbox"),
    pytest.param(
        {"subagentPolicy": {"maxDepth": 1}},
        {"parent": {"runName": "p", "sessionKey": "s", "spawnDepth": 2}},
        "subagentPolicy.maxDepth",
        id="depth",
    ),
    pytest.param(
        {"toolGating": {"rules": [{"tool": "execute_command", "action": "deny"}]}},
        {"toolPolicy": {"allow": ["execute_command"]}},
        "toolGating.rules[execute_command]",
        id="tool",
    ),
    pytest.param(
        {"featureGates": {"code-execution": False}},
        {"sandbox": sandbox()},
        "featureGates.code-execution",
        id="gate",
    ),
    pytest.param(
        {"featureGates": {"sub-agents": False}},
        {"parent": {"runName": "p", "sessionKey": "s", "spawnDepth": 1}},
        "featureGates.sub-agents",
        id="gate-sub-agents",
    ),
    pytest.param(
        {"featureGates": {"file-access": False}},
        {"toolPolicy": {"allow": ["read_file"]}},
        "featureGates.file-access",
        id="gate-file-access",
    ),
    pytest.param(
        {"featureGates": {"browser-automation": False}},
        {"toolPolicy": {"allow": ["browser_navigate"]}},
        "featureGates.browser-automation",
        id="gate-browser",
    ),
    pytest.param(
        {"toolGating": {"defaultAction": "deny"}},
        {"toolPolicy": {"allow": ["write_file"]}},
        "toolGating.defaultAction",
        id="default-deny",
    ),
]
