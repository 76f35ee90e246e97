"""Databases for the storage tests: every test gets its own, on SQLite and on PostgreSQL.

PostgreSQL: the server named by ``ANJU_TEST_DB`` (default ``postgresql://postgres@127.0.0.1:5432/test``,
which .ci/run starts when missing, scripts/system-deps.sh); each test creates a database of
its own there and drops it afterwards, so tests stay isolated and may run in any order. When
the server cannot be reached the PostgreSQL cases are skipped, except in CI (``CI`` set), where
that is an error.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/test"
ENGINES = ["sqlite", "postgresql"]


def server_url() -> str:
    return os.environ.get("ANJU_TEST_DB", DEFAULT_SERVER)


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database; yields its URL."""
    server = server_url()
    try:
        admin = await asyncpg.connect(_dsn(server), timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI"):
            raise RuntimeError(f"PostgreSQL at {server} is needed for the tests: {exc}") from exc
        pytest.skip(f"no PostgreSQL at {server}: {exc}")
    name = "anju_t_" + secrets.token_hex(6)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@asynccontextmanager
async def database(engine: str, tmp_path: Path) -> AsyncIterator[str | None]:
    """``None`` for SQLite (the store's default file in its data dir), else a PG URL."""
    if engine == "sqlite":
        yield None
        return
    async with postgres_database() as url:
        yield url
