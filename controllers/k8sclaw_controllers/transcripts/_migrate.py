"""Versioned, forward-only schema migrations shipped as package data and applied on start.

`migrations/<dialect>/NNNN_name.sql` are applied in order, each in the same transaction
as its `schema_version` row, under the driver's migration lock, so two API server
replicas starting together migrate once. A database newer than this build is refused
rather than written with a schema it does not know.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from importlib import resources

from k8sclaw_controllers.transcripts import _driver, _interface

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_CREATE_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL)"
)


@dataclass(frozen=True)
class Migration:
    """One shipped migration."""

    version: int
    name: str
    sql: str

    def statements(self) -> list[str]:
        """The statements of the file (comment lines removed, split on `;`)."""
        lines = [ln for ln in self.sql.splitlines() if not ln.lstrip().startswith("--")]
        return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def shipped(dialect: _driver.Dialect) -> list[Migration]:
    """The migrations of one dialect, in version order (numbered 1, 2, ... without gaps)."""
    folder = resources.files("k8sclaw_controllers.transcripts") / "migrations" / dialect
    found = []
    for entry in folder.iterdir():
        if match := _NAME.match(entry.name):
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise _interface.StoreError(f"migrations of {dialect} are not numbered 1..n: {found}")
    return found


def latest(dialect: _driver.Dialect) -> int:
    """The version a database reaches once every shipped migration is applied."""
    return len(shipped(dialect))


async def current_version(tx: _driver.Tx) -> int:
    """The version recorded in the database (0 for an empty one)."""
    await tx.execute(_CREATE_VERSION_TABLE)
    rows = await tx.fetch("SELECT COALESCE(MAX(version), 0) FROM schema_version")
    return int(rows[0][0])


async def migrate(driver: _driver.Driver, target: int | None = None) -> int:
    """Apply every pending migration up to `target` (default: all); returns the version."""
    migrations = shipped(driver.dialect)
    goal = len(migrations) if target is None else target
    async with driver.transaction(write=True, lock=True) as tx:
        version = await current_version(tx)
        if version > len(migrations):
            raise _interface.StoreError(
                f"the transcript database is at schema version {version}, newer than this "
                f"build knows ({len(migrations)}); run a newer k8sclaw-apiserver"
            )
        for migration in migrations[version:goal]:
            for statement in migration.statements():
                await tx.execute(statement)
            await tx.execute(
                "INSERT INTO schema_version (version, name, applied_ms) VALUES (?, ?, ?)",
                (migration.version, migration.name, int(time.time() * 1000)),
            )
            version = migration.version
    return version
