"""API server figures in one run (printed, never asserted).

Transcripts, on the embedded SQLite file and on PostgreSQL (pgserver, or --database-url):
  (a) recorder ingest: N run events already in JetStream, the recorder started, until all
      are committed (and acknowledged), in events/s; as a ratio to a bare loop inserting
      the same rows on the same database, one INSERT and commit per row, as a naive
      writer would (target >= 0.5x). Also printed: the ratio to the same rows inserted
      in one transaction (executemany), the best any writer can do.
      And the bus ceiling: the same events only pulled and acknowledged through the same
      subscription (manual ack, as the recorder), nothing stored: the most the recorder
      could reach with this bus client on this machine.
  (b) `transcript` read of a 10,000-event run in one page: p50/p99 (target p50 <= 200 ms).

The recorder is the real one (real nats-server, real consumer, ack after commit); where a
run sits comes from a fixed answer instead of the Kubernetes API (one cached lookup per
run in production, not what is measured here).

    uv run python bench/apiserver.py [--events 10000] [--reads 20] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from k8sclaw_controllers import transcripts
from k8sclaw_protocol import Event, EventBus, events
from tests.harness.nats_fixtures import NatsServer

NS, RUN, BASE_RUN = "bench", "run-ingest", "run-bare"
INFO = transcripts.RunInfo(instance="alpha", session_key="s-1", task="benchmark")
INSERT = (
    "INSERT INTO events (seq, namespace, run, topic, kind, time_ms, data, recorded_ms, size_bytes)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (seq) DO NOTHING"
)
RUN_ROW = (
    "INSERT INTO runs (namespace, run, instance, session_key, task, created_ms, updated_ms)"
    " VALUES (?, ?, 'alpha', 's-1', 'benchmark', 0, 0) ON CONFLICT DO NOTHING"
)


async def static_lookup(namespace: str, run: str) -> transcripts.RunInfo:
    return INFO


CREDS: dict[str, Path] = {}
"""Bus identities' creds files, written once the bench's NATS server is up."""


def chunk(i: int) -> Event:
    text = f"token {i} " + "lorem ipsum dolor sit amet " * 3
    data = {"type": "text", "content": text, "index": i}
    return Event.new(events.AGENT_STREAM_CHUNK, data)


def rows(n: int, offset: int, run: str) -> list[tuple[object, ...]]:
    """The rows the recorder writes for `n` chunks, under another run and sequence range."""
    out = []
    subject = events.scoped_subject(events.AGENT_STREAM_CHUNK, NS, run)
    for i in range(n):
        new = transcripts.to_new_event(chunk(i).delivered(subject, offset + i + 1), 0)
        assert new is not None
        data = new.data_json
        out.append((new.seq, NS, new.run, new.topic, new.kind, new.time_ms, data, 0, len(data)))
    return out


async def bare_sqlite(path: Path, batch: list[tuple[object, ...]], one_tx: bool) -> float:
    def work() -> float:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")  # as the store: durable before the ack
        conn.execute(RUN_ROW, (NS, batch[0][2]))
        start = time.perf_counter()
        if one_tx:
            conn.execute("BEGIN")
            conn.executemany(INSERT, batch)
            conn.execute("COMMIT")
        else:
            for row in batch:
                conn.execute(INSERT, row)
        elapsed = time.perf_counter() - start
        conn.close()
        return elapsed

    return await asyncio.to_thread(work)


async def bare_postgres(url: str, batch: list[tuple[object, ...]], one_tx: bool) -> float:
    import psycopg

    sql = INSERT.replace("?", "%s")
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(RUN_ROW.replace("?", "%s"), (NS, batch[0][2]))
        start = time.perf_counter()
        if one_tx:
            async with conn.transaction(), conn.cursor() as cur:
                await cur.executemany(sql, batch)
        else:
            for row in batch:
                await conn.execute(sql, row)
        return time.perf_counter() - start


async def ingest(bus: EventBus, store: transcripts.SqlStore, n: int, durable: str) -> float:
    """Seconds from recorder start until all `n` published events are recorded."""
    recorder = transcripts.Recorder(bus, store, static_lookup, durable=durable)
    start = time.perf_counter()
    task = asyncio.create_task(recorder.run())
    while recorder.stats.recorded < n:
        if task.done():
            task.result()
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - start
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return elapsed


async def pulled_only(bus: EventBus, n: int, durable: str) -> float:
    """Seconds to pull and acknowledge `n` events with the recorder's subscription, storing
    nothing (the close, which lets the last pull request expire, is not counted)."""
    got = 0
    sub = bus.subscribe(">", durable=durable, deliver="all", manual_ack=True)
    async with sub:
        start = time.perf_counter()
        while got < n:
            batch = [await sub.next()]
            batch += sub.ready(255)
            await sub.ack(*batch)
            got += len(batch)
        return time.perf_counter() - start


async def reads(store: transcripts.SqlStore, count: int) -> list[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        page = await store.transcript(NS, RUN, limit=transcripts.MAX_PAGE)
        times.append((time.perf_counter() - start) * 1000)
        assert len(page.events) == transcripts.MAX_PAGE, len(page.events)
    return times


async def bench_backend(
    name: str, url: str | None, data_dir: Path, nats_url: str, *, n: int, n_reads: int, offset: int
) -> None:
    store = await transcripts.open_store(url, data_dir)
    bus = await EventBus.connect(nats_url, credentials=CREDS["recorder"])
    try:
        # The per-row loop's rate is flat in n; 2,000 rows keep PostgreSQL's fsync-bound
        # loop (~200 commits/s on a laptop disk) from dominating the run time.
        loop_rows = rows(min(n, 2000), 10**9 + offset, f"{BASE_RUN}-loop")
        tx_rows = rows(n, 10**9 + offset + n, f"{BASE_RUN}-tx")
        if url:
            naive = await bare_postgres(url, loop_rows, one_tx=False)
            best = await bare_postgres(url, tx_rows, one_tx=True)
        else:
            path = data_dir / "transcripts.db"
            naive = await bare_sqlite(path, loop_rows, one_tx=False)
            best = await bare_sqlite(path, tx_rows, one_tx=True)
        recorded = await ingest(bus, store, n, durable=f"bench-{name}")
        rate = n / recorded
        print(f"[{name}] recorder ingest: {rate:,.0f} events/s ({n} events in {recorded:.2f} s)")
        print(f"[{name}]   bare per-row-commit loop: {n / naive:,.0f} events/s;"
              f" ratio {rate / (n / naive):.2f}x (target >= 0.5x)")  # fmt: skip
        print(f"[{name}]   bare one-transaction executemany: {n / best:,.0f} events/s;"
              f" ratio {rate / (n / best):.2f}x")  # fmt: skip
        ceiling = n / await pulled_only(bus, n, durable=f"bench-{name}-pull")
        print(f"[{name}]   bus ceiling (pull + ack only, nothing stored): {ceiling:,.0f} events/s;"
              f" ratio {rate / ceiling:.2f}x")  # fmt: skip
        times = await reads(store, n_reads)
        p99 = statistics.quantiles(times, n=100)[98] if len(times) > 1 else times[0]
        p50 = statistics.median(times)
        print(f"[{name}] transcript read of a {n:,}-event run: p50 {p50:.1f} ms,"
              f" p99 {p99:.1f} ms (target p50 <= 200 ms)")  # fmt: skip
    finally:
        await bus.close()
        await store.close()


@contextlib.contextmanager
def postgres(url: str | None, data_dir: Path) -> Iterator[str | None]:
    if url:
        yield url
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver

            server = pgserver.get_server(data_dir, cleanup_mode="stop")
    except Exception as exc:  # no pgserver wheel for this platform: SQLite only
        print(f"[postgres] skipped: {exc}")
        yield None
        return
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


@contextlib.asynccontextmanager
async def published(nats_url: str, n: int) -> AsyncIterator[None]:
    bus = await EventBus.connect(nats_url, credentials=CREDS["controller"])
    for start in range(0, n, 500):
        batch = [(chunk(i), None) for i in range(start, min(start + 500, n))]
        await bus.publish_many(batch, scope=(NS, RUN))
    await bus.close()
    yield


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--reads", type=int, default=20)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="k8sclaw-bench-") as tmp:
        root = Path(tmp)
        nats = NatsServer(root / "nats")
        nats.start()
        CREDS.update({who: nats.creds_for(who) for who in ("controller", "recorder")})
        try:
            async with published(nats.url, args.events):
                await bench_backend(
                    "sqlite", None, root / "sqlite", nats.url, n=args.events, n_reads=args.reads,
                    offset=0,
                )  # fmt: skip
                with postgres(args.database_url, root / "pg") as url:
                    if url:
                        await bench_backend(
                            "postgres", url, root, nats.url, n=args.events, n_reads=args.reads,
                            offset=10**8,
                        )  # fmt: skip
        finally:
            nats.stop()


if __name__ == "__main__":
    asyncio.run(main())
