"""Pure builders for ClawInstance children: per channel a Deployment running
`k8sclaw-channel <type>`, a NetworkPolicy (bus, DNS and HTTPS out; the webhook port in)
and, in webhook mode, a Service and optionally an Ingress; and the memory ConfigMap."""

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
WEBHOOK_PORT = 3000
"""Where a webhook-mode channel pod listens for the platform (`K8SCLAW_LISTEN_PORT`)."""
HEALTH_PORT = 8080
"""The channel pod's `/healthz` (readiness)."""
BUS_PORT = 4222
HTTPS_PORT = 443


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
    ports = [{"name": "health", "containerPort": HEALTH_PORT, "protocol": "TCP"}]
    if needs_webhook(channel):
        ports.append({"name": "webhook", "containerPort": WEBHOOK_PORT, "protocol": "TCP"})
    container: Body = {
        "name": "channel",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": [channel.type],
        "env": [
            {"name": "CHANNEL_TYPE", "value": channel.type},
            {"name": "INSTANCE_NAME", "value": instance.name},
            {
                "name": "POD_NAMESPACE",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
            },
            {"name": "EVENT_BUS_URL", "value": event_bus_url},
            {"name": "K8SCLAW_TMP_DIR", "value": _jobbuilder.TMP_DIR},
            *_spec_env(channel),
        ],
        "envFrom": [{"secretRef": {"name": channel.config_ref.secret}}],
        "ports": ports,
        "readinessProbe": {
            "httpGet": {"path": "/healthz", "port": "health"},
            "periodSeconds": 10,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        },
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


def needs_webhook(channel: ChannelSpec) -> bool:
    """WhatsApp always; Telegram and Slack when `mode: webhook` (poll/socket need none)."""
    return channel.type == "whatsapp" or channel.mode == "webhook"


def _spec_env(channel: ChannelSpec) -> list[Body]:
    """Allow lists and mode from the spec (an unset list is no variable: everyone)."""
    env: list[Body] = []
    for name, values in (
        ("K8SCLAW_ALLOWED_SENDERS", channel.allowed_senders),
        ("K8SCLAW_ALLOWED_CHATS", channel.allowed_chats),
    ):
        if values is not None:
            env.append({"name": name, "value": ",".join(values)})
    if channel.mode is not None:
        env.append({"name": "K8SCLAW_CHANNEL_MODE", "value": channel.mode})
    if needs_webhook(channel):
        env.append({"name": "K8SCLAW_LISTEN_PORT", "value": str(WEBHOOK_PORT)})
    return env


def _child_meta(instance: ClawInstance, channel: ChannelSpec) -> Body:
    return {
        "name": names.channel_deployment_name(instance.name, channel.type),
        "namespace": instance.namespace,
        "labels": channel_labels(instance.name, channel.type),
        "ownerReferences": owner(instance),
    }


def _selector(instance: ClawInstance, channel: ChannelSpec) -> dict[str, str]:
    return {names.LABEL_INSTANCE: instance.name, names.LABEL_CHANNEL: channel.type}


def channel_service(instance: ClawInstance, channel: ChannelSpec) -> Body:
    """The Service through which the platform (via an Ingress) reaches a webhook-mode pod."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _child_meta(instance, channel),
        "spec": {
            "selector": _selector(instance, channel),
            "ports": [
                {
                    "name": "webhook",
                    "port": WEBHOOK_PORT,
                    "targetPort": "webhook",
                    "protocol": "TCP",
                }
            ],
        },
    }


def channel_ingress(instance: ClawInstance, channel: ChannelSpec) -> Body | None:
    """An Ingress for `webhookHost` (webhook mode only); TLS is the cluster's business
    (an ingress class or cert-manager annotations added by the operator)."""
    if not (channel.webhook_host and needs_webhook(channel)):
        return None
    name = names.channel_deployment_name(instance.name, channel.type)
    backend = {"service": {"name": name, "port": {"number": WEBHOOK_PORT}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _child_meta(instance, channel),
        "spec": {
            "rules": [
                {
                    "host": channel.webhook_host,
                    "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
                }
            ]
        },
    }


def channel_network_policy(instance: ClawInstance, channel: ChannelSpec) -> Body:
    """A channel pod reaches the bus, DNS and HTTPS (its platform) and nothing else; only
    the webhook port (webhook mode) and the health port (probes) are open to it."""
    inbound = [{"ports": [{"protocol": "TCP", "port": HEALTH_PORT}]}]
    if needs_webhook(channel):
        inbound.append({"ports": [{"protocol": "TCP", "port": WEBHOOK_PORT}]})
    anywhere = [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _child_meta(instance, channel),
        "spec": {
            "podSelector": {"matchLabels": _selector(instance, channel)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": inbound,
            "egress": [
                {"ports": [{"protocol": "TCP", "port": BUS_PORT}]},
                {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
                {"to": anywhere, "ports": [{"protocol": "TCP", "port": HTTPS_PORT}]},
            ],
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
