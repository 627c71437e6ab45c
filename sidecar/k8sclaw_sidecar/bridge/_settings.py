"""Settings of `k8sclaw-ipc-bridge`, resolved argument → environment → default here only."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from k8sclaw_sidecar import _settings


class SettingsError(Exception):
    """A required setting is missing; the message names the flag and variable."""

    exit_code = 2


@dataclass(frozen=True)
class BridgeSettings:
    """What one bridge process needs to know."""

    ipc_dir: Path
    """The shared `/ipc` volume (`--ipc-path`, `K8SCLAW_IPC_DIR`, `/ipc`)."""
    run_id: str
    """The AgentRun this pod serves (`--agent-run-id`, `AGENT_RUN_ID`; required)."""
    instance: str
    """The ClawInstance of the run (`--instance`, `INSTANCE_NAME`)."""
    bus_url: str
    """NATS URL (`--event-bus-url`, `EVENT_BUS_URL`, the in-cluster service)."""
    namespace: str = ""
    """The run's namespace (`--namespace`, `POD_NAMESPACE`); sent as event metadata so
    equal run names in two namespaces never collide. Empty: left out."""

    @classmethod
    def from_args(cls, argv: Sequence[str] | None = None) -> BridgeSettings:
        parser = argparse.ArgumentParser(
            prog="k8sclaw-ipc-bridge",
            description="Publish an agent pod's /ipc files on the NATS event bus and "
            "deliver follow-ups and exec results back; exits after the run's result.",
        )
        parser.add_argument("--ipc-path")
        parser.add_argument("--agent-run-id")
        parser.add_argument("--instance")
        parser.add_argument("--event-bus-url")
        parser.add_argument("--namespace")
        args = parser.parse_args(argv)
        run_id = _settings.resolve(args.agent_run_id, "AGENT_RUN_ID")
        if not run_id:
            raise SettingsError(
                "k8sclaw-ipc-bridge: no run id; pass --agent-run-id or set AGENT_RUN_ID"
            )
        return cls(
            ipc_dir=Path(_settings.resolve(args.ipc_path, _settings.ENV_IPC_DIR, "/ipc")),
            run_id=run_id,
            instance=_settings.resolve(args.instance, "INSTANCE_NAME"),
            bus_url=_settings.resolve(
                args.event_bus_url, "EVENT_BUS_URL", _settings.DEFAULT_EVENT_BUS_URL
            ),
            namespace=_settings.resolve(args.namespace, "POD_NAMESPACE"),
        )
