"""The PostgreSQL backend (DATABASE_URL set): psycopg 3 async through a connection pool.

Connections run in autocommit mode and every unit of work is an explicit transaction,
so nothing is left open between calls. Migrators serialise on a transaction-scoped
advisory lock, which the server releases even when a migrating process dies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final

import psycopg
from psycopg_pool import AsyncConnectionPool

from k8sclaw_controllers.transcripts import _driver

MIGRATION_LOCK: Final = 0x6B38_7363_6C61_7701
"""Advisory lock key of transcript migrations ("k8sclaw" in hex, plus 1)."""


def _sql(sql: str) -> str:
    return sql.replace("?", "%s")


class _Tx:
    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: _driver.Params = ()) -> int:
        cur = await self._conn.execute(_sql(sql), tuple(params))
        return max(cur.rowcount, 0)

    async def executemany(self, sql: str, rows: Sequence[_driver.Params]) -> int:
        if not rows:
            return 0
        async with self._conn.cursor() as cur:
            await cur.executemany(_sql(sql), [tuple(r) for r in rows])
            return max(cur.rowcount, 0)

    async def fetch(self, sql: str, params: _driver.Params = ()) -> list[_driver.Row]:
        cur = await self._conn.execute(_sql(sql), tuple(params))
        return await cur.fetchall()


class PostgresDriver:
    """A transcript database on a PostgreSQL server."""

    dialect: _driver.Dialect = "postgres"

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    @classmethod
    async def connect(cls, url: str, max_size: int = 8, wait_s: float = 30.0) -> PostgresDriver:
        """Open a pool and wait until one connection works (raises after `wait_s` seconds)."""
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            url, min_size=1, max_size=max_size, kwargs={"autocommit": True}, open=False
        )
        await pool.open(wait=True, timeout=wait_s)
        return cls(pool)

    @asynccontextmanager
    async def transaction(
        self, *, write: bool = False, lock: bool = False
    ) -> AsyncIterator[_driver.Tx]:
        async with self._pool.connection() as conn, conn.transaction():
            if lock:
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            yield _Tx(conn)

    async def fetch(self, sql: str, params: _driver.Params = ()) -> list[_driver.Row]:
        async with self.transaction() as tx:
            return await tx.fetch(sql, params)

    async def close(self) -> None:
        await self._pool.close()
