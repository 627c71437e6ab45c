"""The ClawSchedule controller on a virtual clock, against the Kubernetes API.

The manager runs in the test's event loop with a `FakeClock`: time moves only when the
test moves it, so ticks, downtime and restarts at a tick boundary take no wall time. Every
wait is on a watch of the schedule's status (the controller writes `nextScheduleTime` /
`lastTickTime` each time it handles a tick), never a sleep; absence of a run is asserted
only after such a sync point. Runs the same on a real API server.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import kubernetes

from k8sclaw_controllers.manager import _kube, _schedrun
from k8sclaw_controllers.manager._context import Context
from k8sclaw_protocol import run_name
from tests.controllers.manager import _harness
from tests.controllers.manager._fakeclock import FakeClock
from tests.controllers.manager._harness import GROUP, VERSION, create, custom, instance_body
from tests.harness.kube import KubeEnv

Body = dict[str, Any]


def schedule_body(name: str, schedule: str = "* * * * *", **spec: Any) -> Body:
    return {
        "metadata": {"name": name},
        "spec": {"instanceRef": "alice", "schedule": schedule, "task": "check in", **spec},
    }


def parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def created_at(obj: Body) -> datetime:
    return parse(obj["metadata"]["creationTimestamp"])


def next_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0) + timedelta(minutes=1)


def status(obj: Body) -> Body:
    return obj.get("status") or {}


async def wait_schedule(kube: KubeEnv, name: str, predicate: Callable[[Body], bool]) -> Body:
    """Wait (on a watch) until schedule `name` satisfies `predicate`."""

    def match(obj: Body) -> bool:
        return bool(obj["metadata"]["name"] == name and predicate(obj))

    found: Body = await _harness.wait_for(
        custom(kube).list_namespaced_custom_object,
        match,
        60,
        group=GROUP,
        version=VERSION,
        namespace=kube.namespace,
        plural="clawschedules",
    )
    return found


async def handled(kube: KubeEnv, name: str, tick: datetime) -> Body:
    """Wait until the controller has handled `tick` (run, skip or missed)."""
    stamp = tick.strftime("%Y-%m-%dT%H:%M:%SZ")
    return await wait_schedule(kube, name, lambda o: status(o).get("lastTickTime") == stamp)


async def next_at(kube: KubeEnv, name: str, when: datetime) -> Body:
    """Wait until the controller reports `when` as the schedule's next tick."""
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return await wait_schedule(kube, name, lambda o: status(o).get("nextScheduleTime") == stamp)


def runs_of(kube: KubeEnv, schedule: str) -> dict[str, Body]:
    listing = custom(kube).list_namespaced_custom_object(
        GROUP,
        VERSION,
        kube.namespace,
        "agentruns",
        label_selector=f"k8sclaw.io/schedule={schedule}",
    )
    return {r["metadata"]["name"]: r for r in listing["items"] if not _deleting(r)}


def _deleting(run: Body) -> bool:
    return bool(run["metadata"].get("deletionTimestamp"))


def finish(kube: KubeEnv, name: str, phase: str = "Succeeded") -> None:
    custom(kube).patch_namespaced_custom_object_status(
        GROUP, VERSION, kube.namespace, "agentruns", name, {"status": {"phase": phase}}
    )


async def running_run(kube: KubeEnv, name: str) -> Body:
    return await _harness.wait_run(kube, name, lambda o: _harness.phase(o) == "Running")


def setup(kube: KubeEnv, name: str, **spec: Any) -> tuple[Body, FakeClock]:
    """An instance and a schedule, and a virtual clock at the schedule's creation."""
    create(kube, "clawinstances", instance_body())
    schedule = create(kube, "clawschedules", schedule_body(name, **spec))
    return schedule, FakeClock(created_at(schedule))


async def test_each_tick_fires_exactly_once_across_a_restart_at_the_boundary(
    kube: KubeEnv,
) -> None:
    schedule, clock = setup(kube, "minutely", concurrencyPolicy="Allow")
    settings = _harness.settings_for(kube)
    first = next_minute(clock.now())
    async with _harness.running(settings, clock):
        await next_at(kube, "minutely", first)
        assert runs_of(kube, "minutely") == {}  # creation never back-fires
        clock.set(first)
        await handled(kube, "minutely", first)
    # The controller "crashed" after creating the run and before recording it.
    custom(kube).patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        kube.namespace,
        "clawschedules",
        "minutely",
        {"status": {"lastTickTime": None, "lastRunName": None, "totalRuns": 0}},
    )
    async with _harness.running(settings, clock):  # restarted at the same instant
        after = await handled(kube, "minutely", first)
        assert status(after)["lastRunName"] == run_name("minutely", first)
        assert status(after)["totalRuns"] == 1
        for minute in range(1, 4):
            clock.set(first + timedelta(minutes=minute))
            await handled(kube, "minutely", clock.now())
    ticks = [first + timedelta(minutes=m) for m in range(4)]
    runs = runs_of(kube, "minutely")
    assert sorted(runs) == sorted(run_name("minutely", t) for t in ticks)
    for run in runs.values():
        [owner] = run["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["uid"], owner["controller"]) == (
            "ClawSchedule",
            schedule["metadata"]["uid"],
            True,
        )
        labels = run["metadata"]["labels"]
        assert labels["k8sclaw.io/instance"] == "alice"
        assert labels["k8sclaw.io/component"] == "scheduler"
        assert labels["k8sclaw.io/type"] == "scheduled"
        assert run["spec"]["model"]["model"] == "gpt-4o"  # built from the instance


async def test_creation_never_back_fires_even_for_a_daily_schedule(kube: KubeEnv) -> None:
    _, clock = setup(kube, "daily", schedule="0 0 * * *")
    midnight = clock.now().replace(hour=0, minute=0, second=0) + timedelta(days=1)
    async with _harness.running(_harness.settings_for(kube), clock):
        obj = await next_at(kube, "daily", midnight)
        assert runs_of(kube, "daily") == {}
        assert status(obj).get("lastTickTime") is None
        assert status(obj)["phase"] == "Active"


async def test_three_ticks_of_downtime_give_one_catch_up_run(kube: KubeEnv) -> None:
    _, clock = setup(kube, "catchup", concurrencyPolicy="Allow")
    settings = _harness.settings_for(kube)
    first = next_minute(clock.now())
    async with _harness.running(settings, clock):
        clock.set(first)
        await handled(kube, "catchup", first)
    clock.set(first + timedelta(minutes=3, seconds=20))  # ticks 2, 3 and 4 missed
    latest = first + timedelta(minutes=3)
    async with _harness.running(settings, clock):
        await handled(kube, "catchup", latest)
        await next_at(kube, "catchup", latest + timedelta(minutes=1))
    assert sorted(runs_of(kube, "catchup")) == sorted(
        [run_name("catchup", first), run_name("catchup", latest)]
    )


async def test_a_catch_up_past_the_starting_deadline_is_skipped(kube: KubeEnv) -> None:
    _, clock = setup(kube, "strict", startingDeadlineSeconds=10)
    first = next_minute(clock.now())
    clock.set(first + timedelta(minutes=2, seconds=30))  # the controller was down
    async with _harness.running(_harness.settings_for(kube), clock):
        await handled(kube, "strict", first + timedelta(minutes=2))
        assert runs_of(kube, "strict") == {}
        await _harness.wait_for(
            kubernetes.client.CoreV1Api(kube.api_client).list_namespaced_event,
            lambda e: e.reason == "MissedSchedule" and e.involved_object.name == "strict",
            namespace=kube.namespace,
        )


async def test_forbid_skips_while_a_run_is_active(kube: KubeEnv) -> None:
    _, clock = setup(kube, "forbid")
    first = next_minute(clock.now())
    async with _harness.running(_harness.settings_for(kube), clock):
        clock.set(first)
        await handled(kube, "forbid", first)
        await running_run(kube, run_name("forbid", first))
        clock.set(first + timedelta(minutes=1))
        obj = await handled(kube, "forbid", clock.now())
        assert status(obj)["lastRunName"] == run_name("forbid", first)
        assert list(runs_of(kube, "forbid")) == [run_name("forbid", first)]
        finish(kube, run_name("forbid", first))
        await _harness.wait_run(kube, run_name("forbid", first), lambda o: True)
        clock.set(first + timedelta(minutes=2))
        await handled(kube, "forbid", clock.now())
    assert sorted(runs_of(kube, "forbid")) == sorted(
        run_name("forbid", first + timedelta(minutes=m)) for m in (0, 2)
    )


async def test_replace_deletes_the_active_run(kube: KubeEnv) -> None:
    _, clock = setup(kube, "replace", concurrencyPolicy="Replace")
    first = next_minute(clock.now())
    second = first + timedelta(minutes=1)
    async with _harness.running(_harness.settings_for(kube), clock):
        clock.set(first)
        await handled(kube, "replace", first)
        await running_run(kube, run_name("replace", first))
        clock.set(second)
        await handled(kube, "replace", second)
        assert list(runs_of(kube, "replace")) == [run_name("replace", second)]


async def test_suspend_stops_ticks_and_resume_does_not_back_fire(kube: KubeEnv) -> None:
    _, clock = setup(kube, "pausable", concurrencyPolicy="Allow")
    first = next_minute(clock.now())
    api = custom(kube)

    def suspend(value: bool) -> None:
        patch = {"spec": {"suspend": value}}
        api.patch_namespaced_custom_object(
            GROUP, VERSION, kube.namespace, "clawschedules", "pausable", patch
        )

    async with _harness.running(_harness.settings_for(kube), clock):
        clock.set(first)
        await handled(kube, "pausable", first)
        suspend(True)
        obj = await wait_schedule(kube, "pausable", lambda o: status(o)["phase"] == "Suspended")
        assert "nextScheduleTime" not in status(obj)
        clock.set(first + timedelta(minutes=3, seconds=5))
        suspend(False)
        resumed = first + timedelta(minutes=3)
        await handled(kube, "pausable", resumed)  # consumed on resume, not run
        assert list(runs_of(kube, "pausable")) == [run_name("pausable", first)]
        clock.set(resumed + timedelta(minutes=1))
        await handled(kube, "pausable", clock.now())
    assert sorted(runs_of(kube, "pausable")) == sorted(
        [run_name("pausable", first), run_name("pausable", resumed + timedelta(minutes=1))]
    )


async def test_dst_in_a_named_zone_fires_as_croniter_defines(kube: KubeEnv) -> None:
    """Berlin 2027: 02:30 is skipped to 03:00 on Mar 28 and happens twice on Oct 31."""
    _, clock = setup(
        kube, "berlin", schedule="30 2 * * *", timeZone="Europe/Berlin", concurrencyPolicy="Allow"
    )
    spring = datetime(2027, 3, 28, 1, 0, tzinfo=UTC)  # 03:00 CEST, the first minute after 02:30
    fall = [datetime(2027, 10, 31, 0, 30, tzinfo=UTC), datetime(2027, 10, 31, 1, 30, tzinfo=UTC)]
    async with _harness.running(_harness.settings_for(kube), clock):
        clock.set(spring - timedelta(minutes=1))
        await next_at(kube, "berlin", spring)
        for tick in (spring, *fall):
            clock.set(tick)
            await handled(kube, "berlin", tick)
        await next_at(kube, "berlin", datetime(2027, 11, 1, 1, 30, tzinfo=UTC))
    names = set(runs_of(kube, "berlin"))
    assert {run_name("berlin", t) for t in (spring, *fall)} <= names


async def test_a_foreign_run_with_the_tick_name_is_a_collision_not_a_ghost(
    kube: KubeEnv,
) -> None:
    _, clock = setup(kube, "clash")
    first = next_minute(clock.now())
    taken = run_name("clash", first)
    create(kube, "agentruns", _harness.run_body(taken))  # someone else's run, same name
    async with _harness.running(_harness.settings_for(kube), clock):
        clock.set(first)
        obj = await handled(kube, "clash", first)
    assert status(obj).get("lastRunName") is None
    assert status(obj).get("totalRuns", 0) == 0
    [ready] = status(obj)["conditions"]
    assert (ready["status"], ready["reason"]) == ("False", "NameCollision")


async def test_history_limits_prune_the_oldest_finished_runs(kube: KubeEnv) -> None:
    _, clock = setup(
        kube,
        "pruned",
        concurrencyPolicy="Allow",
        successfulRunsHistoryLimit=1,
        failedRunsHistoryLimit=0,
    )
    first = next_minute(clock.now())
    ticks = [first + timedelta(minutes=m) for m in range(4)]
    async with _harness.running(_harness.settings_for(kube), clock):
        for tick, outcome in zip(ticks[:3], ("Succeeded", "Succeeded", "Failed"), strict=True):
            clock.set(tick)
            await handled(kube, "pruned", tick)
            await running_run(kube, run_name("pruned", tick))
            finish(kube, run_name("pruned", tick), outcome)
            await _harness.wait_run(kube, run_name("pruned", tick), lambda o: True)
        clock.set(ticks[3])
        await handled(kube, "pruned", ticks[3])
    # Kept: the newest success; the failure is over its limit of 0; the new run is active.
    assert sorted(runs_of(kube, "pruned")) == sorted(run_name("pruned", t) for t in ticks[1::2])


async def test_an_invalid_time_zone_is_an_error_condition(kube: KubeEnv) -> None:
    _, clock = setup(kube, "nowhere", timeZone="Mars/Olympus")
    async with _harness.running(_harness.settings_for(kube), clock):
        obj = await wait_schedule(kube, "nowhere", lambda o: status(o).get("phase") == "Error")
    [ready] = status(obj)["conditions"]
    assert ready["reason"] == "InvalidSchedule"
    assert "IANA" in ready["message"]


async def test_a_missing_instance_skips_the_tick_until_it_exists(kube: KubeEnv) -> None:
    schedule = create(kube, "clawschedules", schedule_body("orphan", instanceRef="nobody"))
    clock = FakeClock(created_at(schedule))
    first = next_minute(clock.now())
    async with _harness.running(_harness.settings_for(kube), clock):
        clock.set(first)
        obj = await handled(kube, "orphan", first)
        [ready] = status(obj)["conditions"]
        assert (ready["status"], ready["reason"]) == ("False", "InstanceNotFound")
        assert "nobody" in ready["message"]
        assert runs_of(kube, "orphan") == {}
        create(kube, "clawinstances", instance_body("nobody"))
        clock.set(first + timedelta(minutes=1))
        obj = await handled(kube, "orphan", clock.now())
    assert status(obj)["conditions"][0]["reason"] == "Scheduled"
    assert list(runs_of(kube, "orphan")) == [run_name("orphan", first + timedelta(minutes=1))]


async def test_an_active_run_is_confirmed_with_the_cluster_before_a_tick_skips(
    kube: KubeEnv,
) -> None:
    """The watch-fed index may still call a run active that finished a moment ago (the
    watch lags): Forbid must not skip, nor Replace delete, on that stale word."""
    create(kube, "clawinstances", instance_body())
    finished = create(kube, "agentruns", _harness.run_body("done"))
    finish(kube, "done")
    running = create(kube, "agentruns", _harness.run_body("busy"))
    stale = {**finished, "status": {"phase": "Running"}}
    gone = _harness.run_body("gone")
    gone["metadata"]["namespace"] = kube.namespace
    client = _kube.Kube.connect(_kube.load_configuration(str(kube.kubeconfig)))
    try:
        ctx = cast(Context, SimpleNamespace(kube=client))
        confirmed = await _schedrun._confirmed_active(ctx, kube.namespace, [stale, running, gone])
    finally:
        await client.close()
    assert [run["metadata"]["name"] for run in confirmed] == ["busy"]
