"""`runs logs`: how the agent's log is printed (answer once, no raw marker, logs to stderr)."""

from __future__ import annotations

import pytest

from k8sclaw.cli._logs import AnswerPrinter
from k8sclaw_protocol import AgentResult, ipc

LOG_LINE = "2025-01-02 03:04:05,678 agent WARNING k8sclaw.agent: tool read_file refused"


def _marker(response: str, status: str = "success") -> str:
    return ipc.result_line(AgentResult(status=status, response=response)) + "\n"  # type: ignore[arg-type]


def _print(log: str, size: int) -> AnswerPrinter:
    printer = AnswerPrinter()
    for i in range(0, len(log), size):
        printer.feed(log[i : i + size])
    printer.close()
    return printer


@pytest.mark.parametrize("size", [1, 5, 10_000])
def test_a_streamed_answer_is_printed_once_and_logs_go_to_stderr(
    size: int, capsys: pytest.CaptureFixture[str]
) -> None:
    log = f"Looking.\n→ read_file: a.txt\n{LOG_LINE}\nThe answer\n" + _marker("The answer")
    assert _print(log, size).answered
    out, err = capsys.readouterr()
    assert out == "Looking.\n→ read_file: a.txt\nThe answer\n"
    assert err == LOG_LINE + "\n"


def test_an_answer_the_log_did_not_stream_is_printed_from_the_marker(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # An agent that printed only the marker line (older images), after a text-less turn.
    assert _print("\n" + _marker("forty-two"), 7).answered
    assert capsys.readouterr().out == "\nforty-two\n"


def test_a_failed_run_prints_no_answer(capsys: pytest.CaptureFixture[str]) -> None:
    log = "half an ans" + "\n" + _marker("", status="error")
    assert not _print(log, 3).answered
    assert capsys.readouterr().out == "half an ans\n"


def test_a_log_cut_mid_line_ends_with_a_newline(capsys: pytest.CaptureFixture[str]) -> None:
    _print("still typ", 4)
    assert capsys.readouterr().out == "still typ\n"


@pytest.mark.parametrize("size", [1, 10_000])
def test_info_chatter_such_as_httpx_requests_is_not_printed(
    size: int, capsys: pytest.CaptureFixture[str]
) -> None:
    httpx = (
        "2025-01-02 03:04:05,678 agent INFO httpx: HTTP Request: POST "
        'http://model/v1/chat/completions "HTTP/1.1 200 OK"'
    )
    debug = "2025-01-02 03:04:05,679 agent DEBUG k8sclaw.agent: turn 1"
    log = f"{httpx}\nThe answer\n{debug}\n{LOG_LINE}\n" + _marker("The answer")
    assert _print(log, size).answered
    out, err = capsys.readouterr()
    assert out == "The answer\n"
    assert err == LOG_LINE + "\n"  # the warning is kept
