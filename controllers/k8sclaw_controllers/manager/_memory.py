"""Agent-written memory: `agent.memory.update` → the instance's `<instance>-memory` ConfigMap.

The agent pod cannot write its memory (it is mounted read-only); it proposes an update
through `/ipc/memory/update-*.json`, its bridge publishes it on
`k8sclaw.agent.memory.update.<ns>.<run>`, and this controller applies it. Which run and
so which instance comes from that subject, never from the payload. The payload is
untrusted text that every later run reads as part of its system prompt, so it is
cleaned first (`sanitize`: control characters, protocol markers, chat-template and
role markers removed, top-level headings demoted so it cannot pose as a prompt section),
capped per update (`UPDATE_CAP`) and as a whole (the instance's `memory.maxSizeKB`, at
most `DOCUMENT_CAP`, the newest text kept), and recorded with one Event per change.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

from pydantic import ValidationError

from k8sclaw_controllers.manager import _kube
from k8sclaw_controllers.manager._context import Context
from k8sclaw_protocol import ClawInstance, Event, MemoryUpdate, ipc, names

log = logging.getLogger("k8sclaw.controller.memory")
Body = dict[str, Any]
UPDATE_CAP: Final = 8 * 1024
"""Bytes of one update kept (the rest is dropped)."""
DOCUMENT_CAP: Final = 32 * 1024
"""Bytes of the whole memory document at most (the runner reads no more)."""
_ATTEMPTS = 5
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_MARKERS = re.compile(
    r"__K8SCLAW_[A-Z_]*__"  # result / memory markers of any spelling
    r"|<\|[^|<>\n]{0,40}\|>"  # <|im_start|>, <|system|>, <|endoftext|>
    r"|\[/?INST\]|<</?SYS>>"  # Llama-style
    r"|</?\s*(?:system|assistant|user|tool|instructions?)\s*>",  # role tags
    re.IGNORECASE,
)
_TOP_HEADING = re.compile(r"^(#{1,2})(?=\s)", re.MULTILINE)


def sanitize(text: str) -> tuple[str, bool]:
    """`text` cleaned for the system prompt, and whether anything was removed."""
    cleaned = ipc.strip_markers(text.replace("\r\n", "\n"))
    cleaned = _CONTROL.sub("", cleaned)
    cleaned = _MARKERS.sub("", cleaned)
    cleaned = _TOP_HEADING.sub("###", cleaned)
    return cleaned.strip(), cleaned.strip() != text.strip()


def clip_bytes(text: str, cap: int, *, keep_end: bool = False) -> str:
    """At most `cap` UTF-8 bytes of `text` (its end when `keep_end`), on a character
    boundary."""
    raw = text.encode()
    if len(raw) <= cap:
        return text
    part = raw[-cap:] if keep_end else raw[:cap]
    return part.decode(errors="ignore")


def merged(current: str, update: MemoryUpdate, cap: int) -> tuple[str, list[str]]:
    """The new document and notes on what was changed in the update."""
    notes = []
    content, stripped = sanitize(update.content)
    if stripped:
        notes.append("markers or control characters stripped")
    if len(content.encode()) > UPDATE_CAP:
        content = clip_bytes(content, UPDATE_CAP)
        notes.append(f"update clamped to {UPDATE_CAP} bytes")
    document = content if update.mode == "replace" else f"{current.rstrip()}\n\n{content}"
    if len(document.encode()) > cap:
        document = clip_bytes(document, cap, keep_end=True)
        notes.append(f"memory clamped to its newest {cap} bytes")
    return document.strip() + "\n", notes


async def on_update(ctx: Context, namespace: str, run: str, event: Event) -> None:
    """Apply one update published by run `run`'s bridge."""
    try:
        update = MemoryUpdate.model_validate(event.data)
    except ValidationError:
        log.warning("ignoring a malformed memory update from %s/%s", namespace, run)
        return
    instance_name = await _instance_of(ctx, namespace, run)
    if instance_name is None:
        return
    instance_body = await _instance_body(ctx, namespace, instance_name)
    if instance_body is None:
        return
    instance = ClawInstance.from_wire(instance_body)
    memory = instance.spec.memory
    if memory is not None and not memory.enabled:
        ctx.event(instance_body, "MemoryUpdateIgnored", f"run {run}: memory is disabled", True)
        return
    cap = min(DOCUMENT_CAP, (memory.max_size_kb if memory else 256) * 1024)
    notes = await _apply(ctx, namespace, instance_name, update, cap)
    if notes is None:
        ctx.event(instance_body, "MemoryUpdateIgnored", f"run {run}: no memory ConfigMap", True)
        return
    detail = f" ({'; '.join(notes)})" if notes else ""
    message = f"run {run} {'replaced' if update.mode == 'replace' else 'appended to'} memory"
    ctx.event(instance_body, "MemoryUpdated", message + detail, warning=bool(notes))


async def _apply(
    ctx: Context, namespace: str, instance: str, update: MemoryUpdate, cap: int
) -> list[str] | None:
    """Write the merged document (read, modify, write with the read resourceVersion);
    None when the ConfigMap does not exist."""
    path = _kube.core(namespace, "configmaps", names.memory_configmap_name(instance))
    notes: list[str] = []
    for _ in range(_ATTEMPTS):
        try:
            body = await ctx.kube.get(path)
        except _kube.NotFoundError:
            return None
        current = (body.get("data") or {}).get(names.MEMORY_KEY, "")
        document, notes = merged(current, update, cap)
        version = body["metadata"].get("resourceVersion")
        patch = {
            "metadata": {"resourceVersion": version},
            "data": {names.MEMORY_KEY: document},
        }
        try:
            await ctx.kube.patch(path, patch, read=False)
            return notes
        except _kube.ConflictError:
            continue
    log.warning("gave up updating %s/%s's memory after conflicts", namespace, instance)
    return notes


async def _instance_of(ctx: Context, namespace: str, run: str) -> str | None:
    record = ctx.state.runs.get((namespace, run))
    if record is not None:
        return record.instance
    try:
        body = await ctx.kube.get(_kube.claw(namespace, "agentruns", run))
    except _kube.NotFoundError:
        return None
    instance: str | None = (body.get("spec") or {}).get("instanceRef")
    return instance


async def _instance_body(ctx: Context, namespace: str, name: str) -> Body | None:
    body = ctx.state.instances.get((namespace, name))
    if body is not None:
        return body
    try:
        return await ctx.kube.get(_kube.claw(namespace, "clawinstances", name))
    except _kube.NotFoundError:
        return None
