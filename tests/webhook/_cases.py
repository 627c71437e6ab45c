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
]
