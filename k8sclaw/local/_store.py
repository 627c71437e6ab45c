"""The local runs' transcripts: one SQLite file in the platform data dir.

A run row (task, model, status, answer) and its ordered entries: answer text, tool lines,
warnings, and the bus events the bridge published. The agent and model wrote all of it,
so every entry is capped in bytes here and made terminal-safe when shown.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

ENTRY_CAP = 64 * 1024
"""Bytes kept of one transcript entry (a tool line, a text chunk, an event)."""
ENTRIES_CAP = 20_000
"""Entries kept per run; later ones are dropped (a runaway agent cannot fill the disk)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    name TEXT PRIMARY KEY, task TEXT NOT NULL, model TEXT NOT NULL,
    started REAL NOT NULL, finished REAL, status TEXT NOT NULL, result TEXT
);
CREATE TABLE IF NOT EXISTS entries (
    run TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL,
    PRIMARY KEY (run, seq)
);
"""


def default_path() -> Path:
    """`local-runs.sqlite` in the platform data dir (e.g. ~/.local/share/k8sclaw)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("k8sclaw")) / "local-runs.sqlite"


def cap(text: str, limit: int = ENTRY_CAP) -> str:
    """At most `limit` UTF-8 bytes of `text` (cut on a character boundary)."""
    raw = text.encode("utf-8", "replace")
    return text if len(raw) <= limit else raw[:limit].decode("utf-8", "ignore")


@dataclass(frozen=True)
class RunRow:
    name: str
    task: str
    model: str
    started: float
    finished: float | None
    status: str
    result: str | None


class Transcripts:
    """The store; each call opens its own short connection (the CLI is one process)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch(mode=0o600, exist_ok=True)  # tasks and answers: the user's only
        db = sqlite3.connect(self.path)
        db.executescript(_SCHEMA)
        return db

    def begin(self, name: str, task: str, model: str) -> RunWriter:
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT INTO runs (name, task, model, started, status) VALUES (?, ?, ?, ?, ?)",
                (name, cap(task), model, time.time(), "Running"),
            )
        return RunWriter(self, name)

    def runs(self) -> list[RunRow]:
        """Every local run, newest first."""
        if not self.path.exists():
            return []
        with closing(self._connect()) as db:
            rows = db.execute("SELECT * FROM runs ORDER BY started DESC, rowid DESC").fetchall()
        return [RunRow(*row) for row in rows]

    def get(self, name: str | None) -> RunRow | None:
        """The named run, or the newest one."""
        found = self.runs()
        if name is None:
            return found[0] if found else None
        return next((r for r in found if r.name == name), None)

    def entries(self, name: str) -> Iterator[tuple[str, str]]:
        with closing(self._connect()) as db:
            yield from db.execute(
                "SELECT kind, text FROM entries WHERE run = ? ORDER BY seq", (name,)
            )


class RunWriter:
    """Appends one run's entries and records how it ended."""

    def __init__(self, store: Transcripts, name: str) -> None:
        self.store, self.name = store, name
        self._seq = 0
        self._db = store._connect()

    def add(self, kind: str, text: str) -> None:
        if self._seq >= ENTRIES_CAP or not text:
            return
        self._seq += 1
        with self._db:
            self._db.execute(
                "INSERT INTO entries (run, seq, kind, text) VALUES (?, ?, ?, ?)",
                (self.name, self._seq, kind, cap(text)),
            )

    def finish(self, status: str, result: str | None) -> None:
        with self._db:
            self._db.execute(
                "UPDATE runs SET finished = ?, status = ?, result = ? WHERE name = ?",
                (time.time(), status, cap(result) if result else None, self.name),
            )
        self._db.close()
