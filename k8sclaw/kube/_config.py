"""Where the CLI and TUI connect to: kubeconfig from --kubeconfig, KUBECONFIG or ~/.kube/config.

Resolved in one place (argument → environment → default) so every command agrees,
and a missing file or context becomes one `NoKubeconfigError` with the fix, not a traceback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from k8sclaw.kube import _errors

DEFAULT_NAMESPACE = "default"
_NO_CONFIG_HINT = (
    "point --kubeconfig or KUBECONFIG at a kubeconfig file, or create a cluster "
    "(e.g. `kind create cluster`) and check `kubectl cluster-info`"
)


@dataclass(frozen=True)
class ClusterTarget:
    """Which cluster to talk to, as the user asked for it (flags of every command)."""

    kubeconfig: str | None = None
    context: str | None = None


@dataclass(frozen=True)
class Connection:
    """A configured API client plus what the kubeconfig context says."""

    api_client: Any  # kubernetes.client.ApiClient (kept untyped: the client ships no stubs)
    server: str
    context: str
    namespace: str


def kubeconfig_paths(target: ClusterTarget) -> list[Path]:
    """The kubeconfig files to read: argument, else $KUBECONFIG (path list), else default."""
    raw = target.kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p]


def connect(target: ClusterTarget) -> Connection:
    """Build an ApiClient for `target`, or raise `NoKubeconfigError` saying what is missing."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    paths = [p for p in kubeconfig_paths(target) if p.is_file()]
    if not paths:
        if not target.kubeconfig and os.environ.get("KUBERNETES_SERVICE_HOST"):
            return _in_cluster()
        wanted = target.kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        raise _errors.NoKubeconfigError(f"no kubeconfig found at {wanted}", hint=_NO_CONFIG_HINT)
    files = os.pathsep.join(str(p) for p in paths)
    _check_yaml(paths)
    try:
        contexts, current = config.list_kube_config_contexts(config_file=files)  # type: ignore[no-untyped-call]
        chosen = pick_context(contexts, current, target.context)
        configuration = client.Configuration()
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=files,
            context=chosen["name"],
            client_configuration=configuration,
            persist_config=False,
        )
    except ConfigException as exc:
        message = " ".join(str(exc).split())
        raise _errors.NoKubeconfigError(
            f"kubeconfig {files}: {message}", hint=_NO_CONFIG_HINT
        ) from exc
    configuration.retries = 0
    namespace = chosen.get("context", {}).get("namespace") or DEFAULT_NAMESPACE
    return Connection(
        client.ApiClient(configuration), configuration.host, chosen["name"], namespace
    )


def context_names(target: ClusterTarget) -> list[str]:
    """The context names of the kubeconfig `target` reads (sorted; [] when there is none)."""
    from kubernetes import config

    paths = [p for p in kubeconfig_paths(target) if p.is_file()]
    if not paths:
        return []
    _check_yaml(paths)
    files = os.pathsep.join(str(p) for p in paths)
    contexts, _ = config.list_kube_config_contexts(config_file=files)  # type: ignore[no-untyped-call]
    return sorted(str(c["name"]) for c in contexts)


def _check_yaml(paths: list[Path]) -> None:
    """A kubeconfig that is not YAML is the user's file to fix: say which file, line and why.

    The kubernetes client would raise the parser's own exception, which reads like a bug
    in k8sclaw ("unexpected ScannerError ... report it").
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for path in paths:
        try:
            yaml.load(path.read_bytes(), Loader=loader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            raise _errors.NoKubeconfigError(
                f"kubeconfig {path} is not valid YAML: {where}{exc.problem or exc.context}",
                hint=f"fix {path} (check the indentation there), or pass another --kubeconfig",
            ) from exc
        except (OSError, yaml.YAMLError) as exc:
            raise _errors.NoKubeconfigError(
                f"cannot read kubeconfig {path}: {exc}", hint=_NO_CONFIG_HINT
            ) from exc


def pick_context(
    contexts: list[dict[str, Any]], current: dict[str, Any] | None, wanted: str | None
) -> dict[str, Any]:
    if wanted:
        for ctx in contexts:
            if ctx["name"] == wanted:
                return ctx
        known = ", ".join(sorted(c["name"] for c in contexts)) or "none"
        raise _errors.NoKubeconfigError(
            f"context {wanted!r} not found in kubeconfig (known: {known})",
            hint="pick one with --context, see `kubectl config get-contexts`",
        )
    if not current:
        raise _errors.NoKubeconfigError(
            "kubeconfig has no current context",
            hint="pass --context, or run `kubectl config use-context <name>`",
        )
    return current


def _in_cluster() -> Connection:
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    ns_file = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    namespace = ns_file.read_text().strip() if ns_file.is_file() else DEFAULT_NAMESPACE
    return Connection(client.ApiClient(configuration), configuration.host, "in-cluster", namespace)
