"""Console accounts, sessions and login failures in the hub's database (SQLite or
PostgreSQL, through SQLAlchemy Core; the tables are hub/db/tables.py's).

Passwords: argon2id via pwdlib. Sessions: a random token in an HttpOnly cookie; only its
SHA-256 is stored, with the session's CSRF token. Failures are kept per user name for the
lock-out (see ``lockout``). Every change is written to the hub's audit log.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pwdlib import PasswordHash
from sqlalchemy import case, delete, func, select, update

from hub.console.lockout import ACCOUNT, CLIENT, PAIR, backoff_until, latest, locked_until
from hub.console.roles import ConsoleRole, ConsoleUser, sites_for
from hub.db import tables as t
from hub.store import Store, from_iso, iso
from models.messages import utcnow

# The numbered migrations of before Alembic: hub/db/migrate.py finishes them on older files.
CONSOLE_MIGRATIONS: list[str] = [
    """
    CREATE TABLE console_users (
        username      TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,           -- argon2id, encoded with its parameters
        role          TEXT NOT NULL,           -- guard | manager | regulator | admin
        scope         TEXT,                    -- guard: site id; manager: company id
        display_name  TEXT NOT NULL DEFAULT '',
        disabled      INTEGER NOT NULL DEFAULT 0,
        created_at    TEXT NOT NULL,
        password_set_at TEXT NOT NULL
    );
    CREATE TABLE console_sessions (
        token_sha256 TEXT PRIMARY KEY,         -- the cookie's token is never stored
        username     TEXT NOT NULL REFERENCES console_users (username) ON DELETE CASCADE,
        csrf_token   TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        expires_at   TEXT NOT NULL,
        client       TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX console_sessions_user ON console_sessions (username);
    CREATE TABLE console_login_failures (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        username TEXT NOT NULL,
        at       TEXT NOT NULL,
        client   TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX console_login_failures_user ON console_login_failures (username, at);
    CREATE TABLE console_visitor_passes (
        id          TEXT PRIMARY KEY,
        site        TEXT NOT NULL,
        plate       TEXT NOT NULL,
        host_unit   TEXT NOT NULL DEFAULT '',
        valid_from  TEXT NOT NULL,
        valid_until TEXT NOT NULL,
        token       TEXT NOT NULL,             -- what the QR code carries
        created_by  TEXT NOT NULL,
        created_at  TEXT NOT NULL
    );
    CREATE INDEX console_visitor_passes_site ON console_visitor_passes (site, valid_until);
    """,
    # 2: failures are kept (not deleted on success) so that one client's failures across
    # many user names can be counted too; a user's count starts after their last login
    """
    ALTER TABLE console_users ADD COLUMN last_login_at TEXT;
    CREATE INDEX console_login_failures_client ON console_login_failures (client, at);
    """,
]

u = t.console_users.c
sc = t.console_sessions.c
f = t.console_login_failures.c

SESSION_TTL = timedelta(hours=12)  # one guard-room shift
# One client (address) trying many user names: a wider limit than one account's.
# At most this many password hashes (argon2id, 64 MiB each) are computed at once, in worker
# threads: the event loop keeps serving the gates while someone hammers the login form.
HASH_SLOTS = 2
FAILURES_KEPT = timedelta(days=1)
DEFAULT_HASHER = PasswordHash.recommended()  # argon2id, 64 MiB, t=3 (pwdlib's defaults)


@functools.cache
def _dummy_hash(hasher: PasswordHash) -> str:
    """A hash of a password nobody has: checked when the user is unknown, so that the time
    taken does not tell whether a user name exists."""
    return hasher.hash(secrets.token_hex(16))


def hash_password(password: str, hasher: PasswordHash = DEFAULT_HASHER) -> str:
    return hasher.hash(password)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LoginError(Exception):
    """Refused login; ``locked_until`` is set when the account is locked."""

    def __init__(self, message: str, locked_until: datetime | None = None) -> None:
        super().__init__(message)
        self.locked_until = locked_until


@dataclass(frozen=True, slots=True)
class Session:
    token: str  # only known right after login (goes into the cookie)
    user: ConsoleUser
    csrf_token: str
    expires_at: datetime


class UserStore:
    def __init__(
        self,
        store: Store,
        companies: dict[str, str],
        hasher: PasswordHash = DEFAULT_HASHER,
    ) -> None:
        self.store = store
        self.companies = companies  # site id -> company id
        self.hasher = hasher  # argon2id; tests pass cheaper parameters
        self._hash_slots = asyncio.Semaphore(HASH_SLOTS)

    @classmethod
    async def open(cls, store: Store, companies: dict[str, str], **kw: Any) -> UserStore:
        """The console's tables are part of the hub's schema (hub/db/tables.py)."""
        return cls(store, companies, **kw)

    def _user(self, row: dict[str, Any]) -> ConsoleUser:
        role = ConsoleRole(row["role"])
        return ConsoleUser(
            row["username"], role, row["scope"], sites_for(role, row["scope"], self.companies)
        )

    # ------------------------------------------------------------------ accounts

    async def set_user(
        self,
        username: str,
        password: str,
        role: ConsoleRole,
        scope: str | None = None,
        *,
        actor: str,
        display_name: str = "",
    ) -> ConsoleUser:
        """Create or update an account (audited, never with the hash)."""
        if len(password) < 10:
            raise ValueError("passwords have at least 10 characters")
        user = ConsoleUser(username, role, scope, sites_for(role, scope, self.companies))
        now = utcnow()
        async with self._hash_slots:
            encoded = await asyncio.to_thread(hash_password, password, self.hasher)
        async with self.store.transaction():
            before = await self.store.rows(
                select(u.username, u.role, u.scope, u.disabled).where(u.username == username),
                writer=True,
            )
            stmt = self.store.insert(t.console_users).values(
                username=username,
                password_hash=encoded,
                role=role.value,
                scope=scope,
                display_name=display_name,
                created_at=iso(now),
                password_set_at=iso(now),
            )
            new = stmt.excluded
            await self.store.execute(
                stmt.on_conflict_do_update(
                    index_elements=["username"],
                    set_={
                        "password_hash": new.password_hash,
                        "role": new.role,
                        "scope": new.scope,
                        "disabled": 0,
                        "display_name": new.display_name,
                        "password_set_at": new.created_at,
                    },
                )
            )
            await self.store.execute(delete(t.console_sessions).where(sc.username == username))
            await self.store.audit(
                actor,
                "console.user.set",
                f"console/user/{username}",
                before[0] if before else None,
                {"username": username, "role": role.value, "scope": scope, "password": "changed"},
                now,
            )
        return user

    # ------------------------------------------------------------------ login

    async def _failures(self, username: str, now: datetime) -> list[tuple[datetime, str]]:
        """This account's failures (time, client) since its last login or password reset."""
        since = iso(now - PAIR.window - PAIR.lock_for)
        last_login = func.coalesce(u.last_login_at, "")
        counted_from = (
            select(case((last_login > u.password_set_at, last_login), else_=u.password_set_at))
            .where(u.username == username)
            .scalar_subquery()
        )
        rows = await self.store.rows(
            select(f.at, f.client)
            .where(f.username == username, f.at >= since, f.at > func.coalesce(counted_from, ""))
            .order_by(f.at)
        )
        return [(datetime.fromisoformat(r["at"]), r["client"] or "") for r in rows]

    async def _client_failures(self, client: str, now: datetime) -> list[datetime]:
        since = iso(now - CLIENT.window - CLIENT.lock_for)
        rows = await self.store.rows(
            select(f.at).where(f.client == client, f.at >= since).order_by(f.at)
        )
        return [datetime.fromisoformat(r["at"]) for r in rows]

    async def _locked(self, username: str, client: str, now: datetime) -> datetime | None:
        """When this client may next try this account (None: now). See ``lockout``."""
        failures = await self._failures(username, now)
        pair = locked_until([at for at, by in failures if by == client], now, PAIR)
        account = backoff_until([at for at, _ in failures], now, ACCOUNT)
        by_client = None
        if client:
            by_client = locked_until(await self._client_failures(client, now), now, CLIENT)
        return latest(pair, account, by_client)

    async def _verify(self, password: str, encoded: str | None) -> tuple[bool, str | None]:
        """argon2 off the event loop; ``encoded`` None (no such user) checks a dummy hash, so
        the time taken does not tell whether the user name exists."""
        async with self._hash_slots:
            return await asyncio.to_thread(
                self.hasher.verify_and_update, password, encoded or _dummy_hash(self.hasher)
            )

    async def login(self, username: str, password: str, *, client: str = "") -> Session:
        """Check the password and open a session; LoginError when refused (audited)."""
        now = utcnow()
        username = username.strip()[:64]
        until = await self._locked(username, client, now)
        if until is not None:
            await self._audit_login(username, "console.login.locked", client, now, until)
            raise LoginError("too many failed attempts: try again later", until)
        rows = await self.store.rows(select(t.console_users).where(u.username == username))
        row = rows[0] if rows and not rows[0]["disabled"] else None
        valid, new_hash = await self._verify(password, row["password_hash"] if row else None)
        if row is None or not valid:
            async with self.store.transaction():
                await self.store.execute(
                    t.console_login_failures.insert().values(
                        username=username, at=iso(now), client=client
                    )
                )
                await self.store.audit(
                    username or "?", "console.login.failed", f"console/user/{username}",
                    None, {"client": client}, now,
                )  # fmt: skip
            until = await self._locked(username, client, now)
            raise LoginError("wrong user name or password", until)
        user = self._user(row)
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = now + SESSION_TTL
        async with self.store.transaction():
            if new_hash is not None:  # parameters were raised since the hash was made
                await self.store.execute(
                    update(t.console_users)
                    .where(u.username == username)
                    .values(password_hash=new_hash)
                )
            await self.store.execute(
                update(t.console_users).where(u.username == username).values(last_login_at=iso(now))
            )
            await self.store.execute(
                delete(t.console_login_failures).where(f.at < iso(now - FAILURES_KEPT))
            )
            await self.store.execute(delete(t.console_sessions).where(sc.expires_at < iso(now)))
            await self.store.execute(
                t.console_sessions.insert().values(
                    token_sha256=token_digest(token),
                    username=username,
                    csrf_token=csrf,
                    created_at=iso(now),
                    expires_at=iso(expires),
                    client=client,
                )
            )
            await self.store.audit(
                username, "console.login", f"console/user/{username}", None,
                {"client": client, "role": user.role.value}, now,
            )  # fmt: skip
        return Session(token, user, csrf, expires)

    async def _audit_login(
        self, username: str, action: str, client: str, now: datetime, until: datetime
    ) -> None:
        async with self.store.transaction():
            await self.store.audit(
                username or "?", action, f"console/user/{username}", None,
                {"client": client, "locked_until": iso(until)}, now,
            )  # fmt: skip

    async def session(self, token: str) -> Session | None:
        """The live session for a cookie's token, or None (unknown, expired, disabled user)."""
        if not token:
            return None
        rows = await self.store.rows(
            select(sc.csrf_token, sc.expires_at, t.console_users)
            .join_from(t.console_sessions, t.console_users, u.username == sc.username)
            .where(sc.token_sha256 == token_digest(token), u.disabled == 0)
        )
        if not rows:
            return None
        row = rows[0]
        expires = from_iso(row["expires_at"])
        if expires is None or expires <= utcnow():
            return None
        return Session(token, self._user(row), row["csrf_token"], expires)

    async def logout(self, session: Session) -> None:
        now = utcnow()
        async with self.store.transaction():
            await self.store.execute(
                delete(t.console_sessions).where(sc.token_sha256 == token_digest(session.token))
            )
            await self.store.audit(
                session.user.username, "console.logout",
                f"console/user/{session.user.username}", None, None, now,
            )  # fmt: skip

    async def disable(self, username: str, *, actor: str) -> bool:
        """Disable an account and end its sessions (audited); False if there is none."""
        now = utcnow()
        async with self.store.transaction():
            result = await self.store.execute(
                update(t.console_users)
                .where(u.username == username, u.disabled == 0)
                .values(disabled=1)
            )
            if result.rowcount != 1:
                return False
            await self.store.execute(delete(t.console_sessions).where(sc.username == username))
            await self.store.audit(
                actor, "console.user.disable", f"console/user/{username}",
                {"disabled": False}, {"disabled": True}, now,
            )  # fmt: skip
        return True

    async def users(self) -> list[dict[str, Any]]:
        return await self.store.rows(
            select(u.username, u.role, u.scope, u.display_name, u.disabled, u.created_at).order_by(
                u.username
            )
        )
