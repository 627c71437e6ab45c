"""Seeded objects for TUI tests and the bench: instances, runs, policies, skill packs, pods."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from k8sclaw.tui import K8sClawApp, Pod, RowsChanged
from k8sclaw_protocol import (
    AgentRun,
    ClawInstance,
    ClawPolicy,
    ClawSchedule,
    SkillPack,
    build_run,
)

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def instance(
    name: str, namespace: str = "default", *, uid: str = "", channel: bool = True
) -> ClawInstance:
    """A ClawInstance with an OpenAI default agent, a policy and (optionally) a telegram channel."""
    spec: dict[str, Any] = {
        "agents": {"default": {"model": "gpt-4o", "provider": "openai"}},
        "authRefs": [{"provider": "openai", "secret": f"{name}-openai-key"}],
        "policyRef": "default-policy",
        "channels": [{"type": "telegram", "configRef": {"secret": f"{name}-telegram"}}]
        if channel
        else [],
    }
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if uid:
        meta |= {"uid": uid, "creationTimestamp": (NOW - timedelta(days=2)).isoformat()}
    return ClawInstance.from_wire(
        {
            "apiVersion": "k8sclaw.io/v1alpha1",
            "kind": "ClawInstance",
            "metadata": meta,
            "spec": spec,
        }
    )


def run(
    inst: ClawInstance, name: str, task: str, *, phase: str = "", result: str = "", age_s: int = 300
) -> AgentRun:
    """A run of `inst` built by the shared builder, with a uid, age and optional status."""
    built = build_run(inst, task, source="tui", name=name)
    wire = built.to_wire()
    wire["metadata"] |= {
        "uid": f"uid-{name}",
        "creationTimestamp": (NOW - timedelta(seconds=age_s)).isoformat(),
    }
    if phase:
        wire["status"] = {"phase": phase, "result": result or None, "podName": f"{name}-pod"}
    return AgentRun.from_wire(wire)


def policy(name: str, namespace: str = "default") -> ClawPolicy:
    """A policy with two feature gates."""
    return ClawPolicy.from_wire(
        {
            "apiVersion": "k8sclaw.io/v1alpha1",
            "kind": "ClawPolicy",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": f"uid-{name}",
                "creationTimestamp": (NOW - timedelta(hours=3)).isoformat(),
            },
            "spec": {"featureGates": {"code-execution": True, "browser-automation": False}},
        }
    )


def skillpack(name: str, namespace: str = "default") -> SkillPack:
    """A skill pack with one skill."""
    return SkillPack.from_wire(
        {
            "apiVersion": "k8sclaw.io/v1alpha1",
            "kind": "SkillPack",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": f"uid-{name}",
                "creationTimestamp": (NOW - timedelta(minutes=5)).isoformat(),
            },
            "spec": {"skills": [{"name": "k8s-ops", "content": "# ops"}]},
        }
    )


def schedule(name: str, instance_name: str) -> ClawSchedule:
    """An active hourly heartbeat that has run twice."""
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    return ClawSchedule.from_wire(
        {
            "apiVersion": "k8sclaw.io/v1alpha1",
            "kind": "ClawSchedule",
            "metadata": {
                "name": name,
                "namespace": "default",
                "uid": f"uid-{name}",
                "creationTimestamp": (NOW - timedelta(hours=3)).strftime(stamp),
            },
            "spec": {
                "instanceRef": instance_name,
                "schedule": "0 * * * *",
                "task": "review memory",
                "type": "heartbeat",
            },
            "status": {
                "phase": "Active",
                "lastRunTime": NOW.strftime(stamp),
                "nextScheduleTime": (NOW + timedelta(hours=1)).strftime(stamp),
                "totalRuns": 2,
            },
        }
    )


def pod(name: str, instance_name: str) -> Pod:
    """An agent pod record."""
    return Pod.from_wire(
        {
            "metadata": {
                "name": name,
                "namespace": "default",
                "uid": f"uid-{name}",
                "labels": {"k8sclaw.io/instance": instance_name, "k8sclaw.io/role": "agent"},
                "creationTimestamp": (NOW - timedelta(seconds=42))
                .isoformat()
                .replace("+00:00", "Z"),
            },
            "spec": {"nodeName": "node-1"},
            "status": {"phase": "Running", "podIP": "10.0.0.7"},
        }
    )


async def seed(app: K8sClawApp) -> None:
    """Feed the app two instances, three runs, a policy, a skill pack, a schedule, a pod."""
    alpha = instance("alpha", uid="uid-alpha")
    beta = instance("beta", uid="uid-beta", channel=False)
    app.post_message(RowsChanged("instances", [alpha, beta], [], reset=True))
    app.post_message(
        RowsChanged(
            "runs",
            [
                run(alpha, "alpha-run-1", "say hi", phase="Succeeded", result="hello there"),
                run(alpha, "alpha-run-2", "count to three", phase="Running", age_s=7200),
                run(beta, "beta-run-1", "fail please", phase="Failed", age_s=200_000),
            ],
            [],
            reset=True,
        )
    )
    app.post_message(RowsChanged("policies", [policy("default-policy")], [], reset=True))
    app.post_message(RowsChanged("skills", [skillpack("ops")], [], reset=True))
    app.post_message(RowsChanged("schedules", [schedule("hourly", "alpha")], [], reset=True))
    app.post_message(RowsChanged("pods", [pod("alpha-run-2-abcde", "alpha")], [], reset=True))
    await settle(app, lambda: app.store.counts()["pods"] == 1)


async def settle(app: K8sClawApp, cond: Callable[[], bool]) -> None:
    """Let the app handle posted messages until `cond` holds (bounded, no fixed sleep)."""
    for _ in range(500):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the app did not process the seeded messages")


async def submit(pilot: Pilot[int], line: str, *keys: str) -> None:
    """Open the command line with `/`, set `line`, submit it as Enter does (then press `keys`).

    Typing character by character costs a Pilot round trip (~100 ms) per key; tests
    where typing itself is under test (completion, filter as you type) still press keys.
    """
    await pilot.press("slash")
    command = pilot.app.query_one("#command", Input)
    assert command.has_focus, "the command line did not open"
    command.value = line
    await command.action_submit()  # what Enter is bound to in an Input
    await pilot.pause()
    if keys:
        await pilot.press(*keys)
