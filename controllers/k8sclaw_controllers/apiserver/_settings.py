"""Settings of `k8sclaw-apiserver`: flags first, then the environment, as the other components.

`--addr` is Go-style (`:8080` listens on every interface). The static admin token comes
from `K8SCLAW_API_TOKEN` or a file (`--token-file`, a mounted Secret); it is kept out of
every repr so it never reaches a log line.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from k8sclaw_protocol import busauth

DEFAULT_ADDR = ":8080"
DEFAULT_DATA_DIR = "/var/lib/k8sclaw"


ENV_ROUTER_CREDS_DIR = "K8SCLAW_ROUTER_CREDS_DIR"
"""Directory of the router identity's mounted `.creds` (Secret `k8sclaw-bus-router`)."""


@dataclass(frozen=True)
class Settings:
    host: str = "0.0.0.0"
    port: int = 8080
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    kubeconfig: str | None = None
    event_bus_url: str | None = None
    bus_creds: Path | None = None
    """The `apiserver` bus identity's `.creds` file (Secret `k8sclaw-bus-apiserver`)."""
    router_creds: Path | None = None
    """The `router` bus identity's `.creds` file (Secret `k8sclaw-bus-router`): with it the
    chat router runs inside this process."""
    router: bool = True
    """False (`--no-router`): do not run the chat router even when its creds are present."""
    database_url: str | None = field(default=None, repr=False)
    api_token: str | None = field(default=None, repr=False)
    token_file: Path | None = None
    token_cache_seconds: float = 30.0
    access_cache_seconds: float = 10.0
    ws_queue: int = 256
    ws_ping_seconds: float = 15.0
    sweep_seconds: float = 3600.0  # transcript retention sweep interval
    secure_host: str = "0.0.0.0"
    secure_port: int | None = None
    """The TLS listener of the aggregated API (`--secure-addr`); None: not served."""
    tls_dir: Path | None = None
    """Directory with `tls.crt`/`tls.key` (a mounted Secret); unset: see `tls_secret`."""
    tls_secret: str | None = None
    """Secret (in `namespace`) holding the API server's own CA and serving certificate,
    made and rotated by the API server, its CA written into the APIService's caBundle."""
    namespace: str = "k8sclaw-system"
    """The API server's own namespace (its TLS Secret; its Service's DNS names)."""
    tls_refresh_seconds: float = 60.0
    """How often the serving pair and the request-header CA are re-checked."""


def split_addr(addr: str) -> tuple[str, int]:
    """`:8080` → ("0.0.0.0", 8080); `127.0.0.1:0` → ("127.0.0.1", 0)."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--addr {addr!r}: expected [HOST]:PORT, e.g. :8080")
    return host or "0.0.0.0", int(port)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="k8sclaw-apiserver",
        description="HTTP and WebSocket API over instances, runs, schedules and transcripts; "
        "Kubernetes authenticates (TokenReview) and authorizes (SubjectAccessReview) "
        "every request.",
    )
    p.add_argument("--addr", default=DEFAULT_ADDR, help="listen address (default :8080)")
    p.add_argument(
        "--secure-addr",
        default=None,
        help="TLS listen address of the aggregated API, e.g. :8443 (default: not served)",
    )
    p.add_argument("--tls-dir", default=None, help="directory with tls.crt and tls.key")
    p.add_argument(
        "--tls-secret",
        default=None,
        help="Secret keeping the API server's own CA and serving certificate (caBundle of"
        " the APIService)",
    )
    p.add_argument("--namespace", default=None, help="own namespace (default k8sclaw-system)")
    p.add_argument("--data-dir", default=None, help="SQLite directory when DATABASE_URL is unset")
    p.add_argument("--kubeconfig", default=None, help="kubeconfig (default: KUBECONFIG/in-cluster)")
    p.add_argument("--event-bus-url", default=None, help="NATS URL (default: EVENT_BUS_URL)")
    p.add_argument("--token-file", default=None, help="file holding the static admin token")
    p.add_argument(
        "--bus-creds",
        default=None,
        help="the apiserver bus identity's .creds file (default: K8SCLAW_BUS_CREDS_DIR/user.creds)",
    )
    p.add_argument(
        "--router-creds",
        default=None,
        help="the router bus identity's .creds file (default: "
        f"{ENV_ROUTER_CREDS_DIR}/user.creds); the chat router runs when it is set",
    )
    p.add_argument(
        "--no-router", action="store_true", help="do not run the chat router in this process"
    )
    p.add_argument(
        "--print-openapi", action="store_true", help="print the OpenAPI document and exit"
    )
    return p


def resolve(argv: Sequence[str], env: Mapping[str, str] = os.environ) -> Settings:
    args = parser().parse_args(list(argv))
    host, port = split_addr(args.addr)
    token_file = args.token_file or env.get("K8SCLAW_API_TOKEN_FILE")
    secure_host, secure_port = split_addr(args.secure_addr) if args.secure_addr else ("", None)
    return Settings(
        host=host,
        port=port,
        data_dir=Path(args.data_dir or env.get("K8SCLAW_DATA_DIR") or DEFAULT_DATA_DIR),
        kubeconfig=args.kubeconfig or env.get("KUBECONFIG") or None,
        event_bus_url=args.event_bus_url or env.get("EVENT_BUS_URL") or None,
        database_url=env.get("DATABASE_URL") or None,
        api_token=env.get("K8SCLAW_API_TOKEN") or None,
        token_file=Path(token_file) if token_file else None,
        bus_creds=_bus_creds(args.bus_creds, env),
        router_creds=_router_creds(args.router_creds, env),
        router=not args.no_router,
        secure_host=secure_host or "0.0.0.0",
        secure_port=secure_port,
        tls_dir=Path(args.tls_dir) if args.tls_dir else None,
        tls_secret=args.tls_secret or None,
        namespace=args.namespace or env.get("NAMESPACE") or "k8sclaw-system",
    )


def _bus_creds(flag: str | None, env: Mapping[str, str]) -> Path | None:
    """`--bus-creds`, else `user.creds` in the mounted creds directory, else none."""
    if flag:
        return Path(flag)
    folder = env.get(busauth.ENV_BUS_CREDS_DIR)
    return Path(folder) / busauth.BUS_CREDS_KEY if folder else None


def _router_creds(flag: str | None, env: Mapping[str, str]) -> Path | None:
    """`--router-creds`, else `user.creds` in the router's creds directory, else none."""
    if flag:
        return Path(flag)
    folder = env.get(ENV_ROUTER_CREDS_DIR)
    return Path(folder) / busauth.BUS_CREDS_KEY if folder else None
