"""The live answer of the feed's running run: one follower of its agent log at a time.

The agent echoes its answer on stdout as it streams (and the bus it also publishes to is
in-cluster only), so `pods/log?follow=true&container=agent` is how a laptop sees it.
`LiveFeed` keeps at most one `_Follower` — for the newest non-terminal run with a pod of
the instance the feed shows — and stops it when that run ends, the selection moves to
another instance, the feed is hidden or the app exits. The follower runs in its own
thread (like the watches and the `l` log screen: it may block for the whole run) and only
posts `AnswerStreamed` messages; the app adds them here and re-renders the feed.
"""

from __future__ import annotations

import codecs
import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from textual.message import Message

from k8sclaw.kube import ForbiddenError, Kube, NotFoundError
from k8sclaw.tui._store import RUNS, Store
from k8sclaw.tui._stream import StreamReader
from k8sclaw_protocol import TERMINAL_PHASES, AgentLogReader, AgentRun, LogPiece, names

RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)
"""Seconds before re-reading a dropped log stream (then the follower gives up)."""


class AnswerStreamed(Message):
    """New pieces of the followed run's agent log (`follower` tells stale ones apart);
    `restart` means the log was re-read from its start after a dropped stream, so these
    pieces replace what was gathered instead of extending it."""

    def __init__(self, follower: int, pieces: list[LogPiece], *, restart: bool = False) -> None:
        super().__init__()
        self.follower = follower
        self.pieces = pieces
        self.restart = restart


@dataclass
class LiveAnswer:
    """What the followed run's log has shown so far."""

    run: str
    pod: str
    pieces: list[LogPiece] = field(default_factory=list)


def active_run(store: Store, instance: str | None) -> AgentRun | None:
    """The newest run of `instance` that is not finished and already has a pod."""
    candidates = [
        r
        for r in store.all(RUNS)
        if r.spec.instance_ref == instance
        and r.status
        and r.status.pod_name
        and r.status.phase not in TERMINAL_PHASES
    ]
    candidates.sort(key=lambda r: (str(r.metadata.creation_timestamp or ""), r.name))
    return candidates[-1] if candidates else None


class _Follower(StreamReader):
    """Reads one pod's agent log as it grows; `stop()` unblocks a read in progress."""

    def __init__(
        self, ident: int, kube: Kube, namespace: str, pod: str, post: Callable[[Message], object]
    ) -> None:
        self.ident, self.kube, self.pod, self.post = ident, kube, pod, post
        self.path = f"/api/v1/namespaces/{namespace}/pods/{pod}/log"
        self._restart = False
        super().__init__()

    def run(self) -> None:
        """The thread body: stream the log into pieces until it ends or `stop()`. A dropped
        stream is re-read from the start (logs have no resume point), a few times with
        back-off; after that the live text stays as it was and the run's status still
        brings the result."""
        for attempt, delay in enumerate((*RETRY_DELAYS, None)):
            if self.stopped.is_set() or self._stream(restart=attempt > 0):
                return
            if delay is None or self.stopped.wait(delay):
                return

    def _stream(self, *, restart: bool) -> bool:
        """One read of the whole log; True when it is over (read to its end, or the pod is
        gone or forbidden — retrying would not help), False when worth another try."""
        query = [("container", names.CONTAINER_AGENT), ("follow", "true")]
        reader = AgentLogReader()
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._restart = restart
        try:
            self._resp = self.kube.request(
                "GET", self.path, what=f"logs of pod {self.pod}", query=query, stream=True
            )
            for chunk in self._resp.stream(4096, decode_content=True):
                self._post(reader.feed(decoder.decode(chunk)))
            self._post(reader.feed(decoder.decode(b"", final=True)) + reader.close())
        except (NotFoundError, ForbiddenError):
            return True
        except Exception:
            return False
        finally:
            with contextlib.suppress(Exception):
                if self._resp is not None:
                    self._resp.release_conn()
        return True

    def _post(self, pieces: list[LogPiece]) -> None:
        if self.stopped.is_set() or not pieces:
            return
        self.post(AnswerStreamed(self.ident, pieces, restart=self._restart))
        self._restart = False


class LiveFeed:
    """The one follower and the live answer it has gathered."""

    def __init__(self, post: Callable[[Message], object]) -> None:
        self.post = post
        self.answer: LiveAnswer | None = None
        self._follower: _Follower | None = None
        self._count = 0

    @property
    def following(self) -> bool:
        """A follower thread was started and not stopped (it may have reached the end)."""
        return self._follower is not None

    def follow(self, kube: Kube | None, namespace: str, run: AgentRun | None) -> None:
        """Follow `run`'s pod (no-op if already); stop following when `run` is None."""
        pod = run.status.pod_name if run and run.status else None
        if kube is None or run is None or not pod:
            self.stop()
            return
        if self.answer is not None and (self.answer.run, self.answer.pod) == (run.name, pod):
            return  # the same log: a follower that reached its end is not restarted
        self.stop()
        self._count += 1
        self.answer = LiveAnswer(run.name, pod)
        self._follower = _Follower(self._count, kube, run.namespace or namespace, pod, self.post)
        threading.Thread(target=self._follower.run, name=f"feed-{pod}", daemon=True).start()

    def add(self, msg: AnswerStreamed) -> bool:
        """Keep `msg`'s pieces if they come from the current follower; True if kept."""
        if self.answer is None or self._follower is None or msg.follower != self._follower.ident:
            return False
        if msg.restart:
            self.answer.pieces = list(msg.pieces)
        else:
            self.answer.pieces.extend(msg.pieces)
        return True

    def stop(self) -> None:
        """Stop the follower (if any) and forget its answer."""
        if self._follower is not None:
            self._follower.stop()
        self._follower, self.answer = None, None
