"""The controller manager's settings: one dataclass, resolved argument -> env -> default.

`main` parses the command line into a `Settings`; every reconciler reads only this object,
so a flag, its `K8SCLAW_*` variable and its default are spelled in exactly one place.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from k8sclaw_protocol import names

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in a Go-style duration such as `90s`, `10m`, `1h30m` or `250ms`."""
    parts = _DURATION_PART.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"duration {text!r}: use a number with ms, s, m or h, e.g. 90s or 10m")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


@dataclass(frozen=True)
class Images:
    """Container images of the agent pod and the channel pods, pinned to a release tag."""

    agent: str = names.image(names.IMAGE_AGENT_RUNNER)
    ipc_bridge: str = names.image(names.IMAGE_IPC_BRIDGE)
    sandbox: str = names.image(names.IMAGE_SANDBOX)
    channel: str = names.image(names.IMAGE_CHANNEL)


BUS_SIGNING_SEED_FILE = "/var/run/k8sclaw/bus-signing/account.seed"


@dataclass(frozen=True)
class Settings:
    """Everything the controller manager is told from outside."""

    namespaces: tuple[str, ...] = ()
    """Namespaces to watch; empty means all namespaces."""
    kubeconfig: str | None = None
    """Kubeconfig file; None means KUBECONFIG, then in-cluster config."""
    event_bus_url: str = names.EVENT_BUS_URL
    """NATS URL for completion events; empty disables the bus (Job/Pod status only)."""
    bus_signing_seed_file: str = BUS_SIGNING_SEED_FILE
    """The bus account's signing seed (mounted Secret `k8sclaw-bus-signing`): the
    controller mints its own NATS user and one per run from it."""
    images: Images = field(default_factory=Images)
    """Images used for agent and channel pods."""
    history_limit: int = names.DEFAULT_RUN_HISTORY_LIMIT
    """Finished runs kept per instance; older ones are deleted."""
    default_timeout: str = names.DEFAULT_RUN_TIMEOUT
    """Timeout of runs whose spec does not set one."""
    job_ttl_seconds: int = 300
    """ttlSecondsAfterFinished of agent Jobs (kept runs' Jobs are reaped by Kubernetes)."""
    metrics_host: str = "0.0.0.0"
    """Address of the metrics and health endpoint."""
    metrics_port: int = 8080
    """Port of /metrics, /healthz and /readyz; 0 disables the endpoint."""

    @property
    def all_namespaces(self) -> bool:
        """True when the manager watches the whole cluster."""
        return not self.namespaces

    @property
    def default_timeout_seconds(self) -> float:
        """`default_timeout` in seconds."""
        return parse_duration(self.default_timeout)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="k8sclaw-controller",
        description="K8sClaw controller manager: AgentRuns into Jobs, ClawInstance channels, "
        "SkillPacks and ClawPolicies. Run one replica (Deployment strategy Recreate).",
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=[],
        metavar="NS",
        help="watch this namespace (repeatable; env K8SCLAW_NAMESPACES, comma-separated)",
    )
    scope.add_argument(
        "--all-namespaces", "-A", action="store_true", help="watch every namespace (the default)"
    )
    parser.add_argument("--kubeconfig", help="kubeconfig file (env KUBECONFIG; else in-cluster)")
    parser.add_argument(
        "--event-bus-url", help=f"NATS URL (env EVENT_BUS_URL; {names.EVENT_BUS_URL})"
    )
    parser.add_argument(
        "--bus-signing-seed-file",
        help=f"bus account seed (env K8SCLAW_BUS_SIGNING_SEED_FILE; {BUS_SIGNING_SEED_FILE})",
    )
    for attr, flag in (
        ("agent", "agent"),
        ("ipc_bridge", "ipc-bridge"),
        ("sandbox", "sandbox"),
        ("channel", "channel"),
    ):
        env = f"K8SCLAW_{attr.upper()}_IMAGE"
        parser.add_argument(f"--{flag}-image", dest=f"{attr}_image", help=f"image (env {env})")
    parser.add_argument(
        "--history-limit",
        type=int,
        help="finished runs kept per instance (env K8SCLAW_HISTORY_LIMIT; 50)",
    )
    parser.add_argument(
        "--default-timeout", help="timeout of runs without one (env K8SCLAW_DEFAULT_TIMEOUT; 10m)"
    )
    parser.add_argument(
        "--job-ttl",
        type=int,
        dest="job_ttl_seconds",
        help="ttlSecondsAfterFinished of agent Jobs (env K8SCLAW_JOB_TTL; 300)",
    )
    parser.add_argument(
        "--metrics-bind-address",
        help="host:port of /metrics, /healthz, /readyz "
        "(env K8SCLAW_METRICS_BIND_ADDRESS; 0.0.0.0:8080; port 0 disables)",
    )
    return parser


def resolve(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Settings from the command line, then the environment, then the defaults."""
    env = os.environ if env is None else env
    args = _parser().parse_args(argv)
    defaults = Settings()

    def pick(arg: object, var: str) -> str | None:
        if arg is not None:
            return str(arg)
        return env.get(var) or None

    namespaces: tuple[str, ...] = ()
    if not args.all_namespaces:
        listed = args.namespace or (env.get("K8SCLAW_NAMESPACES") or "").split(",")
        namespaces = tuple(ns.strip() for ns in listed if ns.strip())
    images = Images(
        **{
            attr: pick(getattr(args, f"{attr}_image"), f"K8SCLAW_{attr.upper()}_IMAGE")
            or getattr(defaults.images, attr)
            for attr in ("agent", "ipc_bridge", "sandbox", "channel")
        }
    )
    bind = pick(args.metrics_bind_address, "K8SCLAW_METRICS_BIND_ADDRESS")
    host, port = _split_bind(bind) if bind else (defaults.metrics_host, defaults.metrics_port)
    settings = Settings(
        namespaces=namespaces,
        kubeconfig=pick(args.kubeconfig, "KUBECONFIG"),
        # An explicit empty --event-bus-url turns the bus off (Job/Pod status only).
        event_bus_url=defaults.event_bus_url
        if (bus := pick(args.event_bus_url, "EVENT_BUS_URL")) is None
        else bus,
        bus_signing_seed_file=pick(args.bus_signing_seed_file, "K8SCLAW_BUS_SIGNING_SEED_FILE")
        or defaults.bus_signing_seed_file,
        images=images,
        history_limit=int(
            pick(args.history_limit, "K8SCLAW_HISTORY_LIMIT") or defaults.history_limit
        ),
        default_timeout=pick(args.default_timeout, "K8SCLAW_DEFAULT_TIMEOUT")
        or defaults.default_timeout,
        job_ttl_seconds=int(
            pick(args.job_ttl_seconds, "K8SCLAW_JOB_TTL") or defaults.job_ttl_seconds
        ),
        metrics_host=host,
        metrics_port=port,
    )
    settings.default_timeout_seconds  # noqa: B018 - fail at start-up on a bad duration
    if settings.history_limit < 0:
        raise ValueError("history limit: must be 0 or more (0 keeps no finished runs)")
    return settings


def _split_bind(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    if not port.isdigit():
        raise ValueError(f"metrics bind address {bind!r}: use host:port, e.g. 0.0.0.0:8080")
    return host or "0.0.0.0", int(port)
