"""Retention: the sweep that enforces it, the policy read from ClawInstances, the loop.

Per instance, runs idle (no event recorded) for longer than `days` are dropped whole;
then the instance is trimmed to its newest `max_events` events; runs left with no
events and sessions left with no runs go too. Ages use the recorder's clock, never a
payload timestamp, so an agent cannot keep its transcript forever by lying about time.

An instance chooses its own limits with the annotations `k8sclaw.io/transcript-retention-days`
and `k8sclaw.io/transcript-max-events` (no CRD change needed); the API server's flags
give the default.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol

from k8sclaw_controllers.manager import _kube
from k8sclaw_controllers.transcripts import _driver, _rows
from k8sclaw_protocol import names

log = logging.getLogger("k8sclaw.transcripts")

ANNOTATION_DAYS: Final = "k8sclaw.io/transcript-retention-days"
ANNOTATION_MAX_EVENTS: Final = "k8sclaw.io/transcript-max-events"
DAY_MS: Final = 86_400_000

_REFRESH_RUN: Final = (
    "UPDATE runs SET"
    " event_count = (SELECT COUNT(*) FROM events e"
    "  WHERE e.namespace = runs.namespace AND e.run = runs.run),"
    " last_seq = (SELECT COALESCE(MAX(e.seq), 0) FROM events e"
    "  WHERE e.namespace = runs.namespace AND e.run = runs.run)"
    " WHERE namespace = ? AND instance = ?"
)


async def _expire(tx: _driver.Tx, ns: str, instance: str, cutoff_ms: int) -> tuple[int, int]:
    old = "SELECT run FROM runs WHERE namespace = ? AND instance = ? AND updated_ms < ?"
    params = (ns, instance, cutoff_ms)
    events = await tx.execute(
        f"DELETE FROM events WHERE namespace = ? AND run IN ({old})", (ns, *params)
    )
    runs = await tx.execute(
        "DELETE FROM runs WHERE namespace = ? AND instance = ? AND updated_ms < ?", params
    )
    return events, runs


async def _trim(tx: _driver.Tx, ns: str, instance: str, keep: int) -> int:
    of_instance = "SELECT run FROM runs WHERE namespace = ? AND instance = ?"
    rows = await tx.fetch(
        f"SELECT seq FROM events WHERE namespace = ? AND run IN ({of_instance})"
        " ORDER BY seq DESC LIMIT 1 OFFSET ?",
        (ns, ns, instance, keep),
    )
    if not rows:
        return 0
    return await tx.execute(
        f"DELETE FROM events WHERE seq <= ? AND namespace = ? AND run IN ({of_instance})",
        (rows[0][0], ns, ns, instance),
    )


async def _sweep_instance(
    tx: _driver.Tx, ns: str, instance: str, keep: _rows.Retention, now_ms: int
) -> tuple[int, int]:
    events = runs = 0
    if keep.days is not None:
        events, runs = await _expire(tx, ns, instance, now_ms - int(keep.days * DAY_MS))
    if keep.max_events is not None:
        events += await _trim(tx, ns, instance, max(keep.max_events, 0))
    if events:
        await tx.execute(_REFRESH_RUN, (ns, instance))
        runs += await tx.execute(
            "DELETE FROM runs WHERE namespace = ? AND instance = ? AND event_count = 0",
            (ns, instance),
        )
    return events, runs


async def sweep(
    driver: _driver.Driver, policy: _rows.RetentionPolicy, now_ms: int
) -> _rows.SweepResult:
    """Enforce `policy` once, one transaction per instance (short write locks)."""
    async with driver.transaction() as tx:
        instances = await tx.fetch("SELECT DISTINCT namespace, instance FROM runs")
    events = runs = 0
    for ns, instance in instances:
        keep = policy.for_instance(ns, instance)
        async with driver.transaction(write=True) as tx:
            gone = await _sweep_instance(tx, ns, instance, keep, now_ms)
        events, runs = events + gone[0], runs + gone[1]
    async with driver.transaction(write=True) as tx:
        sessions = await tx.execute(
            "DELETE FROM sessions WHERE NOT EXISTS (SELECT 1 FROM runs r"
            " WHERE r.namespace = sessions.namespace AND r.instance = sessions.instance"
            " AND r.session_key = sessions.session_key)"
        )
    return _rows.SweepResult(events=events, runs=runs, sessions=sessions)


def _number(annotations: dict[str, Any], key: str) -> float | None:
    try:
        value = float(annotations[key])
    except (KeyError, TypeError, ValueError):
        return None
    return value if value >= 0 else None


def policy_from_instances(
    instances: list[dict[str, Any]], default: _rows.Retention
) -> _rows.RetentionPolicy:
    """Per-instance overrides from ClawInstance annotations (malformed values ignored)."""
    overrides = {}
    for item in instances:
        meta = item.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        days = _number(annotations, ANNOTATION_DAYS)
        events = _number(annotations, ANNOTATION_MAX_EVENTS)
        if days is None and events is None:
            continue
        overrides[(str(meta.get("namespace", "")), str(meta.get("name", "")))] = _rows.Retention(
            days=default.days if days is None else days,
            max_events=default.max_events if events is None else int(events),
        )
    return _rows.RetentionPolicy(default=default, overrides=overrides)


def kube_policy(
    kube: _kube.Kube, default: _rows.Retention
) -> Callable[[], Awaitable[_rows.RetentionPolicy]]:
    """A policy source for `run_sweeper`: lists every ClawInstance at each sweep."""

    async def policy() -> _rows.RetentionPolicy:
        path = _kube.collection(names.GROUP_VERSION, "clawinstances", None)
        return policy_from_instances(await kube.items(path), default)

    return policy


class Sweepable(Protocol):
    async def sweep(
        self, policy: _rows.RetentionPolicy, now_ms: int | None = None
    ) -> _rows.SweepResult: ...


async def run_sweeper(
    store: Sweepable,
    policy: Callable[[], Awaitable[_rows.RetentionPolicy]],
    interval: float = 3600.0,
) -> None:
    """Sweep now and every `interval` seconds until cancelled; a failed sweep is logged and
    tried again at the next tick (retention is eventually enforced, never a crash)."""
    while True:
        try:
            result = await store.sweep(await policy())
            if result.events or result.runs:
                log.info("retention removed %s events, %s runs", result.events, result.runs)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("retention sweep failed (%s); retrying in %ss", exc, interval)
        await asyncio.sleep(interval)
