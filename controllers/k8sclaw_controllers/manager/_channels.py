"""Pure builders for ClawInstance children: channel Deployments and the memory ConfigMap."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from k8sclaw_controllers.manager import _buscreds, _jobbuilder
from k8sclaw_protocol import ChannelSpec, ClawInstance, busauth, names

Body = dict[str, Any]
ANNOTATION_CONFIG_HASH = f"{names.GROUP}/config-hash"
CHANNEL_RESOURCES = {
    "requests": {"cpu": "50m", "memory": "64Mi"},
    "limits": {"cpu": "250m", "memory": "256Mi"},
}
INITIAL_MEMORY = "# Memory\n\nNo memories yet.\n"


def owner(instance: ClawInstance) -> list[Body]:
    """Controller owner reference to the instance (garbage collection on deletion)."""
    return [
        {
            "apiVersion": names.GROUP_VERSION,
            "kind": "ClawInstance",
            "name": instance.name,
            "uid": instance.metadata.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def channel_labels(instance: str, channel_type: str) -> dict[str, str]:
    """Labels of a channel Deployment and its pods."""
    return {
        names.LABEL_COMPONENT: names.COMPONENT_CHANNEL,
        names.LABEL_CHANNEL: channel_type,
        names.LABEL_INSTANCE: instance,
        names.LABEL_MANAGED_BY: names.MANAGED_BY,
    }


def channel_deployment(
    instance: ClawInstance,
    channel: ChannelSpec,
    image: str,
    event_bus_url: str,
    secret_version: str = "",
    *,
    bus_creds_secret: str | None = None,
) -> Body:
    """The Deployment serving one channel; its config hash changes with the secret. With
    `bus_creds_secret`, the instance's channel bus user is mounted as a file."""
    labels = channel_labels(instance.name, channel.type)
    container: Body = {
        "name": "channel",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "env": [
            {"name": "CHANNEL_TYPE", "value": channel.type},
            {"name": "INSTANCE_NAME", "value": instance.name},
            {"name": "EVENT_BUS_URL", "value": event_bus_url},
            {"name": "K8SCLAW_TMP_DIR", "value": _jobbuilder.TMP_DIR},
        ],
        "envFrom": [{"secretRef": {"name": channel.config_ref.secret}}],
        "resources": CHANNEL_RESOURCES,
        "securityContext": _jobbuilder._container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": _jobbuilder.TMP_DIR}],
    }
    volumes: list[Body] = [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    if bus_creds_secret:
        container["env"].append(
            {"name": busauth.ENV_BUS_CREDS_DIR, "value": busauth.BUS_CREDS_MOUNT}
        )
        container["volumeMounts"].append(_buscreds.bridge_mount())
        volumes.append(_buscreds.secret_volume(bus_creds_secret))
    pod_spec = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": _jobbuilder.RUN_AS_ID,
            "runAsGroup": _jobbuilder.RUN_AS_ID,
            "fsGroup": _jobbuilder.RUN_AS_ID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": volumes,
    }
    digest = _hash({"pod": pod_spec, "secretVersion": secret_version})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": names.channel_deployment_name(instance.name, channel.type),
            "namespace": instance.namespace,
            "labels": labels,
            "annotations": {ANNOTATION_CONFIG_HASH: digest},
            "ownerReferences": owner(instance),
        },
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},
            "selector": {
                "matchLabels": {
                    names.LABEL_INSTANCE: instance.name,
                    names.LABEL_CHANNEL: channel.type,
                }
            },
            "template": {
                "metadata": {"labels": labels, "annotations": {ANNOTATION_CONFIG_HASH: digest}},
                "spec": pod_spec,
            },
        },
    }


def memory_configmap(instance: ClawInstance) -> Body:
    """The instance's memory ConfigMap, created once and then left to the agents."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": names.memory_configmap_name(instance.name),
            "namespace": instance.namespace,
            "labels": {
                names.LABEL_INSTANCE: instance.name,
                names.LABEL_COMPONENT: names.COMPONENT_MEMORY,
                names.LABEL_MANAGED_BY: names.MANAGED_BY,
            },
            "ownerReferences": owner(instance),
        },
        "data": {names.MEMORY_KEY: INITIAL_MEMORY},
    }


def _hash(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]
