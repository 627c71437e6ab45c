"""The feed's live answer: rendering streamed pieces, picking the run, one follower."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from rich.text import Text

from k8sclaw.kube import ClusterTarget, ClusterUnreachableError, Kube, NotFoundError
from k8sclaw.tui import Store, _livefeed
from k8sclaw.tui._feed import feed_text
from k8sclaw.tui._livefeed import AnswerStreamed, LiveAnswer, LiveFeed, _Follower, active_run
from k8sclaw_protocol import LogPiece
from tests.harness.kube import KubeEnv
from tests.tui import _seed

PIECES = [
    LogPiece("text", "Looking."),
    LogPiece("tool", "→ read_file: a.txt"),
    LogPiece("log", "2025-01-02 03:04:05,678 agent INFO httpx: HTTP Request"),
    LogPiece("text", "hello "),
]


def _store(*runs: object) -> Store:
    store = Store()
    store.apply("instances", [_seed.instance("alpha")], [], reset=True)
    store.apply("runs", list(runs), [], reset=True)
    return store


def _dim(text: Text, part: str) -> bool:
    start = text.plain.index(part)
    return any(s.style == "dim" and s.start <= start < s.end for s in text.spans)


def test_a_running_run_shows_its_streamed_answer_with_tool_lines_dimmed() -> None:
    run = _seed.run(_seed.instance("alpha"), "r1", "greet me", phase="Running")
    text = feed_text(_store(run), "alpha", LiveAnswer("r1", "r1-pod", list(PIECES)))
    assert "[Running] Looking.\n→ read_file: a.txt\nhello ▍\n" in text.plain
    assert _dim(text, "→ read_file") and not _dim(text, "hello")
    assert "httpx" not in text.plain  # the agent's log lines are not part of the answer


def test_the_result_replaces_the_streamed_text() -> None:
    run = _seed.run(_seed.instance("alpha"), "r1", "greet me", phase="Succeeded", result="hi!")
    text = feed_text(_store(run), "alpha", LiveAnswer("r1", "r1-pod", list(PIECES)))
    assert text.plain.endswith("[Succeeded] hi!\n") and "Looking." not in text.plain


def test_nothing_streamed_yet_shows_an_ellipsis() -> None:
    run = _seed.run(_seed.instance("alpha"), "r1", "greet me", phase="Running")
    text = feed_text(_store(run), "alpha", LiveAnswer("r1", "r1-pod"))
    assert text.plain.endswith("[Running] …\n")


def test_the_followed_run_is_the_newest_unfinished_one_with_a_pod() -> None:
    inst = _seed.instance("alpha")
    old = _seed.run(inst, "old", "a", phase="Running", age_s=600)
    new = _seed.run(inst, "new", "b", phase="Running", age_s=60)
    done = _seed.run(inst, "done", "c", phase="Succeeded", age_s=10)
    pending = _seed.run(inst, "pending", "d", age_s=5)  # no status, no pod yet
    found = active_run(_store(old, new, done, pending), "alpha")
    assert found is not None and found.name == "new"
    assert active_run(_store(done), "alpha") is None
    assert active_run(_store(new), "beta") is None


def test_one_follower_at_a_time_and_stale_pieces_are_dropped(kube: KubeEnv) -> None:
    api = Kube.connect(ClusterTarget(kubeconfig=str(kube.kubeconfig)))
    inst = _seed.instance("alpha", kube.namespace)
    first = _seed.run(inst, "r1", "a", phase="Running")
    second = _seed.run(inst, "r2", "b", phase="Running")
    live = LiveFeed(lambda msg: None)
    live.follow(api, kube.namespace, first)  # its pod does not exist: the thread just ends
    live.follow(api, kube.namespace, first)  # the same log: not restarted
    assert live.answer is not None and live.answer.run == "r1"
    live.follow(api, kube.namespace, second)
    assert not live.add(AnswerStreamed(1, PIECES))  # from r1's stopped follower
    assert live.add(AnswerStreamed(2, PIECES))
    assert live.answer is not None and live.answer.pieces == PIECES
    live.follow(api, kube.namespace, None)
    assert not live.following and live.answer is None
    for thread in threading.enumerate():
        if thread.name.startswith("feed-"):
            thread.join(10)
            assert not thread.is_alive()
    live.follow(None, kube.namespace, second)  # offline: never follows
    assert not live.following


class _Response:
    """A log stream that yields `chunks`, then ends — or drops, like a cut connection."""

    def __init__(self, chunks: list[bytes], drop: bool) -> None:
        self.chunks, self.drop = chunks, drop

    def stream(self, _size: int, decode_content: bool) -> Iterator[bytes]:
        yield from self.chunks
        if self.drop:
            raise ConnectionResetError("connection reset by peer")

    def release_conn(self) -> None:
        pass

    def shutdown(self) -> None:
        pass


class _Kube:
    """Hands out the scripted responses (or raises), one per log request."""

    def __init__(self, *responses: _Response | Exception) -> None:
        self.responses, self.requests = list(responses), 0

    def request(self, *_args: object, **_kwargs: object) -> _Response:
        self.requests += 1
        item = self.responses.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def _follow(kube: _Kube) -> list[AnswerStreamed]:
    posted: list[AnswerStreamed] = []
    follower = _Follower(1, kube, "ns", "r1-pod", posted.append)  # type: ignore[arg-type]
    follower.run()  # in this thread: returns when the log is over or retries are spent
    return posted


def _text(pieces: list[LogPiece]) -> str:
    return "".join(p.text for p in pieces if p.kind == "text")


def test_a_dropped_log_stream_is_reread_and_replaces_the_partial_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_livefeed, "RETRY_DELAYS", (0.0, 0.0))
    kube = _Kube(
        _Response([b"hello\n"], drop=True),
        ClusterUnreachableError("cannot reach the cluster"),
        _Response([b"hello\n", b"world\n"], drop=False),
    )
    posted = _follow(kube)
    assert kube.requests == 3
    assert [m.restart for m in posted] == [False, True, False]
    live = LiveFeed(lambda msg: None)
    live.answer, live._follower = LiveAnswer("r1", "r1-pod"), _Follower(1, kube, "ns", "p", print)  # type: ignore[arg-type]
    for msg in posted:
        live.add(msg)
    assert _text(live.answer.pieces) == "hello\nworld\n"  # not "hello\nhello\nworld\n"


def test_a_gone_pod_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_livefeed, "RETRY_DELAYS", (0.0, 0.0))
    kube = _Kube(NotFoundError('pod "r1-pod" not found'))
    assert _follow(kube) == [] and kube.requests == 1
