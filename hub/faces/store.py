"""The hub's face enrolment store (SQLite): persons, encrypted encodings, consents, erasures.

Encodings are stored AES-GCM-sealed (``edge.face.crypto``), never the photos. Erasure
deletes a person's encodings and consents with ``secure_delete`` on (SQLite overwrites the
freed pages) and checkpoints the WAL, keeps an audit record with no biometric data, and
bumps the site's bundle version so edges replace their copy with one that lacks the person.

The tables live in the hub's database file next to the hub's own tables (prefix ``face_``).
This module uses the standard ``sqlite3``: enrolment and export are short, rare operations.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from edge.face.crypto import FaceCipher, seal_bundle
from edge.face.matcher import ROLES

SCHEMA = """
CREATE TABLE IF NOT EXISTS face_sites (
    site TEXT PRIMARY KEY,
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS face_persons (
    person TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('resident', 'blacklist')),
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS face_encodings (
    id INTEGER PRIMARY KEY,
    person TEXT NOT NULL REFERENCES face_persons (person) ON DELETE CASCADE,
    sealed BLOB NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS face_encodings_person ON face_encodings (person);
CREATE TABLE IF NOT EXISTS face_consents (
    id INTEGER PRIMARY KEY,
    person TEXT NOT NULL REFERENCES face_persons (person) ON DELETE CASCADE,
    consent_by TEXT NOT NULL,
    purpose TEXT NOT NULL,
    given_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS face_erasures (
    id INTEGER PRIMARY KEY,
    person TEXT NOT NULL,
    site TEXT NOT NULL,
    erased_at TEXT NOT NULL,
    operator TEXT NOT NULL,
    reason TEXT NOT NULL,
    encodings_erased INTEGER NOT NULL,
    consents_erased INTEGER NOT NULL,
    bundle_version INTEGER NOT NULL
);
"""


class StoreError(ValueError):
    """A request the store refuses (unknown person, wrong site, bad role...)."""


@dataclass(frozen=True, slots=True)
class Consent:
    person: str
    consent_by: str
    purpose: str
    given_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Erasure:
    person: str
    site: str
    erased_at: datetime
    operator: str
    reason: str
    encodings_erased: int
    consents_erased: int
    bundle_version: int


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat()


def _utcnow() -> datetime:
    return datetime.now(UTC)


class FaceStore:
    def __init__(self, path: Path | str, cipher: FaceCipher | None) -> None:
        """``cipher`` None opens the store for erasure and listing only (no key needed)."""
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._cipher = cipher
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.execute("PRAGMA secure_delete = ON")  # erased rows are overwritten, not freed
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA busy_timeout = 5000")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> FaceStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def cipher(self) -> FaceCipher:
        if self._cipher is None:
            raise StoreError("this operation needs the face key")
        return self._cipher

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @staticmethod
    def _bump(db: sqlite3.Connection, site: str) -> int:
        db.execute(
            "INSERT INTO face_sites (site, version) VALUES (?, 1) "
            "ON CONFLICT (site) DO UPDATE SET version = version + 1",
            (site,),
        )
        return db.execute("SELECT version FROM face_sites WHERE site = ?", (site,)).fetchone()[0]

    # ------------------------------------------------------------------ enrolment

    def enroll(
        self,
        *,
        site: str,
        person: str,
        role: str,
        encodings: Sequence[np.ndarray],
        consent_by: str,
        purpose: str,
        expires_at: datetime,
        now: datetime | None = None,
    ) -> int:
        """Add encodings (and a consent record) for ``person``; returns the new bundle version."""
        if role not in ROLES:
            raise StoreError(f"role must be one of {ROLES}, not {role!r}")
        if not encodings:
            raise StoreError("no encodings to enrol")
        if not consent_by.strip() or not purpose.strip():
            raise StoreError("consent needs who gave it and for what purpose")
        now = now or _utcnow()
        if expires_at <= now:
            raise StoreError("the consent would already be expired")
        with self._tx() as db:
            row = db.execute("SELECT site FROM face_persons WHERE person = ?", (person,)).fetchone()
            if row and row[0] != site:
                raise StoreError(f"person {person!r} is enrolled at site {row[0]!r}, not {site!r}")
            db.execute(
                "INSERT INTO face_persons (person, site, role, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (person) DO UPDATE SET role = excluded.role",
                (person, site, role, _iso(now)),
            )
            db.executemany(
                "INSERT INTO face_encodings (person, sealed, created_at) VALUES (?, ?, ?)",
                [(person, self.cipher.seal_encoding(e, person), _iso(now)) for e in encodings],
            )
            db.execute(
                "INSERT INTO face_consents (person, consent_by, purpose, given_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (person, consent_by.strip(), purpose.strip(), _iso(now), _iso(expires_at)),
            )
            return self._bump(db, site)

    def delete(
        self,
        person: str,
        *,
        operator: str,
        reason: str = "erasure request",
        now: datetime | None = None,
    ) -> Erasure:
        """Erase ``person`` (encodings, consents, the person) and keep an audit record."""
        if not operator.strip():
            raise StoreError("an erasure needs the operator's name")
        now = now or _utcnow()
        with self._tx() as db:
            row = db.execute("SELECT site FROM face_persons WHERE person = ?", (person,)).fetchone()
            if row is None:
                raise StoreError(f"no enrolled person {person!r}")
            site = row[0]
            encodings = db.execute(
                "DELETE FROM face_encodings WHERE person = ?", (person,)
            ).rowcount
            consents = db.execute("DELETE FROM face_consents WHERE person = ?", (person,)).rowcount
            db.execute("DELETE FROM face_persons WHERE person = ?", (person,))
            version = self._bump(db, site)
            erasure = Erasure(
                person, site, now, operator.strip(), reason, encodings, consents, version
            )
            db.execute(
                "INSERT INTO face_erasures (person, site, erased_at, operator, reason, "
                "encodings_erased, consents_erased, bundle_version) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (person, site, _iso(now), erasure.operator, reason, encodings, consents, version),
            )
        # Old page images in the WAL would still hold the sealed rows: fold them in now.
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return erasure

    # ------------------------------------------------------------------ reading

    def version(self, site: str) -> int:
        row = self._db.execute("SELECT version FROM face_sites WHERE site = ?", (site,)).fetchone()
        return row[0] if row else 0

    def sites(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT site FROM face_sites ORDER BY site")]

    def persons(self, site: str | None = None) -> list[tuple[str, str, str]]:
        """(person, site, role) of enrolled persons."""
        query = "SELECT person, site, role FROM face_persons"
        rows = self._db.execute(
            query + (" WHERE site = ?" if site else "") + " ORDER BY person",
            (site,) if site else (),
        )
        return [tuple(r) for r in rows]

    def encodings(self, person: str) -> np.ndarray:
        rows = self._db.execute(
            "SELECT sealed FROM face_encodings WHERE person = ? ORDER BY id", (person,)
        ).fetchall()
        return np.array(
            [self.cipher.open_encoding(r[0], person) for r in rows], np.float32
        ).reshape(-1, 128)

    def consents(self, person: str) -> list[Consent]:
        rows = self._db.execute(
            "SELECT person, consent_by, purpose, given_at, expires_at FROM face_consents "
            "WHERE person = ? ORDER BY id",
            (person,),
        )
        return [
            Consent(p, by, purpose, datetime.fromisoformat(g), datetime.fromisoformat(e))
            for p, by, purpose, g, e in rows
        ]

    def consent_expiries(self, site: str) -> dict[str, list[datetime]]:
        """Every enrolled person at ``site`` and when each of their consents expires (for the
        retention job, which erases a person once every consent has lapsed)."""
        expiries: dict[str, list[datetime]] = {p: [] for p, _, _ in self.persons(site)}
        rows = self._db.execute(
            "SELECT c.person, c.expires_at FROM face_consents c "
            "JOIN face_persons p ON p.person = c.person WHERE p.site = ? ORDER BY c.id",
            (site,),
        )
        for person, expires_at in rows:
            expiries.setdefault(person, []).append(datetime.fromisoformat(expires_at))
        return expiries

    def erasures(self, person: str | None = None) -> list[Erasure]:
        query = (
            "SELECT person, site, erased_at, operator, reason, encodings_erased, "
            "consents_erased, bundle_version FROM face_erasures"
        )
        rows = self._db.execute(
            query + (" WHERE person = ?" if person else "") + " ORDER BY id",
            (person,) if person else (),
        )
        return [Erasure(r[0], r[1], datetime.fromisoformat(r[2]), *r[3:]) for r in rows]

    # ------------------------------------------------------------------ sync to edges

    def export_bundle(self, site: str, now: datetime | None = None) -> dict[str, Any]:
        """``{version, site, persons: [{id, role, encodings}]}`` of everyone at ``site`` whose
        consent is still in force (a lapsed consent stops the use of the templates)."""
        now_iso = _iso(now or _utcnow())
        rows = self._db.execute(
            "SELECT p.person, p.role FROM face_persons p WHERE p.site = ? AND EXISTS ("
            "SELECT 1 FROM face_consents c WHERE c.person = p.person AND c.expires_at > ?) "
            "ORDER BY p.person",
            (site, now_iso),
        ).fetchall()
        persons = [
            {"id": person, "role": role, "encodings": self.encodings(person).tolist()}
            for person, role in rows
        ]
        return {"version": self.version(site), "site": site, "persons": persons}

    def export_sealed_bundle(self, site: str, now: datetime | None = None) -> bytes:
        """The bundle encrypted with the face key, ready to publish to the site's edges."""
        return seal_bundle(self.cipher, self.export_bundle(site, now))
