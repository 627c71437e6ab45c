"""The configurations `k8sclaw install` ships enforce what dev mode registers.

Two sources describe the webhook configurations: `k8sclaw/manifests/webhook/` (applied by
the installer, pointing at the Service) and `_configs.configurations` (dev mode and the
tests). They may differ in names, client config and timeout, never in what is enforced:
the same paths, operations, resources, `failurePolicy: Fail` and the condition that lets
objects being deleted skip the webhook (so a finalizer can be removed while it is down).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from k8sclaw_controllers.webhook import _configs

SHIPPED = Path(__file__).resolve().parents[2] / "k8sclaw/manifests/webhook/configurations.yaml"


def _enforced(configuration: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """What each webhook enforces, keyed by its path."""
    found = {}
    for hook in configuration["webhooks"]:
        client = hook["clientConfig"]
        service = client.get("service")
        path = service["path"] if service else "/" + client["url"].rsplit("/", 1)[1]
        rules = [
            (tuple(rule["operations"]), tuple(rule["resources"]), rule["scope"])
            for rule in hook["rules"]
        ]
        found[path] = (
            configuration["kind"],
            hook["failurePolicy"],
            tuple(rules),
            tuple(tuple(sorted(c.items())) for c in hook.get("matchConditions", [])),
            hook["sideEffects"],
        )
    return found


def test_shipped_configurations_enforce_what_dev_mode_registers() -> None:
    shipped = list(yaml.safe_load_all(SHIPPED.read_text()))
    generated = _configs.configurations(_configs.url_client("https://127.0.0.1:1"), b"ca")
    expected: dict[str, tuple[Any, ...]] = {}
    for body in generated:
        expected.update(_enforced(body))
    actual: dict[str, tuple[Any, ...]] = {}
    for body in shipped:
        actual.update(_enforced(body))
    assert actual == expected
    assert all(entry[1] == "Fail" for entry in actual.values())
    assert all(entry[3] for entry in actual.values()), "every webhook skips deleting objects"
