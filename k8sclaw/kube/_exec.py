"""Exec credential plugins (`users[].user.exec`), run as kubectl runs them.

The plugin gets `KUBERNETES_EXEC_INFO` (an ExecCredential with `spec.interactive` and,
when asked for, `spec.cluster`) plus the configured env, and prints an ExecCredential
whose `status` holds a bearer token or a PEM client certificate and key. A failing
plugin is a `ForbiddenError`: the credentials could not be obtained.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from k8sclaw.kube import _errors

_HINT = "run the credential plugin by hand to see why, or refresh your login to the cluster"


@dataclass(frozen=True)
class ExecCredential:
    """What a plugin returned: a token, or a client certificate and key (PEM)."""

    token: str | None = None
    client_cert_pem: str | None = None
    client_key_pem: str | None = None


def run_plugin(spec: dict[str, Any], *, cluster: dict[str, Any], context: str) -> ExecCredential:
    """Run the plugin of `spec` and return its credential."""
    command = str(spec.get("command") or "")
    if not command:
        raise _errors.ForbiddenError(
            f"context {context!r}: exec credential plugin has no command", hint=_HINT
        )
    interactive = spec.get("interactiveMode") != "Never" and sys.stdin.isatty()
    info: dict[str, Any] = {
        "apiVersion": spec.get("apiVersion") or "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "spec": {"interactive": interactive},
    }
    if spec.get("provideClusterInfo"):
        info["spec"]["cluster"] = _cluster_info(cluster)
    env = dict(os.environ)
    env.update({str(e["name"]): str(e["value"]) for e in spec.get("env") or []})
    env["KUBERNETES_EXEC_INFO"] = json.dumps(info)
    argv = [command, *(str(a) for a in spec.get("args") or [])]
    try:
        proc = subprocess.run(
            argv,
            env=env,
            stdin=None if interactive else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            check=False,
        )
    except OSError as exc:
        raise _errors.ForbiddenError(
            f"exec credential plugin {command!r} could not start: {exc.strerror}", hint=_HINT
        ) from exc
    if proc.returncode != 0:
        raise _errors.ForbiddenError(
            f"exec credential plugin {command!r} exited with {proc.returncode}", hint=_HINT
        )
    return _parse(command, proc.stdout)


def _parse(command: str, stdout: bytes) -> ExecCredential:
    try:
        status = json.loads(stdout).get("status") or {}
    except (ValueError, AttributeError) as exc:
        raise _errors.ForbiddenError(
            f"exec credential plugin {command!r} did not print an ExecCredential", hint=_HINT
        ) from exc
    cred = ExecCredential(
        token=status.get("token") or None,
        client_cert_pem=status.get("clientCertificateData") or None,
        client_key_pem=status.get("clientKeyData") or None,
    )
    if not cred.token and not (cred.client_cert_pem and cred.client_key_pem):
        raise _errors.ForbiddenError(
            f"exec credential plugin {command!r} returned neither a token nor a client "
            "certificate and key",
            hint=_HINT,
        )
    return cred


def _cluster_info(cluster: dict[str, Any]) -> dict[str, Any]:
    """`spec.cluster` of ExecCredential (client-go's camelCase) from a kubeconfig cluster."""
    info: dict[str, Any] = {"server": cluster.get("server", "")}
    if cluster.get("certificate-authority-data"):
        info["certificateAuthorityData"] = cluster["certificate-authority-data"]
    if cluster.get("tls-server-name"):
        info["tlsServerName"] = cluster["tls-server-name"]
    if cluster.get("insecure-skip-tls-verify"):
        info["insecureSkipTLSVerify"] = True
    for ext in cluster.get("extensions") or []:
        if isinstance(ext, dict) and ext.get("name") == "client.authentication.k8s.io/exec":
            info["config"] = ext.get("extension")
    return info
