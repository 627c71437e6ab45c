"""A virtual clock for the schedule controller: time moves only when the test moves it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta


class FakeClock:
    """Implements the manager's `Clock`: `now` is what the test set; sleepers wake on a move."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._sleepers: set[asyncio.Event] = set()

    def now(self) -> datetime:
        return self._now

    async def sleep_until(self, when: datetime | None, wake: asyncio.Event) -> None:
        if when is not None and self._now >= when:
            return
        self._sleepers.add(wake)
        try:
            await wake.wait()
        finally:
            self._sleepers.discard(wake)

    def set(self, moment: datetime) -> None:
        """Jump to `moment` (forwards only, as wall time does) and wake every sleeper."""
        assert moment >= self._now, f"the virtual clock cannot go back to {moment}"
        self._now = moment
        for wake in list(self._sleepers):
            wake.set()

    def advance(self, seconds: float) -> None:
        self.set(self._now + timedelta(seconds=seconds))
