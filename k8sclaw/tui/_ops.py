"""Cluster operations the TUI performs; synchronous, called from thread workers.

Runs are created only through `build_run(..., source="tui")`; onboarding goes through
`k8sclaw.onboard`, shared with the CLI's wizard.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from k8sclaw import onboard
from k8sclaw.kube import Kube, iter_lines
from k8sclaw.render import terminal_safe
from k8sclaw.tui._store import PODS, Pod
from k8sclaw.tui._stream import StreamReader
from k8sclaw_protocol import (
    AgentRun,
    ClawInstance,
    build_run,
    names,
)


def create_run(kube: Kube, instance: ClawInstance, task: str) -> AgentRun:
    """Create a run of `instance` through the shared builder (labels, model, auth)."""
    return kube.create(build_run(instance, task, source="tui"))


def delete(kube: Kube, kind: str, obj: Any) -> str:
    """Delete the object behind a row (missing is fine); "" so callers can chain a message."""
    if kind == PODS:
        assert isinstance(obj, Pod)
        kube.delete_raw("v1", "Pod", obj.name, obj.namespace, missing_ok=True)
        return ""
    kube.delete_raw(names.GROUP_VERSION, obj.info.kind, obj.name, obj.namespace, missing_ok=True)
    return ""


def decide(kube: Kube, run: AgentRun, approval: str, decision: str) -> str:
    """Annotate the run with a decision; the admission webhook stamps who made it and the
    controller publishes it to the waiting call."""
    value = json.dumps({"id": approval, "decision": decision})
    patch = {"metadata": {"annotations": {names.ANNOTATION_APPROVAL_DECISION: value}}}
    kube.patch(AgentRun, run.name, run.namespace, patch)
    verb = "approved" if decision == "approve" else "denied"
    return f"{verb} approval {approval} of run {run.name}"


def namespaces(kube: Kube) -> dict[str, str]:
    """Every namespace's name → phase (for `/ns` completion and its details)."""
    return {
        n["metadata"]["name"]: str((n.get("status") or {}).get("phase") or "Active")
        for n in kube.list_raw("v1", "Namespace", None)
    }


class EventFeed(StreamReader):
    """`l` on instances/policies: the object's Kubernetes Events, then new ones live.

    Lists once (TIME TYPE REASON MESSAGE, oldest first), then follows a watch from the
    list's resourceVersion; iterated in a thread worker, `stop()` (the screen closing)
    ends a blocked stream read at once.
    """

    def __init__(self, kube: Kube, kind: str, name: str, namespace: str) -> None:
        self.kube, self.kind, self.name = kube, kind, name
        self.path = f"/api/v1/namespaces/{namespace}/events"
        self.query = [("fieldSelector", f"involvedObject.name={name},involvedObject.kind={kind}")]
        super().__init__()

    def __iter__(self) -> Iterator[str]:
        body = self.kube.request("GET", self.path, what="events", query=self.query)
        items = sorted(body.get("items") or [], key=_event_time)
        yield f"{'TIME':<22} {'TYPE':<8} {'REASON':<18} MESSAGE"
        yield from (_event_line(ev) for ev in items)
        if not items:
            yield f"(no events for {self.kind} {self.name} yet; new ones appear here)"
        version = str((body.get("metadata") or {}).get("resourceVersion", ""))
        while not self.stopped.is_set():
            watch = [("watch", "true"), ("resourceVersion", version), ("timeoutSeconds", "300")]
            self._resp = self.kube.request(
                "GET", self.path, what="events", query=self.query + watch, stream=True
            )
            try:
                for line in iter_lines(self._resp):
                    event = json.loads(line) if line.strip() else {}
                    obj = event.get("object") or {}
                    if event.get("type") == "ERROR":
                        return
                    if event.get("type") in ("ADDED", "MODIFIED"):
                        version = str(obj["metadata"].get("resourceVersion", version))
                        yield _event_line(obj)
            finally:
                self._resp.release_conn()
                self._resp = None


def describe_events(kube: Kube, kind: str, name: str, namespace: str) -> Iterator[str]:
    """The `Events:` section `kubectl describe` ends with (listed once, oldest first)."""
    query = [("fieldSelector", f"involvedObject.name={name},involvedObject.kind={kind}")]
    path = f"/api/v1/namespaces/{namespace}/events"
    body = kube.request("GET", path, what="events", query=query)
    items = sorted(body.get("items") or [], key=_event_time)
    yield ""
    yield "Events:" if items else "Events:      <none>"
    if items:
        yield f"  {'TIME':<22} {'TYPE':<8} {'REASON':<18} MESSAGE"
        yield from (f"  {_event_line(ev)}" for ev in items)


def describe_memory(kube: Kube, instance: str, namespace: str) -> Iterator[str]:
    """An instance's `Memory:` section: the document every run gets in its system prompt."""
    from k8sclaw.kube import NotFoundError

    try:
        configmap = kube.get_raw(
            "v1", "ConfigMap", names.memory_configmap_name(instance), namespace
        )
    except NotFoundError:
        yield from ("", "Memory:      <none>")
        return
    text = str((configmap.get("data") or {}).get(names.MEMORY_KEY) or "")
    yield from ("", "Memory:")
    yield from (f"  {terminal_safe(line)}" for line in text.splitlines())


def _event_line(ev: dict[str, Any]) -> str:
    return (
        f"{_event_time(ev):<22} {ev.get('type', ''):<8} {ev.get('reason', ''):<18} "
        f"{' '.join(str(ev.get('message', '')).split())}"
    )


def _event_time(ev: dict[str, Any]) -> str:
    return str(ev.get("lastTimestamp") or ev.get("eventTime") or ev.get("firstTimestamp") or "")


def doctor_lines(kube: Kube, namespace: str) -> Iterator[str]:
    """`k8sclaw doctor`'s report for /status (blocking: runs in the overlay's thread)."""
    from k8sclaw import doctor

    findings = doctor.run(kube, namespace)
    yield from doctor.lines(findings)
    yield doctor.summary(findings)


def pod_log(kube: Kube, pod: str, namespace: str) -> Iterator[str]:
    """Follow the agent container's log of a pod."""
    return kube.pod_logs(pod, namespace, container=names.CONTAINER_AGENT, follow=True)


def previous_pod_log(kube: Kube, pod: str, namespace: str) -> Iterator[str]:
    """The agent container's log from before its last restart (kubectl logs -p)."""
    return kube.pod_logs(
        pod, namespace, container=names.CONTAINER_AGENT, follow=False, previous=True
    )


@dataclass(frozen=True)
class Onboarding:
    """The wizard's answers."""

    instance: str
    provider: str
    model: str
    api_key: str = ""
    channel: str = ""
    channel_token: str = ""
    policy: bool = True
    base_url: str = ""

    def to_answers(self, namespace: str) -> onboard.Answers:
        """The same answers `k8sclaw onboard` collects (plan and checks are shared)."""
        return onboard.Answers(
            namespace=namespace,
            instance=self.instance,
            provider=self.provider,
            model=self.model,
            api_key=self.api_key or None,
            channel=self.channel or None,
            channel_token=self.channel_token or None,
            policy=self.policy,
            base_url=self.base_url or None,
        )


def apply_onboarding(kube: Kube, namespace: str, answers: Onboarding) -> list[str]:
    """Create or update the Secrets, default ClawPolicy and ClawInstance; one line each.

    Goes through `k8sclaw.onboard` (the same plan and server-side apply as
    `k8sclaw onboard`), so both wizards write exactly the same objects.
    """
    plan = onboard.plan(answers.to_answers(namespace))
    done: list[str] = []
    onboard.apply(kube, plan, lambda line: done.append(f"✓ {line.strip()}"))
    return [*done, "Onboarding complete: press R to run a task."]


def transcript_entries(kube: Kube, run: str, namespace: str) -> Iterator[str]:
    """A finished run's recorded transcript, one entry per text, tool call, tool result
    and result (read through the aggregated API with the user's own credentials)."""
    from k8sclaw.kube import KubeError
    from k8sclaw.render._transcript import TRANSCRIPTS_API, entry

    path = f"{TRANSCRIPTS_API}/namespaces/{namespace}/transcripts/{run}"
    after: int | None = None
    while True:
        query = [("limit", "1000")] + ([("after", str(after))] if after is not None else [])
        try:
            page = kube.request("GET", path, what=f"transcript {run}", query=query)
        except KubeError as exc:
            yield f"no transcript: {exc}"
            return
        for event in page.get("events") or []:
            text = entry(event)
            if text is not None:
                yield from text.splitlines() or [""]
            after = max(after or 0, int(event.get("seq") or 0))
        if page.get("nextAfter") is None:
            return
