"""Database URLs and engines: SQLite (aiosqlite, the embedded default) or PostgreSQL (asyncpg).

``database_url`` turns what a user gives (``--db``: nothing, a file path, ``sqlite:///...``
or ``postgresql://...``) into a SQLAlchemy async URL. ``make_engine`` sets SQLite up as the
hub has always run it: WAL, ``synchronous=NORMAL`` (durable at checkpoints, fast),
foreign keys on, a 5 s busy timeout, and ``BEGIN IMMEDIATE`` for every write transaction
(the writer takes the lock up front, so a batch never fails half-way on a lock upgrade).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

DB_NAME = "hub.db"
BUSY_TIMEOUT_MS = 5000


class DatabaseUrlError(ValueError):
    """A ``--db`` value that names no engine the hub supports."""


def database_url(data_dir: Path | str, db: str | None = None) -> URL:
    """The async URL for ``db`` (default: ``DATA_DIR/hub.db``)."""
    if not db:
        return make_url(f"sqlite+aiosqlite:///{Path(data_dir) / DB_NAME}")
    if "://" not in db:  # a plain file path
        return make_url(f"sqlite+aiosqlite:///{Path(db)}")
    url = make_url(db)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+asyncpg")
    raise DatabaseUrlError(
        f"--db {db!r}: the hub stores to sqlite:///FILE or postgresql://HOST/DATABASE"
    )


def sqlite_path(url: URL) -> Path | None:
    """The database file of a SQLite URL; None for PostgreSQL (or an in-memory SQLite)."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def display_url(url: URL) -> str:
    """The URL as a log or a page may show it (no password)."""
    return url.render_as_string(hide_password=True)


def make_engine(url: URL, *, autocommit: bool = False, **kw: Any) -> AsyncEngine:
    """An engine for ``url``. ``autocommit``: for readers (no transaction, never a lock)."""
    if url.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **kw)
        _sqlite_setup(engine, writer=not autocommit)
        return engine
    # PostgreSQL's default synchronous_commit=on: the hub PUBACKs only after its commit, so
    # a commit must be on disk before it returns (docs/storage.md)
    options: dict[str, Any] = {"pool_pre_ping": True, **kw}
    if autocommit:
        options["isolation_level"] = "AUTOCOMMIT"
    return create_async_engine(url, **options)


def _sqlite_setup(engine: AsyncEngine, *, writer: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # the driver must not begin transactions on its own: we say BEGIN ourselves
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if writer:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.close()

    if writer:

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
