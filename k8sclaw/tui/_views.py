"""The view registry: one entry per view, all shown by the one generic resource screen.

K8sClaw kinds take their columns and cells from `k8sclaw.render` (so `-o table` and the
TUI agree); only Channels (derived from instances) and Pods (a built-in kind) have their
own small renderers here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from k8sclaw.render import NONE, age, renderer_for
from k8sclaw.render._base import clip, text, until
from k8sclaw.tui._records import Job, KubeEvent
from k8sclaw.tui._store import (
    EVENTS,
    INSTANCES,
    JOBS,
    MODELS,
    PODS,
    POLICIES,
    RUNS,
    SCHEDULES,
    SKILLS,
    Pod,
    Store,
    uid_of,
)
from k8sclaw_protocol import AgentRun, ClawInstance

Row = tuple[str, ...]
RowsFn = Callable[[Store, Iterable[str] | None, datetime], dict[str, Row]]


@dataclass(frozen=True)
class ViewSpec:
    """One view: its names, the store kind it shows, its columns and its empty-state hint."""

    name: str
    title: str
    short: tuple[str, ...]
    kind: str
    headers: tuple[str, ...]
    rows: RowsFn
    empty: str
    derived: bool = False  # rows are not 1:1 with store objects (recompute all on change)
    deletable: bool = True
    tab: bool = True  # in the tab bar (else reached by `:name`, shown there while open)

    def matches(self, word: str) -> bool:
        """Does `word` name this view (name, title or short name; case-insensitive)?"""
        word = word.lower().strip()
        return word in (self.name, self.title.lower(), *self.short)


def _model_rows(kind: str) -> RowsFn:
    renderer = renderer_for(MODELS[kind])

    def rows(store: Store, uids: Iterable[str] | None, now: datetime) -> dict[str, Row]:
        bucket = store.objects[kind]
        keys = bucket.keys() if uids is None else [u for u in uids if u in bucket]
        return {uid: renderer.row(bucket[uid], wide=False, now=now) for uid in keys}

    return rows


def _model_headers(kind: str) -> tuple[str, ...]:
    return tuple(renderer_for(MODELS[kind]).headers(wide=False))


def channel_rows(store: Store, uids: Iterable[str] | None, now: datetime) -> dict[str, Row]:
    """Channels: each instance's spec channels joined with its status by type."""
    rows: dict[str, Row] = {}
    inst: ClawInstance
    for inst in store.objects[INSTANCES].values():
        status = {c.type: c for c in (inst.status.channels if inst.status else [])}
        for channel in inst.spec.channels:
            seen = status.get(channel.type)
            rows[f"{uid_of(inst)}/{channel.type}"] = (
                inst.name,
                channel.type,
                channel.config_ref.secret,
                seen.status if seen else "Unknown",
                age(seen.last_health_check if seen else None, now),
                (seen.message if seen else None) or NONE,
            )
    return rows


def pod_rows(store: Store, uids: Iterable[str] | None, now: datetime) -> dict[str, Row]:
    """Agent pods: NAME INSTANCE PHASE NODE IP RESTARTS AGE."""
    bucket = store.objects[PODS]
    keys = bucket.keys() if uids is None else [u for u in uids if u in bucket]
    out: dict[str, Row] = {}
    for uid in keys:
        pod: Pod = bucket[uid]
        out[uid] = (
            pod.name,
            pod.instance or NONE,
            pod.phase,
            pod.node or NONE,
            pod.ip or NONE,
            str(pod.restarts),
            age(pod.created, now),
        )
    return out


def approval_rows(store: Store, uids: Iterable[str] | None, now: datetime) -> dict[str, Row]:
    """Approvals: each unfinished run's `status.pendingApprovals`, keyed `<run uid>/<id>`."""
    rows: dict[str, Row] = {}
    run: AgentRun
    for run in store.objects[RUNS].values():
        if run.status is None or run.is_terminal:
            continue
        for pending in run.status.pending_approvals or []:
            rows[f"{uid_of(run)}/{pending.id}"] = (
                run.name,
                pending.tool,
                pending.summary.replace("\n", " ") or NONE,
                pending.id,
                until(pending.expires_at, now),
                age(pending.requested_at, now),
            )
    return rows


def approval_id(key: str) -> str:
    """The approval id of an Approvals row key."""
    return key.split("/", 1)[1]


def _pick(store: Store, kind: str, uids: Iterable[str] | None) -> dict[str, Any]:
    bucket = store.objects[kind]
    keys = bucket.keys() if uids is None else [u for u in uids if u in bucket]
    return {uid: bucket[uid] for uid in keys}


def _span(start: datetime | None, end: datetime | None, now: datetime) -> str:
    """How long a Job ran (so far): kubectl's DURATION."""
    return age(start, end or now) if start else NONE


def job_rows(store: Store, uids: Iterable[str] | None, now: datetime) -> dict[str, Row]:
    """Agent Jobs: NAME RUN COMPLETIONS STATUS DURATION AGE."""
    out: dict[str, Row] = {}
    job: Job
    for uid, job in _pick(store, JOBS, uids).items():
        out[uid] = (
            job.name,
            job.run or NONE,
            job.completions,
            job.status,
            _span(job.started, job.finished, now),
            age(job.created, now),
        )
    return out


def event_rows(store: Store, uids: Iterable[str] | None, now: datetime) -> dict[str, Row]:
    """The namespace's Events: LAST SEEN TYPE REASON OBJECT COUNT MESSAGE (agent pods can
    cause Events, so their text is made terminal-safe and clipped)."""
    out: dict[str, Row] = {}
    event: KubeEvent
    for uid, event in _pick(store, EVENTS, uids).items():
        out[uid] = (
            age(event.last, now),
            text(event.type),
            text(event.reason),
            clip(text(event.object), 60),
            str(event.count),
            clip(text(event.message), 200),
        )
    return out


VIEWS: tuple[ViewSpec, ...] = (
    ViewSpec(
        "instances",
        "Instances",
        ("ci", "inst", "instance", "clawinstances"),
        INSTANCES,
        _model_headers(INSTANCES),
        _model_rows(INSTANCES),
        "No instances yet. Press O (or /onboard) to create one.",
    ),
    ViewSpec(
        "runs",
        "Runs",
        ("ar", "run", "agentruns"),
        RUNS,
        _model_headers(RUNS),
        _model_rows(RUNS),
        "No runs yet. Type /run <instance> <task> (or press R) to start one.",
    ),
    ViewSpec(
        "channels",
        "Channels",
        ("ch", "channel"),
        INSTANCES,
        ("INSTANCE", "TYPE", "SECRET", "STATUS", "CHECKED", "MESSAGE"),
        channel_rows,
        "No channels. Add one with `k8sclaw instances edit` or the onboard wizard (O).",
        derived=True,
        deletable=False,
    ),
    ViewSpec(
        "policies",
        "Policies",
        ("cp", "pol", "policy", "clawpolicies"),
        POLICIES,
        _model_headers(POLICIES),
        _model_rows(POLICIES),
        "No policies. The onboard wizard (O) creates default-policy.",
    ),
    ViewSpec(
        "skills",
        "Skills",
        ("sp", "skill", "skillpacks"),
        SKILLS,
        _model_headers(SKILLS),
        _model_rows(SKILLS),
        "No skill packs. Create one with `kubectl apply -f` a SkillPack manifest.",
    ),
    ViewSpec(
        "pods",
        "Pods",
        ("po", "pod"),
        PODS,
        ("NAME", "INSTANCE", "PHASE", "NODE", "IP", "RESTARTS", "AGE"),
        pod_rows,
        "No agent pods running. Start a run with /run <task>.",
    ),
    ViewSpec(
        "schedules",
        "Schedules",
        ("cs", "schedule", "clawschedules"),
        SCHEDULES,
        _model_headers(SCHEDULES),
        _model_rows(SCHEDULES),
        "No schedules. Create one with `k8sclaw schedules create NAME --schedule CRON --task T`.",
    ),
    ViewSpec(
        "approvals",
        "Approvals",
        ("ap", "approval"),
        RUNS,
        ("RUN", "TOOL", "SUMMARY", "ID", "EXPIRES", "AGE"),
        approval_rows,
        "No tool calls wait for approval. Calls to tools a ClawPolicy gates `ask` show here.",
        derived=True,
        deletable=False,
    ),
    ViewSpec(
        "jobs",
        "Jobs",
        ("job",),
        JOBS,
        ("NAME", "RUN", "COMPLETIONS", "STATUS", "DURATION", "AGE"),
        job_rows,
        "No agent Jobs in this namespace. Each run gets one once the controller starts it.",
        deletable=False,
        tab=False,
    ),
    ViewSpec(
        "events",
        "Events",
        ("ev", "event"),
        EVENTS,
        ("LAST SEEN", "TYPE", "REASON", "OBJECT", "COUNT", "MESSAGE"),
        event_rows,
        "No events in this namespace (the API server keeps them for about an hour).",
        deletable=False,
        tab=False,
    ),
)


def view_named(word: str) -> ViewSpec | None:
    """The view `word` names, if any (`:ci`, `:runs`, `:Pods`...)."""
    return next((v for v in VIEWS if v.matches(word)), None)


def object_for(store: Store, view: ViewSpec, key: str) -> Any | None:
    """The store object behind a row key (a channel row resolves to its instance)."""
    uid = key.split("/", 1)[0] if view.derived else key
    return store.objects[view.kind].get(uid)
