"""`postgres` fixture: a real PostgreSQL server for the transcript store's tests.

The server comes from the `pgserver` wheel (PostgreSQL binaries shipped on PyPI), started
once per session on a Unix socket in a temp dir; each test gets its own fresh database.
`K8SCLAW_TEST_DATABASE_URL` points the suite at an existing server instead.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql


# Bounds on the fixture's own admin statements: a PostgreSQL that stops answering fails the
# test that needs it within seconds instead of hanging the suite (psycopg's C wait loop is
# not interrupted by pytest-timeout's signal).
def _admin(dsn: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        dsn, autocommit=True, connect_timeout=10, options="-c statement_timeout=30000"
    )


def _start_pgserver(data_dir: Path) -> tuple[str, object]:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI); irrelevant here.
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(data_dir, cleanup_mode="stop")
    return str(server.get_uri()), server


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Admin DSN of a running PostgreSQL server (started here unless one is configured)."""
    external = os.environ.get("K8SCLAW_TEST_DATABASE_URL")
    if external:
        yield external
        return
    dsn, server = _start_pgserver(tmp_path_factory.mktemp("pgdata"))
    try:
        yield dsn
    finally:
        server.cleanup()  # type: ignore[attr-defined]


@pytest.fixture
def postgres(postgres_server: str) -> Iterator[str]:
    """DSN of a database created for this test alone and dropped afterwards."""
    name = f"k8sclaw_test_{uuid.uuid4().hex[:12]}"
    with _admin(postgres_server) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = psycopg.conninfo.conninfo_to_dict(postgres_server)
    info["dbname"] = name
    try:
        yield psycopg.conninfo.make_conninfo(**info)
    finally:
        with _admin(postgres_server) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
