"""Options every command that opens the hub's database shares: one name for one thing.

``--data DIR`` is the hub's data directory (evidence files, keys, and the SQLite database by
default); ``--db URL`` is the database: ``postgresql://[user@]host[:port]/name``,
``sqlite:///FILE`` or a file path, by default ``DATA/hub.db``.
"""

from __future__ import annotations

import typer

DB_HELP = (
    "the hub's database: postgresql://[user@]host[:port]/name, sqlite:///FILE or a file"
    " path (default: DATA/hub.db, SQLite)"
)


def db_option() -> str | None:
    return typer.Option(None, "--db", help=DB_HELP)  # type: ignore[no-any-return]


def is_postgresql(db: str | None) -> bool:
    return bool(db) and str(db).split(":", 1)[0].startswith("postgres")
