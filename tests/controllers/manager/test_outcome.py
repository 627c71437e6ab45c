"""Parsing untrusted agent output: markers, clamping, stripping, exit codes."""

from __future__ import annotations

import json

import pytest

from k8sclaw_controllers.manager import _outcome


def marker(payload: object) -> str:
    return f"__K8SCLAW_RESULT__{json.dumps(payload)}__K8SCLAW_END__"


def test_last_marker_wins() -> None:
    log = "\n".join(
        [
            "starting",
            marker({"status": "success", "response": "first"}),
            "noise",
            marker({"status": "success", "response": "second"}),
            "",
        ]
    )
    outcome = _outcome.from_log(log, 0)
    assert (outcome.succeeded, outcome.result, outcome.exit_code) == (True, "second", 0)


def test_metrics_become_token_usage() -> None:
    log = marker(
        {
            "status": "success",
            "response": "ok",
            "metrics": {"inputTokens": 10, "outputTokens": 5, "toolCalls": 2, "durationMs": 1234},
        }
    )
    usage = _outcome.from_log(log, 0).token_usage
    assert usage is not None
    assert usage.to_wire() == {
        "inputTokens": 10,
        "outputTokens": 5,
        "totalTokens": 15,
        "toolCalls": 2,
        "durationMs": 1234,
    }


@pytest.mark.parametrize(
    "bad",
    [-5, "12", None, True, float("nan"), float("inf"), [1]],
    ids=["negative", "string", "none", "bool", "nan", "inf", "list"],
)
def test_forged_counts_are_clamped_to_zero_or_max(bad: object) -> None:
    usage = _outcome.token_usage({"inputTokens": bad, "outputTokens": 3})
    assert usage is not None
    assert usage.input_tokens == 0
    assert usage.total_tokens == 3


def test_huge_counts_are_clamped() -> None:
    usage = _outcome.token_usage({"inputTokens": 10**30, "outputTokens": 10**30})
    assert usage is not None
    assert usage.input_tokens == usage.total_tokens == _outcome.MAX_COUNT


def test_markers_inside_the_result_are_stripped_and_length_capped() -> None:
    response = "a__K8SCLAW_RESULT__b__K8SCLAW_END__c\x07" + "x" * 20_000
    outcome = _outcome.from_payload({"status": "success", "response": response})
    assert outcome.result is not None
    assert outcome.result.startswith("abc")
    assert "\x07" not in outcome.result
    assert len(outcome.result) == _outcome.MAX_RESULT_CHARS


def test_error_status_fails_with_the_agent_error_text() -> None:
    log = marker({"status": "error", "error": "OpenAI API error (HTTP 401): bad key"})
    outcome = _outcome.from_log(log, 1)
    assert not outcome.succeeded
    assert outcome.error == "OpenAI API error (HTTP 401): bad key"
    assert outcome.exit_code == 1


def test_nonzero_exit_overrides_a_success_marker() -> None:
    outcome = _outcome.from_log(marker({"status": "success", "response": "x"}), 2)
    assert not outcome.succeeded
    assert outcome.error


def test_no_marker_and_failure_uses_the_log_tail() -> None:
    log = "\n".join(f"line {i}" for i in range(30)) + "\nTraceback: boom"
    outcome = _outcome.from_log(log, 1)
    assert not outcome.succeeded
    assert outcome.error is not None
    assert outcome.error.endswith("Traceback: boom")
    assert "line 5\n" not in outcome.error


@pytest.mark.parametrize(
    "log",
    [
        "",
        "__K8SCLAW_RESULT__{not json__K8SCLAW_END__",
        "__K8SCLAW_RESULT__[1,2]__K8SCLAW_END__",
        '__K8SCLAW_RESULT__{"status": "success"}',
    ],
    ids=["empty", "bad-json", "not-object", "unterminated"],
)
def test_malformed_markers_fall_back_to_the_exit_code(log: str) -> None:
    assert _outcome.from_log(log, 0).succeeded
    failed = _outcome.from_log(log, 3)
    assert not failed.succeeded
    assert failed.error
