"""Transcripts and sessions through the aggregated API `transcripts.k8sclaw.io/v1alpha1`.

The CLI asks kube-apiserver with the user's own kubeconfig credentials (token, exec plugin
or client certificate alike); kube-apiserver proxies to the K8sClaw API server with the
user's identity (APIService `v1alpha1.transcripts.k8sclaw.io`). A transcript outlives the
run's pod, so `runs logs` works after `cleanup: delete`. When the APIService is not
installed or not answering, `unavailable` says why and the caller falls back to the pod log.

Everything printed was written by an agent: only its terminal-safe text is shown.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

from k8sclaw.kube import ForbiddenError, KubeError, NotFoundError
from k8sclaw.render import terminal_safe
from k8sclaw.render._transcript import TRANSCRIPTS_API, entry, one_line
from k8sclaw_protocol import TERMINAL_PHASES, AgentRun

if TYPE_CHECKING:
    from k8sclaw.kube import Kube

BASE = TRANSCRIPTS_API
FOLLOW_POLL_SECONDS = 1.0


def unavailable(kube: Kube) -> str | None:
    """Why the transcript group cannot be read (not installed, not answering), or None."""
    try:
        kube.request("GET", BASE, what="transcripts.k8sclaw.io/v1alpha1")
    except NotFoundError:
        return "the transcript API (APIService v1alpha1.transcripts.k8sclaw.io) is not installed"
    except KubeError as exc:
        if isinstance(exc, ForbiddenError):
            return None  # discovery refused; the read itself will say why
        return f"the transcript API is not answering ({exc})"
    return None


def fetch(kube: Kube, namespace: str, run: str, after: int | None = None) -> dict[str, Any]:
    """One page of run `run`'s transcript (events after `after`)."""
    query = [("limit", "1000")] + ([("after", str(after))] if after is not None else [])
    path = f"{BASE}/namespaces/{namespace}/transcripts/{run}"
    found: dict[str, Any] = kube.request("GET", path, what=f"transcript {run}", query=query)
    return found


class TranscriptPrinter:
    """Prints events as separate entries: text as it came, tool calls and results on their
    own lines, the result's answer only if the text did not show it already."""

    def __init__(self) -> None:
        self.answered = False
        self.texts: list[str] = []
        self.finished = False
        self._open = False

    def show(self, event: dict[str, Any]) -> None:
        kind, data = event.get("kind"), event.get("data")
        content = data.get("content") if isinstance(data, dict) else None
        if kind == "text" and isinstance(content, str):
            self._text(content)
        elif kind in ("tool_call", "tool_result"):
            self._line(entry(event) or "")
        elif kind == "result":
            self._result(data if isinstance(data, dict) else {})
        elif kind == "error":
            self._line(f"error: {one_line(data)}", err=True)
            self.finished = True

    def close(self) -> None:
        if self._open:
            click.echo("")
            self._open = False

    def _text(self, content: str) -> None:
        self.texts.append(content)
        safe = terminal_safe(content)
        click.echo(safe, nl=False)
        self._open = not safe.endswith("\n")

    def _line(self, text: str, *, err: bool = False) -> None:
        self.close()
        click.echo(terminal_safe(text), err=err)

    def _result(self, data: dict[str, Any]) -> None:
        self.finished = True
        answer = data.get("response")
        if isinstance(answer, str) and answer and answer.strip() not in "".join(self.texts):
            self._line(answer)
        elif data.get("error"):
            self._line(f"error: {data['error']}", err=True)
        self.answered = bool(answer) or bool(self.texts)


def show(kube: Kube, namespace: str, run: str, *, follow: bool) -> bool:
    """Print the transcript of `run` (`follow`: until the run ends); True if answered."""
    printer = TranscriptPrinter()
    after: int | None = None
    while True:
        page = fetch(kube, namespace, run, after)
        for event in page.get("events") or []:
            if event.get("kind") != "task":
                printer.show(event)
            after = max(after or 0, int(event.get("seq") or 0))
        if page.get("nextAfter") is not None:
            continue
        if not follow or printer.finished or _ended(kube, namespace, run):
            break
        time.sleep(FOLLOW_POLL_SECONDS)
    printer.close()
    return printer.answered


def _ended(kube: Kube, namespace: str, run: str) -> bool:
    """The run is gone or in a terminal phase (nothing more will be recorded)."""
    try:
        current = kube.get(AgentRun, run, namespace)
    except NotFoundError:
        return True
    return bool(current.status and current.status.phase in TERMINAL_PHASES)


def sessions(kube: Kube, namespace: str | None) -> list[dict[str, Any]]:
    path = f"{BASE}/namespaces/{namespace}/sessions" if namespace else f"{BASE}/sessions"
    found: list[dict[str, Any]] = kube.request("GET", path, what="sessions").get("items") or []
    return found


def session(kube: Kube, namespace: str, key: str) -> dict[str, Any]:
    path = f"{BASE}/namespaces/{namespace}/sessions/{key}"
    found: dict[str, Any] = kube.request("GET", path, what=f"session {key}")
    return found
