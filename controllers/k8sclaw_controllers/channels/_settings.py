"""The channel pod's environment → `ChannelConfig` (for the adapter) and `RuntimeSettings`
(for the runtime). Every missing value is reported by name with its fix, never a traceback."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, get_args

from k8sclaw_controllers.channels._adapter import ChannelConfig
from k8sclaw_protocol import busauth, events
from k8sclaw_protocol._instance import CHANNEL_TYPES, ChannelMode, ChannelType

ENV_CHANNEL_TYPE: Final = "CHANNEL_TYPE"
ENV_INSTANCE: Final = "INSTANCE_NAME"
ENV_NAMESPACE: Final = "POD_NAMESPACE"
ENV_BUS_URL: Final = "EVENT_BUS_URL"
ENV_ALLOWED_SENDERS: Final = "K8SCLAW_ALLOWED_SENDERS"
ENV_ALLOWED_CHATS: Final = "K8SCLAW_ALLOWED_CHATS"
ENV_MODE: Final = "K8SCLAW_CHANNEL_MODE"
ENV_LISTEN_PORT: Final = "K8SCLAW_LISTEN_PORT"
ENV_HEALTH_PORT: Final = "K8SCLAW_HEALTH_PORT"
ENV_BACKOFF_INITIAL: Final = "K8SCLAW_CHANNEL_BACKOFF_INITIAL"
ENV_BACKOFF_MAX: Final = "K8SCLAW_CHANNEL_BACKOFF_MAX"
LISTEN_PORT: Final = 3000
HEALTH_PORT: Final = 8080
NAMESPACE_FILE: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class SettingError(Exception):
    """A required setting is missing or malformed; `str()` names it and the fix."""


def missing(name: str, fix: str) -> SettingError:
    """The error for a missing environment variable or Secret key `name`."""
    return SettingError(f"{name} is not set; {fix}")


@dataclass(frozen=True)
class RuntimeSettings:
    """What the runtime itself needs: the bus, its health port and its back-off."""

    bus_url: str
    creds_file: Path
    health_port: int = HEALTH_PORT
    backoff_initial: float = 1.0
    backoff_max: float = 60.0


def channel_type(argv: list[str], env: Mapping[str, str]) -> ChannelType:
    """The type from the command line, else `CHANNEL_TYPE`."""
    value = argv[0] if argv else env.get(ENV_CHANNEL_TYPE, "")
    if not value:
        raise missing(ENV_CHANNEL_TYPE, "run `k8sclaw-channel <type>` or set CHANNEL_TYPE")
    for known in CHANNEL_TYPES:
        if value == known:
            return known
    raise SettingError(f"unknown channel type {value!r}; one of {', '.join(CHANNEL_TYPES)}")


def channel_config(kind: ChannelType, env: Mapping[str, str]) -> ChannelConfig:
    """The adapter's view of the environment."""
    instance = _required(env, ENV_INSTANCE, "the Deployment sets it to the ClawInstance name")
    namespace = env.get(ENV_NAMESPACE) or _namespace_file()
    if not namespace:
        raise missing(ENV_NAMESPACE, "set it from the downward API (metadata.namespace)")
    for what, value in (("instance", instance), ("namespace", namespace)):
        if not events.scope_token_ok(value):
            raise SettingError(f"{what} {value!r} is not a DNS-1123 label")
    return ChannelConfig(
        channel=kind,
        instance=instance,
        namespace=namespace,
        env=dict(env),
        mode=_mode(env.get(ENV_MODE, "")),
        listen_port=_port(env, ENV_LISTEN_PORT, LISTEN_PORT),
        allowed_senders=_id_list(env.get(ENV_ALLOWED_SENDERS)),
        allowed_chats=_id_list(env.get(ENV_ALLOWED_CHATS)),
    )


def runtime_settings(env: Mapping[str, str]) -> RuntimeSettings:
    """The runtime's view of the environment (bus URL and credentials are required)."""
    url = _required(env, ENV_BUS_URL, "the Deployment sets it to the NATS URL")
    creds_dir = _required(
        env, busauth.ENV_BUS_CREDS_DIR, "mount the instance's channel bus credentials Secret"
    )
    creds = Path(creds_dir) / busauth.BUS_CREDS_KEY
    if not creds.is_file():
        raise SettingError(f"{creds} does not exist; mount the channel bus credentials Secret")
    return RuntimeSettings(
        bus_url=url,
        creds_file=creds,
        health_port=_port(env, ENV_HEALTH_PORT, HEALTH_PORT),
        backoff_initial=_seconds(env, ENV_BACKOFF_INITIAL, 1.0),
        backoff_max=_seconds(env, ENV_BACKOFF_MAX, 60.0),
    )


def _required(env: Mapping[str, str], name: str, fix: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise missing(name, fix)
    return value


def _namespace_file() -> str:
    try:
        return NAMESPACE_FILE.read_text().strip()
    except OSError:
        return ""


def _mode(value: str) -> ChannelMode | None:
    if not value:
        return None
    for known in get_args(ChannelMode):
        if value == known:
            mode: ChannelMode = known
            return mode
    raise SettingError(f"{ENV_MODE}={value!r} is not one of {', '.join(get_args(ChannelMode))}")


def _id_list(value: str | None) -> frozenset[str] | None:
    """Comma-separated ids; unset means no list (everyone allowed)."""
    if value is None:
        return None
    return frozenset(item.strip() for item in value.split(",") if item.strip())


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 0 <= int(raw) <= 65535:
        raise SettingError(f"{name}={raw!r} is not a port number")
    return int(raw)


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise SettingError(f"{name}={raw!r} is not a number of seconds (0 < s ≤ 3600)")
    return value
