"""Storage faults: errors of the database itself, not of the message being stored.

A message that cannot be stored because the disk is full, the disk failed, or the database
stayed locked beyond its timeout is a perfectly good message: it must stay unacknowledged
(the broker keeps it) until storage works again. Only a message that is itself invalid
becomes a reject. ``is_storage_error`` tells the two apart; ``StorageFault`` carries one
through the recorder to the hub, which then stops acknowledging (hub/service.py).

Pure: no I/O. Works on sqlite3 errors (aiosqlite re-raises them), plain OSErrors, and errors
that wrap one (SQLAlchemy's ``DBAPIError.orig``, ``__cause__``), so a storage layer on
SQLAlchemy or PostgreSQL needs only its codes added here.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

# SQLite primary result codes (the low byte of an extended code) that say the database
# cannot take writes now, whatever is written: https://sqlite.org/rescode.html
_SQLITE_STORAGE_CODES = {
    sqlite3.SQLITE_BUSY: "locked",  # busy_timeout ran out
    sqlite3.SQLITE_LOCKED: "locked",
    sqlite3.SQLITE_NOMEM: "out_of_memory",
    sqlite3.SQLITE_READONLY: "read_only",
    sqlite3.SQLITE_IOERR: "io_error",
    sqlite3.SQLITE_CORRUPT: "corrupt",
    sqlite3.SQLITE_FULL: "disk_full",
    sqlite3.SQLITE_CANTOPEN: "cannot_open",
    sqlite3.SQLITE_PROTOCOL: "locked",
}
# The same, by message, for errors that lost their code on the way (older drivers, wrappers).
_SQLITE_MESSAGES = {
    "database or disk is full": "disk_full",
    "disk i/o error": "io_error",
    "database is locked": "locked",
    "database table is locked": "locked",
    "attempt to write a readonly database": "read_only",
    "unable to open database file": "cannot_open",
    "database disk image is malformed": "corrupt",
    "no active connection": "closed",  # aiosqlite after the connection died
    "cannot operate on a closed database": "closed",
}
# PostgreSQL SQLSTATE classes for the same situations (53: insufficient resources, 58: system
# error, 08: connection exception, 57P: operator intervention), as asyncpg reports them.
_SQLSTATE_PREFIXES = {"53": "disk_full", "58": "io_error", "08": "disconnected", "57P": "shutdown"}
# asyncpg's errors of a connection that died under it carry no SQLSTATE (by class name: this
# module imports no driver). InternalClientError is what a query meets when the server
# ended the session between two queries ("cannot switch to state ...").
_ASYNCPG_DISCONNECTS = {
    "ConnectionDoesNotExistError",
    "ConnectionFailureError",
    "InterfaceError",
    "InternalClientError",
}


def storage_error_kind(exc: BaseException) -> str | None:
    """A short name for what is wrong with the storage (``disk_full``, ``io_error``,
    ``locked``, ...) if ``exc`` is a storage error; None if it is anything else (a bug, a
    constraint, a bad value: the item's own problem)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        kind = _kind_of(current)
        if kind is not None:
            return kind
        wrapped = getattr(current, "orig", None)  # SQLAlchemy DBAPIError
        current = wrapped if isinstance(wrapped, BaseException) else current.__cause__
    return None


def is_storage_error(exc: BaseException) -> bool:
    return storage_error_kind(exc) is not None


def _kind_of(exc: BaseException) -> str | None:
    if isinstance(exc, StorageFault):
        return exc.kind
    if getattr(exc, "connection_invalidated", False) is True:  # SQLAlchemy saw a disconnect
        return "disconnected"
    if type(exc).__module__.startswith("asyncpg") and type(exc).__name__ in _ASYNCPG_DISCONNECTS:
        return "disconnected"
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if isinstance(code, int) and (code & 0xFF) in _SQLITE_STORAGE_CODES:
            return _SQLITE_STORAGE_CODES[code & 0xFF]
        text = str(exc).lower()
        for message, kind in _SQLITE_MESSAGES.items():
            if message in text:
                return kind
        return None
    if isinstance(exc, ValueError) and str(exc).lower() in _SQLITE_MESSAGES:
        return _SQLITE_MESSAGES[str(exc).lower()]  # aiosqlite: "no active connection"
    sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if isinstance(sqlstate, str):
        for prefix, kind in _SQLSTATE_PREFIXES.items():
            if sqlstate.startswith(prefix):
                return kind
    if isinstance(exc, OSError):
        return "io_error"
    return None


class StorageFault(RuntimeError):
    """Storing failed because of the storage, not the data: nothing of the batch may be
    acknowledged. ``kind`` as ``storage_error_kind``."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"storage fault ({kind}): {detail}")
        self.kind = kind
        self.detail = detail

    @classmethod
    def of(cls, exc: BaseException) -> StorageFault:
        if isinstance(exc, StorageFault):
            return exc
        kind = storage_error_kind(exc) or "unknown"
        return cls(kind, f"{type(exc).__name__}: {exc}"[:300])


@dataclass
class Backoff:
    """Delays for retrying storage: ``first_s`` doubling up to ``max_s``; ``reset()`` after
    a success. The maximum bounds how long a recovered disk waits for the next try."""

    first_s: float = 0.5
    max_s: float = 10.0
    _next: float = field(default=0.0, init=False)

    def next(self) -> float:
        delay = self._next or self.first_s
        self._next = min(delay * 2, self.max_s)
        return delay

    def reset(self) -> None:
        self._next = 0.0
