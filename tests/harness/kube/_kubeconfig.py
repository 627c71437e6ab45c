"""Kubeconfig files pointing at the emulator, and official clients built from them."""

from __future__ import annotations

import base64
from pathlib import Path

import kubernetes
import yaml


def write_kubeconfig(path: Path, server_url: str, namespace: str = "default") -> Path:
    """A kubeconfig with one cluster/user/context named `k8sclaw-emulator`, made current."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "k8sclaw-emulator", "cluster": {"server": server_url}}],
        "users": [{"name": "k8sclaw-emulator", "user": {"token": "emulator-token"}}],
        "contexts": [
            {
                "name": "k8sclaw-emulator",
                "context": {
                    "cluster": "k8sclaw-emulator",
                    "user": "k8sclaw-emulator",
                    "namespace": namespace,
                },
            }
        ],
        "current-context": "k8sclaw-emulator",
        "preferences": {},
    }
    path.write_text(yaml.safe_dump(config))
    return path


def write_cert_kubeconfig(
    path: Path, server_url: str, ca: bytes, cert: bytes, key: bytes, *, namespace: str = "default"
) -> Path:
    """A kubeconfig whose user is a client certificate (the server checked against `ca`)."""

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "k8sclaw-emulator-tls",
                "cluster": {"server": server_url, "certificate-authority-data": b64(ca)},
            }
        ],
        "users": [
            {
                "name": "cert-user",
                "user": {"client-certificate-data": b64(cert), "client-key-data": b64(key)},
            }
        ],
        "contexts": [
            {
                "name": "cert-user",
                "context": {
                    "cluster": "k8sclaw-emulator-tls",
                    "user": "cert-user",
                    "namespace": namespace,
                },
            }
        ],
        "current-context": "cert-user",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def api_client(kubeconfig: Path) -> kubernetes.client.ApiClient:
    """An official-client ApiClient configured from a kubeconfig file (never the global one)."""
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(
        config_file=str(kubeconfig), client_configuration=configuration
    )
    return kubernetes.client.ApiClient(configuration)


def server_of(kubeconfig: Path) -> str:
    """The API server URL of the kubeconfig's current context."""
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(
        config_file=str(kubeconfig), client_configuration=configuration
    )
    return str(configuration.host)
