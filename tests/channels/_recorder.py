"""The channel runtime's side of the adapter contract, reduced to lists a test reads.

One definition for every adapter's tests: what the adapter reported heard, and each health
state it announced, with a bounded wait for either to reach a condition.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from k8sclaw_protocol._chat import HealthState, InboundMessage

WAIT = 10.0
"""Bound on any single wait; a scripted platform answers in milliseconds."""


class Recorder:
    """Records `received` messages and `health` states; `until` waits for a condition."""

    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []
        self.states: list[tuple[HealthState, str | None]] = []
        self.changed = asyncio.Event()

    async def received(self, message: InboundMessage) -> None:
        self.messages.append(message)
        self.changed.set()

    async def health(self, state: HealthState, message: str | None = None) -> None:
        self.states.append((state, message))
        self.changed.set()

    async def until(self, check: Callable[[], bool], what: str = "the condition") -> None:
        """Wait (bounded) until `check()` holds; a timeout fails naming `what`."""
        try:
            async with asyncio.timeout(WAIT):
                while not check():
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}") from None

    @property
    def connected(self) -> bool:
        """The last announced state is Connected."""
        return bool(self.states) and self.states[-1][0] == "Connected"

    def texts(self) -> list[str]:
        return [m.text for m in self.messages]
