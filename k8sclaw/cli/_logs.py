"""Run logs from the agent container of the run's pod; the stored answer once it is gone.

The pod is `status.podName`, else found through the Job's `job-name` label (the Job has
the run's name). With `--follow` we wait on watch events for the pod to appear and its
agent container to start, then print the answer text as the HTTP chunks arrive (not line
by line: a half-written sentence shows at once). The agent's stdout (answer, `→ tool`
lines) goes to stdout, its stderr warnings and errors to stderr (INFO/DEBUG lines such as
httpx's per-request line are dropped); the result marker line is never
printed raw: its answer is printed only if the streamed text did not already show it.

A finished run whose pod was cleaned up (`cleanup: delete`, the default) has no log to read;
its answer is in `status.result`, checked by the controller, so that is printed with a note
on stderr instead of the API server's `pods "…" not found`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from k8sclaw.cli._errors import CliError
from k8sclaw.kube import NotFoundError
from k8sclaw.render import terminal_safe
from k8sclaw_protocol import TERMINAL_PHASES, AgentLogReader, AgentRun, LogPiece, names

if TYPE_CHECKING:
    from k8sclaw.kube import Kube

CONTAINER_START_TIMEOUT = 600.0  # image pulls can be slow; the wait is a watch, not a poll


def find_pod(kube: Kube, run: AgentRun) -> str | None:
    """Name of the run's pod, if one exists yet."""
    if run.status and run.status.pod_name:
        return run.status.pod_name
    job = (run.status.job_name if run.status else None) or names.job_name(run.name)
    pods: list[dict[str, Any]] = kube.list_raw("v1", "Pod", run.namespace, f"job-name={job}")
    pods.sort(key=lambda p: p["metadata"].get("creationTimestamp", ""), reverse=True)
    return str(pods[0]["metadata"]["name"]) if pods else None


def _await_pod(kube: Kube, run: AgentRun) -> str | None:
    """Watch the run until it has a pod or ends."""
    current = run
    while True:
        pod = find_pod(kube, current)
        phase = current.status.phase if current.status else None
        if pod or phase in TERMINAL_PHASES:
            return pod
        rv = current.metadata.resource_version or ""
        for _, obj in kube.watch(AgentRun, run.namespace, resource_version=rv):
            if obj.name == run.name:
                current = obj
                break


def stream(kube: Kube, run: AgentRun, *, follow: bool) -> bool:
    """Print the agent log of `run` (following it with `follow`); True if it showed the answer."""
    pod = _await_pod(kube, run) if follow else find_pod(kube, run)
    if pod is None and _finished(kube, run):
        return _print_stored(kube.get(type(run), run.name, run.namespace))
    if pod is None:
        phase = (run.status.phase if run.status else None) or "Pending"
        raise CliError(
            f"agentrun {run.name} has no pod yet (phase: {phase})",
            hint=f"follow it with `k8sclaw runs logs {run.name} -f`",
            exit_code=7,
        )
    if follow:
        _await_container(kube, pod, run.namespace)
    printer = AnswerPrinter()
    try:
        for text in kube.pod_log_text(
            pod, run.namespace, container=names.CONTAINER_AGENT, follow=follow
        ):
            printer.feed(text)
    except NotFoundError:
        if printer.answered or not _finished(kube, run):
            raise
        return _print_stored(kube.get(type(run), run.name, run.namespace))
    printer.close()
    return printer.answered


def _finished(kube: Kube, run: AgentRun) -> bool:
    """True when the run (as the server has it now) is in a terminal phase."""
    current = kube.get(type(run), run.name, run.namespace)
    return bool(current.status and current.status.phase in TERMINAL_PHASES)


def _print_stored(run: AgentRun) -> bool:
    """The finished run's stored answer (or error) when its pod is gone; True if shown."""
    status = run.status
    phase = status.phase if status else None
    click.echo(
        f"note: the pod of agentrun {run.name} was removed after it finished ({phase}); "
        "showing the stored result (keep pods with `cleanup: keep`)",
        err=True,
    )
    if status and status.result:
        click.echo(terminal_safe(status.result))
        return True
    reason = _failure_message(run)
    if reason:
        click.echo(f"error: {terminal_safe(reason)}", err=True)
    return False


def _failure_message(run: AgentRun) -> str | None:
    """The run's error, else the message of a condition that is False."""
    if run.status and run.status.error:
        return run.status.error
    conditions = run.status.conditions if run.status else []
    for condition in conditions:
        if condition.status == "False" and condition.message:
            return condition.message
    return None


class AnswerPrinter:
    """Prints `AgentLogReader` pieces as they come; remembers what the answer looked like."""

    def __init__(self) -> None:
        self.reader = AgentLogReader()
        self.answered = False
        self._segment = ""  # answer text since the last tool line: the final turn's text
        self._line_open = False

    def feed(self, text: str) -> None:
        """Print what `text` completes."""
        for piece in self.reader.feed(text):
            self._show(piece)

    def close(self) -> None:
        """The log ended: print what was held back and end an open line."""
        for piece in self.reader.close():
            self._show(piece)
        self._end_line()

    def _end_line(self) -> None:
        if self._line_open:
            click.echo("")
            self._line_open = False

    def _show(self, piece: LogPiece) -> None:
        """Print one piece; the agent wrote it, so only its terminal-safe text is shown."""
        text = terminal_safe(piece.text)
        if piece.kind == "text":
            click.echo(text, nl=False)
            self._segment += text
            self._line_open = not text.endswith("\n")
        elif piece.kind == "tool":
            self._end_line()
            click.secho(text, dim=True)
            self._segment = ""
        elif piece.kind == "log":
            if _chatter(text):
                return
            self._end_line()
            click.echo(text, err=True)
        elif piece.result is not None and piece.result.status == "success":
            self._end_line()
            response = terminal_safe(piece.result.response or "").strip()
            if response and response != self._segment.strip():
                click.echo(response)  # the log did not stream it (or not all of it)
            self.answered = True


_QUIET_LEVELS = frozenset({"DEBUG", "INFO"})


def _chatter(line: str) -> bool:
    """An INFO/DEBUG log line (httpx's "HTTP Request: ..." per model call): not for the user.

    Lines are `<date> <time> <component> <LEVEL> <logger>: <message>`; warnings and errors
    are still shown (on stderr), and so is any line that does not parse as one.
    """
    fields = line.split(" ", 4)
    return len(fields) > 3 and fields[3] in _QUIET_LEVELS


def _started(pod: dict[str, Any] | None) -> bool:
    """The agent container runs or ran (its log exists), or the pod is gone or finished."""
    if pod is None or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return True
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == names.CONTAINER_AGENT:
            state = status.get("state") or {}
            return "running" in state or "terminated" in state
    return False


def _await_container(kube: Kube, pod: str, namespace: str) -> None:
    """Watch the pod until the agent container has started: before that the API refuses
    its log ("waiting to start: ContainerCreating")."""
    from k8sclaw.installer import wait_for

    ref = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod, "namespace": namespace}}
    wait_for(kube, ref, _started, timeout=CONTAINER_START_TIMEOUT, what="started")
