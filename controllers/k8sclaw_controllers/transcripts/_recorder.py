"""The transcript recorder: a durable JetStream consumer writing every run event once.

It reads `k8sclaw.>` on the durable consumer `recorder` with manual acknowledgement,
collects a batch, asks the Kubernetes API where each run sits, writes the batch in one
transaction, and only then acknowledges it. A crash anywhere before the ack means the
batch is delivered again; the store's unique key on the stream sequence makes that
second write a no-op. So: no gap, no duplicate. Namespace and run come from the subject
the server delivered on, the event id from the stream sequence, nothing from the payload.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Final

from k8sclaw_controllers.transcripts import _interface, _lookup, _rows
from k8sclaw_protocol import Backoff, Event, EventBus
from k8sclaw_protocol._bus import Subscription

log = logging.getLogger("k8sclaw.transcripts")

DURABLE: Final = "recorder"
"""The recorder's durable consumer (and bus identity) name."""
ALL_SUBJECTS: Final = ">"
"""Subscription topic for every subject of the stream (`k8sclaw.>`)."""


@dataclass
class RecorderStats:
    """Counters for metrics and tests."""

    batches: int = 0
    recorded: int = 0
    duplicates: int = 0
    skipped: int = 0
    failures: int = 0


class Recorder:
    """Consume, store in batches, acknowledge after the commit."""

    def __init__(
        self,
        bus: EventBus,
        store: _interface.TranscriptStore,
        lookup: _lookup.RunLookup,
        *,
        durable: str = DURABLE,
        batch_size: int = 256,
        linger: float = 0.02,
        backoff: Backoff | None = None,
    ) -> None:
        self._bus, self._store, self._lookup = bus, store, lookup
        self._durable, self._batch_size, self._linger = durable, batch_size, linger
        self._backoff = backoff or Backoff(initial=0.1, maximum=5.0)
        self.stats = RecorderStats()

    async def run(self) -> None:
        """Record until cancelled (unacknowledged events are handed back on the way out)."""
        sub = self._bus.subscribe(
            ALL_SUBJECTS, durable=self._durable, deliver="all", manual_ack=True
        )
        async with sub:
            while True:
                batch = await self._collect(sub)
                await self._write(batch)
                await sub.ack(*batch)

    async def _collect(self, sub: Subscription) -> list[Event]:
        """The next batch: waits for one event, then takes what has arrived, waiting up to
        `linger` seconds in all for the batch to fill."""
        batch = [await sub.next()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._linger
        while True:
            batch += sub.ready(self._batch_size - len(batch))
            left = deadline - loop.time()
            if len(batch) >= self._batch_size or left <= 0:
                return batch
            try:
                batch.append(await sub.next(left))
            except TimeoutError:
                return batch

    async def _write(self, batch: list[Event]) -> None:
        """Store the run events of `batch`, retrying (with back-off) until it is committed."""
        now = int(time.time() * 1000)
        rows = [row for event in batch if (row := _convert(event, now))]
        self.stats.skipped += len(batch) - len(rows)
        if not rows:
            return
        async for _ in self._backoff.delays():
            try:
                infos = {
                    key: await self._lookup(*key) for key in {(r.namespace, r.run) for r in rows}
                }
                inserted = await self._store.record(rows, infos)
            except Exception as exc:  # the database or the API server is away: try again
                self.stats.failures += 1
                log.warning("recording %s events failed (%s); retrying", len(rows), exc)
                continue
            self.stats.batches += 1
            self.stats.recorded += inserted
            self.stats.duplicates += len(rows) - inserted
            return


def _convert(event: Event, now_ms: int) -> _rows.NewEvent | None:
    """The row of one event; an event that cannot be converted is logged and skipped, since
    it would come back after every restart and stop all recording behind it."""
    try:
        return _rows.to_new_event(event, now_ms)
    except Exception as exc:
        log.warning("not recording event %s on %s: %r", event.sequence, event.subject, exc)
        return None


async def run_recorder(
    bus: EventBus,
    store: _interface.TranscriptStore,
    lookup: _lookup.RunLookup,
    *,
    durable: str = DURABLE,
    batch_size: int = 256,
) -> None:
    """Run the recorder until cancelled: what `k8sclaw-apiserver` starts next to its routes."""
    await Recorder(bus, store, lookup, durable=durable, batch_size=batch_size).run()
