"""Settings of `k8sclaw-ipc-bridge`, resolved argument → environment → default here only."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from k8sclaw_protocol import busauth
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
    """The run's namespace (`--namespace`, `POD_NAMESPACE`): with the run id, the scope
    of every subject the bridge publishes and receives on."""
    creds: Path | None = None
    """The bridge's NATS user, minted for this run: `--bus-creds`, else `user.creds` in
    `K8SCLAW_BUS_CREDS_DIR` (the run's Secret, mounted)."""
    run_uid: str = ""
    """The run's uid (`AGENT_RUN_UID`): names the run's inbound consumers."""
    run_created: datetime | None = None
    """The run's creation time (`AGENT_RUN_CREATED`): older inbound events are skipped."""
    result_timeout: float = busauth.DEFAULT_RESULT_TIMEOUT
    """Seconds to keep trying to publish the result before exiting `EXIT_BUS_UNAVAILABLE`
    (`--result-timeout`, `K8SCLAW_BUS_RESULT_TIMEOUT`)."""

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
        parser.add_argument("--bus-creds")
        parser.add_argument("--result-timeout")
        args = parser.parse_args(argv)
        run_id = _settings.resolve(args.agent_run_id, "AGENT_RUN_ID")
        if not run_id:
            raise SettingsError(
                "k8sclaw-ipc-bridge: no run id; pass --agent-run-id or set AGENT_RUN_ID"
            )
        namespace = _settings.resolve(args.namespace, "POD_NAMESPACE")
        if not namespace:
            raise SettingsError(
                "k8sclaw-ipc-bridge: no namespace; pass --namespace or set POD_NAMESPACE"
            )
        return cls(
            ipc_dir=Path(_settings.resolve(args.ipc_path, _settings.ENV_IPC_DIR, "/ipc")),
            run_id=run_id,
            instance=_settings.resolve(args.instance, "INSTANCE_NAME"),
            bus_url=_settings.resolve(
                args.event_bus_url, "EVENT_BUS_URL", _settings.DEFAULT_EVENT_BUS_URL
            ),
            namespace=namespace,
            creds=_creds(args.bus_creds),
            run_uid=_settings.resolve(None, busauth.ENV_RUN_UID),
            run_created=_time(_settings.resolve(None, busauth.ENV_RUN_CREATED)),
            result_timeout=_seconds(
                _settings.resolve(args.result_timeout, busauth.ENV_RESULT_TIMEOUT),
                busauth.DEFAULT_RESULT_TIMEOUT,
            ),
        )


def _creds(flag: str | None) -> Path | None:
    if flag:
        return Path(flag)
    directory = _settings.resolve(None, busauth.ENV_BUS_CREDS_DIR)
    return Path(directory) / busauth.BUS_CREDS_KEY if directory else None


def _time(value: str) -> datetime | None:
    """An RFC 3339 time (`Z` allowed); SettingsError when malformed."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SettingsError(f"k8sclaw-ipc-bridge: {busauth.ENV_RUN_CREATED}: {exc}") from exc


def _seconds(value: str, default: float) -> float:
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if seconds <= 0:
        raise SettingsError(f"k8sclaw-ipc-bridge: result timeout {value!r} is not seconds > 0")
    return seconds
