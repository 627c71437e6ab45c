"""The embedded SQLite backend: one file in WAL mode, used when no DATABASE_URL is set.

sqlite3 blocks, so each connection lives on its own single thread (one writer, one
reader: WAL lets reads proceed while the recorder writes) and coroutines take turns
on it through an asyncio lock. `BEGIN IMMEDIATE` takes the write lock up front, so two
processes starting on the same file serialise their migrations.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

from k8sclaw_controllers.transcripts import _driver

T = TypeVar("T")
BUSY_TIMEOUT_MS = 30_000


class _Conn:
    """One sqlite3 connection confined to one thread."""

    def __init__(self, path: Path, name: str) -> None:
        self._path = path
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"transcripts-sqlite-{name}")
        self._conn: sqlite3.Connection | None = None
        self.lock = asyncio.Lock()

    async def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._run, fn)

    def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            _enable_wal(conn)
            # FULL: the recorder acknowledges an event to the bus once its commit returns,
            # so the commit must survive a node crash, not just a process crash.
            conn.execute("PRAGMA synchronous = FULL")
            self._conn = conn
        return fn(self._conn)

    async def close(self) -> None:
        def shut(conn: sqlite3.Connection) -> None:
            conn.close()

        if self._conn is not None:
            await self.call(shut)
            self._conn = None
        self._pool.shutdown(wait=False)


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL, retrying while another process holds it.

    Switching needs an exclusive lock; a connection that meets another one's write lock
    mid-switch gets "database is locked" at once (SQLite skips the busy handler where
    waiting could deadlock), so several starters on a fresh file retry here instead.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class _Tx:
    def __init__(self, conn: _Conn) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: _driver.Params = ()) -> int:
        return await self._conn.call(lambda c: c.execute(sql, tuple(params)).rowcount)

    async def executemany(self, sql: str, rows: Sequence[_driver.Params]) -> int:
        if not rows:
            return 0
        return await self._conn.call(
            lambda c: c.executemany(sql, [tuple(r) for r in rows]).rowcount
        )

    async def fetch(self, sql: str, params: _driver.Params = ()) -> list[_driver.Row]:
        return await self._conn.call(lambda c: c.execute(sql, tuple(params)).fetchall())


def _begin(conn: sqlite3.Connection, begin: str) -> None:
    # A caller cancelled mid-transaction leaves it open on this thread: end it first.
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    conn.execute(begin)


class SqliteDriver:
    """A transcript database in one SQLite file."""

    dialect: _driver.Dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._writer = _Conn(path, "writer")
        self._reader = _Conn(path, "reader")

    @asynccontextmanager
    async def transaction(
        self, *, write: bool = False, lock: bool = False
    ) -> AsyncIterator[_driver.Tx]:
        conn = self._writer if (write or lock) else self._reader
        begin = "BEGIN IMMEDIATE" if (write or lock) else "BEGIN"
        async with conn.lock:
            await conn.call(lambda c: _begin(c, begin))
            try:
                yield _Tx(conn)
            except BaseException:
                await conn.call(lambda c: c.execute("ROLLBACK"))
                raise
            await conn.call(lambda c: c.execute("COMMIT"))

    async def fetch(self, sql: str, params: _driver.Params = ()) -> list[_driver.Row]:
        def query(conn: sqlite3.Connection) -> list[_driver.Row]:
            if conn.in_transaction:  # left open by a cancelled caller
                conn.execute("ROLLBACK")
            return conn.execute(sql, tuple(params)).fetchall()  # autocommit: one snapshot

        async with self._reader.lock:
            return await self._reader.call(query)

    async def close(self) -> None:
        await self._writer.close()
        await self._reader.close()
