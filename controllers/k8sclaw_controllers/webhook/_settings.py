"""The webhook's settings: one dataclass, resolved argument -> K8SCLAW_WEBHOOK_* -> default."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from k8sclaw_protocol import names

DEFAULT_CERT_DIR = "/etc/k8sclaw/webhook-tls"


@dataclass(frozen=True)
class Settings:
    """Everything the webhook is told from outside."""

    dev_url: str | None = None
    """Dev mode: serve at this https URL and register configurations pointing at it."""
    kubeconfig: str | None = None
    """Kubeconfig file; None means in-cluster config."""
    listen: str = f"0.0.0.0:{names.WEBHOOK_PORT}"
    """host:port to serve on in-cluster."""
    cert_dir: Path = Path(DEFAULT_CERT_DIR)
    """Mounted cert-manager certificate (tls.crt, tls.key); else a self-managed Secret."""
    namespace: str = names.SYSTEM_NAMESPACE
    """Namespace of the webhook Service and TLS Secret."""
    name: str = names.WEBHOOK_CONFIGURATION
    """Name of the webhook configurations (dev mode defaults to k8sclaw-webhook-dev)."""
    log_level: str = "INFO"
    """Python logging level."""

    def dev_address(self) -> tuple[str, int]:
        """(host, port) of `dev_url`; ValueError with a fix when it is not https://host:port."""
        parts = urlsplit(self.dev_url or "")
        if (
            parts.scheme != "https"
            or not parts.hostname
            or not parts.port
            or parts.path not in ("", "/")
        ):
            raise ValueError(f"--dev-url {self.dev_url!r}: use https://127.0.0.1:PORT (no path)")
        return parts.hostname, parts.port

    def listen_address(self) -> tuple[str, int]:
        """(host, port) of `listen`."""
        host, _, port = self.listen.rpartition(":")
        if not port.isdigit():
            raise ValueError(f"--listen {self.listen!r}: use HOST:PORT, e.g. 0.0.0.0:8443")
        return host or "0.0.0.0", int(port)


def parser() -> argparse.ArgumentParser:
    """The command line of `k8sclaw-webhook`."""
    cli = argparse.ArgumentParser(
        prog="k8sclaw-webhook",
        description="K8sClaw admission webhook: validates and mutates AgentRuns against their "
        "ClawPolicy, validates ClawPolicies and SkillPacks.",
    )
    cli.add_argument(
        "--dev-url",
        help="serve at https://HOST:PORT with a self-signed CA and register "
        "webhook configurations for it in the kubeconfig's cluster (removed, or given "
        "back when --name took existing ones over, on exit)",
    )
    cli.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster service account)")
    cli.add_argument(
        "--listen", help=f"in-cluster HOST:PORT (default 0.0.0.0:{names.WEBHOOK_PORT})"
    )
    cli.add_argument("--cert-dir", help=f"mounted tls.crt/tls.key (default {DEFAULT_CERT_DIR})")
    cli.add_argument(
        "--namespace", help=f"namespace of the TLS Secret (default {names.SYSTEM_NAMESPACE})"
    )
    cli.add_argument(
        "--name",
        help="name of the webhook configurations (dev default k8sclaw-webhook-dev; "
        "--name k8sclaw-webhook takes over the installed ones while it runs and gives "
        "them back on exit)",
    )
    cli.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    return cli


def resolve(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Settings from the command line, then K8SCLAW_WEBHOOK_* variables, then defaults."""
    args = parser().parse_args(argv)
    env = os.environ if env is None else env

    def pick(arg: str | None, var: str) -> str | None:
        return arg if arg is not None else env.get(f"K8SCLAW_WEBHOOK_{var}") or None

    dev_url = pick(args.dev_url, "DEV_URL")
    default_name = f"{names.WEBHOOK_CONFIGURATION}-dev" if dev_url else names.WEBHOOK_CONFIGURATION
    return Settings(
        dev_url=dev_url,
        kubeconfig=pick(args.kubeconfig, "KUBECONFIG"),
        listen=pick(args.listen, "LISTEN") or Settings.listen,
        cert_dir=Path(pick(args.cert_dir, "CERT_DIR") or DEFAULT_CERT_DIR),
        namespace=pick(args.namespace, "NAMESPACE")
        or env.get("POD_NAMESPACE")
        or names.SYSTEM_NAMESPACE,
        name=pick(args.name, "NAME") or default_name,
        log_level=(pick(args.log_level, "LOG_LEVEL") or "INFO").upper(),
    )
