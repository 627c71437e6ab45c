"""Slash commands that edit a ClawInstance: `/channel`, `/rmchannel`, `/provider`, `/baseurl`.

Each `prepare_*` checks the arguments against the store on the UI thread (a bad line gets
its usage at once) and returns the cluster call for a worker. The call re-reads the
instance and sends a JSON merge patch, so a stale store never overwrites newer edits of
other fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from k8sclaw.kube import Kube
from k8sclaw.tui._store import INSTANCES, Store
from k8sclaw_protocol import CHANNEL_TYPES, PROVIDERS, ClawInstance

Op = Callable[[], str]
Prepare = Callable[[Kube, str, Store, list[str]], Op]
OPENAI_COMPATIBLE = "openai-compatible"


class UsageError(ValueError):
    """The command line does not name what the command needs; the message says what to type."""


def _instance(store: Store, args: list[str], count: int, usage: str) -> ClawInstance:
    if len(args) < count:
        raise UsageError(f"usage: /{usage}")
    inst: ClawInstance | None = store.by_name(INSTANCES, args[0])
    if inst is None:
        raise UsageError(f"no instance {args[0]!r}: /{usage} (Tab completes names)")
    return inst


def _channels(kube: Kube, inst: ClawInstance) -> list[dict[str, Any]]:
    fresh = kube.get(ClawInstance, inst.name, inst.namespace)
    return [c.model_dump(by_alias=True, exclude_none=True) for c in fresh.spec.channels]


def prepare_channel(kube: Kube, ns: str, store: Store, args: list[str]) -> Op:
    """/channel <inst> <type> <secret>: append a channel (one per type)."""
    usage = "channel <instance> <telegram|slack|discord|whatsapp> <secret>"
    inst = _instance(store, args, 3, usage)
    kind, secret = args[1].lower(), args[2]
    if kind not in CHANNEL_TYPES:
        raise UsageError(f"unknown channel type {kind!r}: one of {', '.join(CHANNEL_TYPES)}")

    def op() -> str:
        channels = _channels(kube, inst)
        if any(c["type"] == kind for c in channels):
            raise UsageError(f"{inst.name} already has a {kind} channel: /rmchannel it first")
        channels.append({"type": kind, "configRef": {"secret": secret}})
        kube.patch(ClawInstance, inst.name, ns, {"spec": {"channels": channels}})
        return f"added {kind} channel (secret {secret}) to {inst.name}"

    return op


def prepare_rmchannel(kube: Kube, ns: str, store: Store, args: list[str]) -> Op:
    """/rmchannel <inst> <type>: remove the channel of that type (case-insensitive)."""
    inst = _instance(store, args, 2, "rmchannel <instance> <type>")
    kind = args[1].lower()

    def op() -> str:
        channels = _channels(kube, inst)
        kept = [c for c in channels if c["type"] != kind]
        if len(kept) == len(channels):
            raise UsageError(f"{inst.name} has no {kind} channel")
        kube.patch(ClawInstance, inst.name, ns, {"spec": {"channels": kept}})
        return f"removed {kind} channel from {inst.name}"

    return op


def prepare_provider(kube: Kube, ns: str, store: Store, args: list[str]) -> Op:
    """/provider <inst> <provider> <model>: set the default agent's provider and model.

    The base URL is cleared unless the provider is openai-compatible (a URL of the old
    provider would send the new provider's key to the wrong endpoint).
    """
    inst = _instance(store, args, 3, "provider <instance> <provider> <model>")
    provider, model = args[1].lower(), args[2]
    if provider not in PROVIDERS:
        raise UsageError(f"unknown provider {provider!r}: one of {', '.join(PROVIDERS)}")
    default: dict[str, Any] = {"provider": provider, "model": model}
    if provider != OPENAI_COMPATIBLE:
        default["baseURL"] = None

    def op() -> str:
        kube.patch(ClawInstance, inst.name, ns, {"spec": {"agents": {"default": default}}})
        return f"{inst.name} now uses {provider} {model}"

    return op


def prepare_baseurl(kube: Kube, ns: str, store: Store, args: list[str]) -> Op:
    """/baseurl <inst> <url>: set the default agent's endpoint override."""
    inst = _instance(store, args, 2, "baseurl <instance> <url>")
    url = args[1]
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"base URL must start with http:// or https://, not {url!r}")

    def op() -> str:
        patch = {"spec": {"agents": {"default": {"baseURL": url}}}}
        kube.patch(ClawInstance, inst.name, ns, patch)
        return f"{inst.name} base URL set to {url}"

    return op


EDITS: dict[str, Prepare] = {
    "channel": prepare_channel,
    "rmchannel": prepare_rmchannel,
    "provider": prepare_provider,
    "baseurl": prepare_baseurl,
}
