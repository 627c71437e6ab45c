"""The shared run builder fills everything a run needs from its instance."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml

from k8sclaw.installer import SAMPLES_DIR
from k8sclaw_protocol import (
    AgentRun,
    ClawInstance,
    ClawSchedule,
    build_run,
    build_scheduled_run,
    names,
    run_name,
)
from tests.support.crdschema import errors


def _instance(**spec_overrides: object) -> ClawInstance:
    body = yaml.safe_load((SAMPLES_DIR / "clawinstance.yaml").read_text())
    body["metadata"].update(namespace="team-a", uid="1234-uid")
    body["spec"].update(spec_overrides)
    return ClawInstance.from_wire(body)


def test_run_carries_model_secret_skills_labels_and_owner() -> None:
    run = build_run(_instance(), "summarise the news", source="tui")
    assert isinstance(run, AgentRun)
    assert run.metadata.generate_name == "alice-run-"
    assert run.metadata.name is None
    assert run.metadata.namespace == "team-a"
    assert run.metadata.labels == {
        names.LABEL_INSTANCE: "alice",
        names.LABEL_COMPONENT: "tui",
        names.LABEL_MANAGED_BY: "k8sclaw",
    }
    (owner,) = run.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid) == ("ClawInstance", "alice", "1234-uid")
    assert run.spec.model.provider == "openai"
    assert run.spec.model.model == "gpt-4o"
    assert run.spec.model.auth_secret_ref == "alice-openai-key"
    assert [s.skill_pack_ref for s in run.spec.skills] == ["code-review"]
    assert run.spec.sandbox is not None and run.spec.sandbox.enabled
    assert run.spec.timeout == "10m"
    assert run.spec.session_key.startswith("tui-")


def test_wire_form_is_valid_against_the_crd() -> None:
    wire = build_run(_instance(), "hello", source="cli", name="alice-run-1").to_wire()
    assert errors(wire) == []
    assert wire["metadata"]["name"] == "alice-run-1"
    assert "generateName" not in wire["metadata"]


def test_provider_comes_from_auth_ref_and_picks_its_secret() -> None:
    inst = _instance(
        agents={"default": {"model": "claude-sonnet-4-20250514"}},
        authRefs=[
            {"provider": "anthropic", "secret": "alice-anthropic-key"},
            {"provider": "openai", "secret": "alice-openai-key"},
        ],
    )
    run = build_run(inst, "hi", source="api")
    assert run.spec.model.provider == "anthropic"
    assert run.spec.model.auth_secret_ref == "alice-anthropic-key"
    assert run.spec.sandbox is None


@pytest.mark.parametrize(
    ("task", "name", "message"),
    [("   ", None, "task: must not be empty"), ("hi", "x" * 64, "longer than 63")],
    ids=["blank-task", "name-too-long"],
)
def test_bad_input_is_a_clear_error(task: str, name: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_run(_instance(), task, source="cli", name=name)


def test_long_instance_names_still_give_valid_job_names() -> None:
    inst = _instance()
    inst.metadata.name = "a" * 80
    prefix = build_run(inst, "hi", source="cli").metadata.generate_name
    assert prefix is not None and len(prefix) + 5 <= 63


def _schedule(uid: str | None = "sched-uid") -> ClawSchedule:
    return ClawSchedule.from_wire(
        {
            "metadata": {"name": "nightly", "namespace": "team-a", "uid": uid},
            "spec": {"instanceRef": "alice", "schedule": "0 3 * * *", "task": "tidy up"},
        }
    )


def test_scheduled_run_is_named_by_tick_labelled_and_owned_by_its_schedule() -> None:
    tick = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
    run = build_scheduled_run(_schedule(), _instance(), tick)
    assert run.metadata.name == run_name("nightly", tick) == "nightly-1767236400"
    assert run.metadata.labels[names.LABEL_SCHEDULE] == "nightly"
    assert run.metadata.labels[names.LABEL_SCHEDULE_TYPE] == "scheduled"
    assert run.metadata.labels[names.LABEL_COMPONENT] == "scheduler"
    (owner,) = run.metadata.owner_references
    assert (owner.kind, owner.uid, owner.controller) == ("ClawSchedule", "sched-uid", True)
    assert run.spec.task == "tidy up"
    assert run.spec.model.auth_secret_ref == "alice-openai-key"  # the instance's, as any run
    manual = build_scheduled_run(_schedule(), _instance(), tick, manual=True)
    assert manual.metadata.name == "nightly-m1767236400"
    assert not errors(run.to_wire())


def test_scheduled_run_needs_a_stored_schedule() -> None:
    with pytest.raises(ValueError, match="no uid"):
        build_scheduled_run(_schedule(uid=None), _instance(), datetime(2026, 1, 1, tzinfo=UTC))
