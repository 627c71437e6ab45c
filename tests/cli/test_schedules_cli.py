"""`k8sclaw schedules ...` against the harness API (no controller needed)."""

from __future__ import annotations

import json
from typing import Any

import kubernetes
import pytest
from click.testing import CliRunner, Result

from k8sclaw.cli import cli
from k8sclaw_protocol import names
from tests.harness.kube import KubeEnv


def k8sclaw(kube: KubeEnv, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--kubeconfig", str(kube.kubeconfig)])


def api(kube: KubeEnv) -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(kube.api_client)


def get(kube: KubeEnv, plural: str, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = api(kube).get_namespaced_custom_object(
        names.GROUP, names.API_VERSION, kube.namespace, plural, name
    )
    return obj


@pytest.fixture
def alice(kube: KubeEnv) -> KubeEnv:
    body = {
        "apiVersion": names.GROUP_VERSION,
        "kind": "ClawInstance",
        "metadata": {"name": "alice"},
        "spec": {"agents": {"default": {"model": "gpt-4o"}}},
    }
    api(kube).create_namespaced_custom_object(
        names.GROUP, names.API_VERSION, kube.namespace, "clawinstances", body
    )
    return kube


def create_nightly(kube: KubeEnv, *extra: str) -> Result:
    return k8sclaw(
        kube,
        *("schedules", "create", "nightly", "--schedule", "30 2 * * *", "--task", "tidy up"),
        *("--time-zone", "Europe/Berlin", "-n", kube.namespace, *extra),
    )


def test_create_list_get_delete(alice: KubeEnv) -> None:
    result = create_nightly(alice, "--type", "heartbeat")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "clawschedule/nightly\n"
    obj = get(alice, "clawschedules", "nightly")
    assert obj["spec"]["instanceRef"] == "alice"  # the only instance
    assert obj["spec"]["timeZone"] == "Europe/Berlin"
    assert obj["spec"]["type"] == "heartbeat"
    assert obj["spec"]["concurrencyPolicy"] == "Forbid"
    [owner] = obj["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == ("ClawInstance", "alice")
    listed = k8sclaw(alice, "schedules", "list", "-n", alice.namespace)
    assert listed.exit_code == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split()[:5] == ["NAME", "INSTANCE", "SCHEDULE", "SUSPEND", "PHASE"]
    assert row.split()[0] == "nightly"
    as_json = json.loads(k8sclaw(alice, "schedules", "get", "nightly", "-o", "json").stdout)
    assert as_json["spec"]["schedule"] == "30 2 * * *"
    deleted = k8sclaw(alice, "schedules", "delete", "nightly", "-n", alice.namespace)
    assert deleted.stdout == "clawschedule/nightly deleted\n"


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (("--schedule", "every day"), "not a five-field cron expression"),
        (("--schedule", "@fortnightly"), "unknown macro"),
        (("--schedule", "0 * * * *", "--time-zone", "Moon/Base"), "not an IANA time zone"),
    ],
)
def test_invalid_schedules_are_refused_before_the_cluster(
    alice: KubeEnv, flags: tuple[str, ...], words: str
) -> None:
    result = k8sclaw(alice, "schedules", "create", "bad", "--task", "x", *flags)
    assert result.exit_code == 1
    error, hint = result.stderr.splitlines()
    assert error.startswith("error: ") and words in error
    assert hint == "hint: see `k8sclaw schedules create --help`"


def test_suspend_and_resume_patch_spec_suspend(alice: KubeEnv) -> None:
    assert create_nightly(alice).exit_code == 0
    out = k8sclaw(alice, "schedules", "suspend", "nightly", "-n", alice.namespace)
    assert out.stdout == "clawschedule/nightly suspended\n"
    assert get(alice, "clawschedules", "nightly")["spec"]["suspend"] is True
    out = k8sclaw(alice, "schedules", "resume", "nightly", "-n", alice.namespace)
    assert out.stdout == "clawschedule/nightly resumed\n"
    assert get(alice, "clawschedules", "nightly")["spec"]["suspend"] is False


def test_trigger_creates_a_run_owned_by_the_schedule(alice: KubeEnv) -> None:
    assert create_nightly(alice).exit_code == 0
    result = k8sclaw(alice, "schedules", "trigger", "nightly", "-n", alice.namespace)
    assert result.exit_code == 0, result.stderr
    name = result.stdout.strip().removeprefix("agentrun/")
    assert name.startswith("nightly-m") and name[len("nightly-m") :].isdigit()
    run = get(alice, "agentruns", name)
    labels = run["metadata"]["labels"]
    assert labels[names.LABEL_SCHEDULE] == "nightly"
    assert labels[names.LABEL_COMPONENT] == "scheduler"
    assert labels[names.LABEL_INSTANCE] == "alice"
    [owner] = run["metadata"]["ownerReferences"]
    schedule = get(alice, "clawschedules", "nightly")
    assert (owner["kind"], owner["uid"]) == ("ClawSchedule", schedule["metadata"]["uid"])
    assert run["spec"]["task"] == "tidy up"


def test_missing_schedule_is_one_line(alice: KubeEnv) -> None:
    for verb in ("trigger", "suspend", "get"):
        result = k8sclaw(alice, "schedules", verb, "ghost", "-n", alice.namespace)
        assert result.exit_code == 7, (verb, result.stderr)
        error, hint = result.stderr.splitlines()
        assert "ghost" in error and hint.startswith("hint: ")


def test_a_heartbeat_may_name_the_chat_it_posts_to(alice: KubeEnv) -> None:
    flags = ("--type", "heartbeat", "--deliver-to", "telegram:-100123:42")
    result = create_nightly(alice, *flags)
    assert result.exit_code == 0, result.stderr
    spec = get(alice, "clawschedules", "nightly")["spec"]
    assert spec["deliverTo"] == {"channel": "telegram", "chatId": "-100123", "threadId": "42"}


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (("--deliver-to", "telegram:c-1"), "only for heartbeats"),
        (("--type", "heartbeat", "--deliver-to", "irc:c-1"), "is not a channel and a chat"),
        (("--type", "heartbeat", "--deliver-to", "slack"), "is not a channel and a chat"),
    ],
)
def test_a_bad_delivery_target_is_refused_before_the_cluster(
    alice: KubeEnv, flags: tuple[str, ...], words: str
) -> None:
    result = create_nightly(alice, *flags)
    assert result.exit_code == 1
    assert words in result.stderr
    assert "--deliver-to CHANNEL:CHAT[:THREAD]" in result.stderr
