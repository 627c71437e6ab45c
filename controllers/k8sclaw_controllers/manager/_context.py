"""The one object every handler receives: API client, settings, state, helpers."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from k8sclaw_controllers.manager import (
    _clock,
    _events,
    _jobbuilder,
    _kube,
    _schedindex,
    _settings,
    _state,
)
from k8sclaw_protocol import Condition
from k8sclaw_protocol._bus import EventBus


@dataclass
class BusState:
    """What /readyz reports about the bus: off, connected, or why not."""

    enabled: bool = False
    connected: Callable[[], bool] = lambda: False
    problem: str = "not connected to the event bus yet"

    def not_ready(self) -> str | None:
        """None when fine (or the bus is off), else the reason the manager is not ready."""
        if not self.enabled or self.connected():
            return None
        return self.problem


@dataclass
class Context:
    """Shared by the reconcilers of one manager process."""

    kube: _kube.Kube
    settings: _settings.Settings
    state: _state.State
    requeue: Callable[[str, str], Coroutine[Any, Any, None]] | None = None
    """Reconcile AgentRun (namespace, name) again now (wired by the operator)."""
    job_exists: Callable[[str, str], bool | None] = lambda _ns, _name: None
    """Whether the agent Job (namespace, name) exists, from the Job watch's cache; None
    when that cache cannot tell (not listed yet). Wired by the operator."""
    bus_seed: str | None = None
    """The bus account's signing seed, when the bus is on and the seed was readable."""
    bus_state: BusState = field(default_factory=BusState)
    bus: EventBus | None = None
    """The controller's bus connection while it is up (answers to sub-agent calls)."""
    clock: _clock.Clock = field(default_factory=_clock.SystemClock)
    """The schedule controller's time (tests give a virtual clock)."""
    requeue_schedule: Callable[[dict[str, Any]], None] = lambda _body: None
    """Reconcile a ClawSchedule again, in order with its watch events (wired by the operator)."""
    schedules: _schedindex.ScheduleRuns = field(default_factory=_schedindex.ScheduleRuns)
    """Each schedule's runs, fed by the AgentRun watch."""
    recorder: _events.Recorder = field(init=False)
    ticker: _clock.Ticker = field(init=False)

    def __post_init__(self) -> None:
        self.recorder = _events.Recorder(self.kube, self.state.spawn)
        self.ticker = _clock.Ticker(self.clock)

    @property
    def job_options(self) -> _jobbuilder.JobOptions:
        """Builder options derived from the settings."""
        return _jobbuilder.JobOptions(
            images=self.settings.images,
            event_bus_url=self.settings.event_bus_url,
            ttl_seconds=self.settings.job_ttl_seconds,
            default_timeout_seconds=self.settings.default_timeout_seconds,
            bus_credentials=self.bus_seed is not None,
        )

    def event(self, obj: dict[str, Any], reason: str, message: str, warning: bool = False) -> None:
        """Queue a Kubernetes Event; posted in the background, off the reconcile's path."""
        self.recorder.record(obj, reason, message, warning)

    def wake_queued(self, namespace: str, instance: str) -> None:
        """A run of `instance` left its slot: re-check the runs waiting for one."""
        if self.requeue is None:
            return
        for name in self.state.take_queued(namespace, instance):
            self.state.spawn(self.requeue(namespace, name))


def now() -> datetime:
    """The current time, timezone-aware, second precision (as Kubernetes stores it)."""
    return datetime.now(UTC).replace(microsecond=0)


def timestamp(value: datetime | None = None) -> str:
    """RFC 3339 form used in status fields."""
    return (value or now()).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(
    kind: str, status: bool, reason: str, message: str = "", generation: int | None = None
) -> dict[str, Any]:
    """A status condition in wire form."""
    return Condition(
        type=kind,
        status="True" if status else "False",
        reason=reason,
        message=message,
        observed_generation=generation,
        last_transition_time=now(),
    ).to_wire()
