"""The schedule controller's time: a clock it can be given, and one timer for every schedule.

The clock is injected (tests drive a virtual one, so "a tick, a restart at the boundary,
three ticks of downtime" take no wall time and no sleeps). The `Ticker` keeps the next due
time of every schedule and sleeps until the earliest: one timer in the process, however
many schedules there are, and no periodic pass over every object.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

Key = tuple[str, str]  # (namespace, name)
MAX_SLEEP_SECONDS = 60.0
"""The longest the ticker sleeps before it looks at the wall clock again (an NTP step or a
suspended VM moves the wall clock without moving the event loop's monotonic timers)."""


class Clock(Protocol):
    """Where the schedule controller reads the time and waits for it."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""

    async def sleep_until(self, when: datetime | None, wake: asyncio.Event) -> None:
        """Return at `when` (None: no deadline), when `wake` is set, or earlier."""


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime | None, wake: asyncio.Event) -> None:
        """Sleep on the event loop's timer; capped so a wall-clock jump is noticed."""
        delay = MAX_SLEEP_SECONDS
        if when is not None:
            delay = min(delay, max((when - self.now()).total_seconds(), 0.0))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), delay)


class Ticker:
    """The next due time per schedule, and the loop that reports each one when it comes."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._due: dict[Key, datetime] = {}
        self._heap: list[tuple[datetime, Key]] = []
        self._changed = asyncio.Event()
        self.latest: dict[Key, dict[str, Any]] = {}
        """The latest body seen per schedule, so a due tick is reconciled without a GET
        (a body older than this process's own status write is harmless: see `handled`)."""
        self.phases: dict[tuple[str, str, str], str] = {}
        """The phase this process last wrote per schedule: newer than any body it holds
        (only the controller writes the phase), so a resume is recognised once."""
        self.handled: dict[tuple[str, str, str], datetime] = {}
        """The latest tick this process handled per schedule (namespace, name, uid): a
        stale watch event, older than the status this process wrote, cannot fire it twice."""

    def set(self, key: Key, when: datetime) -> None:
        """Report `key` at `when` (replacing its earlier due time)."""
        if self._due.get(key) == when:
            return
        self._due[key] = when
        heapq.heappush(self._heap, (when, key))
        self._changed.set()

    def drop(self, key: Key) -> None:
        """Forget `key` (deleted, suspended, or never due again)."""
        self._due.pop(key, None)

    def forget(self, key: Key) -> None:
        """Drop what is remembered about a deleted schedule."""
        self.latest.pop(key, None)
        for ident in [i for i in self.handled if i[:2] == key]:
            del self.handled[ident]
        for ident in [i for i in self.phases if i[:2] == key]:
            del self.phases[ident]

    def due_time(self, key: Key) -> datetime | None:
        """When `key` is due next, if it is waiting."""
        return self._due.get(key)

    def pop_due(self, now: datetime) -> list[Key]:
        """The keys due at or before `now`, removed from the ticker."""
        due = []
        while self._heap and self._heap[0][0] <= now:
            when, key = heapq.heappop(self._heap)
            if self._due.get(key) == when:
                del self._due[key]
                due.append(key)
        return due

    def earliest(self) -> datetime | None:
        """The next due time of any key (stale heap entries are dropped on the way)."""
        while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    async def run(self, fire: Callable[[Key], None]) -> None:
        """Call `fire(key)` for each key as it falls due, until cancelled."""
        while True:
            self._changed.clear()
            for key in self.pop_due(self.clock.now()):
                fire(key)
            await self.clock.sleep_until(self.earliest(), self._changed)
