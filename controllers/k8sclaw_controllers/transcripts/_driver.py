"""What the store needs from a database, so its SQL is written once for both backends.

A `Driver` opens transactions (`write` for the recorder, sweeps and migrations, `lock`
to serialise concurrent migrators) whose `Tx` runs statements. SQL is written with `?`
placeholders; the PostgreSQL driver translates them.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Literal, Protocol

Dialect = Literal["sqlite", "postgres"]
Row = tuple[Any, ...]
Params = Sequence[Any]


class Tx(Protocol):
    """Statements inside one transaction."""

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns the rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Sequence[Params]) -> int:
        """Run one statement per parameter row; returns the rows changed in total."""
        ...

    async def fetch(self, sql: str, params: Params = ()) -> list[Row]:
        """Run a query and return all its rows."""
        ...


class Driver(Protocol):
    """A connected database."""

    dialect: Dialect

    def transaction(
        self, *, write: bool = False, lock: bool = False
    ) -> AbstractAsyncContextManager[Tx]:
        """A transaction, committed when the block ends normally and rolled back otherwise.

        `lock` holds the database-wide migration lock until the end of the transaction."""
        ...

    async def fetch(self, sql: str, params: Params = ()) -> list[Row]:
        """Run one query on its own (one statement sees one snapshot): a single round trip
        where a `transaction` needs three, for the many reads that are one statement."""
        ...

    async def close(self) -> None:
        """Close every connection."""
        ...
