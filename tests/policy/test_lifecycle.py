"""Table of AgentRun UPDATEs: the spec is frozen once the run has started, metadata is not."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from k8sclaw_controllers.policy import Decision, spec_immutable
from k8sclaw_controllers.policy._lifecycle import changed_fields, started
from tests.policy._builders import run_body

Body = dict[str, Any]


def _with_status(**status: Any) -> Body:
    body = run_body()
    if status:
        body["status"] = status
    return body


def _edit(change: Callable[[Body], None]) -> Callable[[Body], Body]:
    def apply(old: Body) -> Body:
        new = copy.deepcopy(old)
        change(new)
        new.pop("status", None)  # an UPDATE of the main resource carries no status change
        return new

    return apply


def _set_task(body: Body) -> None:
    body["spec"]["task"] = "do something else"


def _set_tools(body: Body) -> None:
    body["spec"]["toolPolicy"] = {"allow": ["execute_command"]}


def _drop_model(body: Body) -> None:
    del body["spec"]["model"]


def _label(body: Body) -> None:
    body["metadata"]["labels"] = {"team": "a"}


def _annotate_and_finalize(body: Body) -> None:
    body["metadata"]["annotations"] = {"note": "x"}
    body["metadata"]["finalizers"] = ["k8sclaw.io/agentrun"]


def _nothing(body: Body) -> None:
    """An UPDATE that re-sends the same spec (kubectl apply of an unchanged file)."""


RUNNING = {"phase": "Running", "jobName": "run-1"}
CASES = [
    pytest.param({}, _set_task, [], id="not-started-spec-change-passes"),
    pytest.param({"conditions": []}, _set_task, [], id="empty-status-is-not-started"),
    pytest.param(RUNNING, _set_task, ["spec.task"], id="running-task-change-denied"),
    pytest.param(RUNNING, _set_tools, ["spec.toolPolicy"], id="running-toolpolicy-denied"),
    pytest.param(RUNNING, _drop_model, ["spec.model"], id="running-removed-field-denied"),
    pytest.param({"phase": "Pending"}, _set_task, ["spec.task"], id="queued-pending-denied"),
    pytest.param({"phase": "Succeeded"}, _set_task, ["spec.task"], id="succeeded-denied"),
    pytest.param({"phase": "Failed"}, _set_tools, ["spec.toolPolicy"], id="failed-denied"),
    pytest.param({"jobName": "run-1"}, _set_task, ["spec.task"], id="job-without-phase-denied"),
    pytest.param(RUNNING, _label, [], id="running-label-change-passes"),
    pytest.param(RUNNING, _annotate_and_finalize, [], id="running-metadata-passes"),
    pytest.param(RUNNING, _nothing, [], id="running-same-spec-passes"),
]


@pytest.mark.parametrize(("status", "change", "fields"), CASES)
def test_spec_changes_after_start_are_denied_naming_the_fields(
    status: Body, change: Callable[[Body], None], fields: list[str]
) -> None:
    old = _with_status(**status)
    new = _edit(change)(old)
    found = spec_immutable(old, new)
    if not fields:
        assert found == []
        return
    assert [violation.rule for violation in found] == ["spec.immutable"]
    message = Decision(violations=tuple(found)).message
    assert message.startswith("denied by K8sClaw admission rule spec.immutable: ")
    assert f"(changed: {', '.join(fields)})" in message
    assert "create a new AgentRun instead" in message


def test_started_names_the_phase_or_the_job() -> None:
    assert started(run_body()) is None
    assert started({**run_body(), "status": "garbage"}) is None
    assert started(_with_status(phase="Running")) == "Running"
    assert started(_with_status(jobName="run-1")) == "started"


def test_changed_fields_lists_added_removed_and_changed_keys_sorted() -> None:
    old = run_body(toolPolicy={"allow": ["read_file"]})
    new = run_body(sandbox={"enabled": True})
    new["spec"]["task"] = "other"
    assert changed_fields(old, new) == ["spec.sandbox", "spec.task", "spec.toolPolicy"]
    assert changed_fields({}, {}) == []
