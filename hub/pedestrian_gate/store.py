"""The hub's face enrolment store (SQLite): persons, encrypted encodings, consents, erasures,
and residents' gate PINs and access cards.

Encodings are stored AES-GCM-sealed (``models.face_bundle``), never the photos. Erasure
deletes a person's encodings and consents with ``secure_delete`` on (SQLite overwrites the
freed pages) and checkpoints the WAL, keeps an audit record with no biometric data, and
bumps the site's bundle version so edges replace their copy with one that lacks the person.

The tables live in the hub's database file next to the hub's own tables (prefix ``face_``).
This module uses the standard ``sqlite3``: enrolment and export are short, rare operations.

PINs and card ids are sealed like encodings (AES-GCM, bound to site, person and kind), so
neither is in the file in clear; every change is recorded (who, when, which kind, never the
value) and bumps the bundle version. A person may hold a PIN or card without any face
enrolment (a resident who refuses face recognition still has a way in): such persons travel
in the bundle as residents without encodings, which is what lets the gate's directory name
their role. Erasure deletes a person's credentials with everything else.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from models.face_bundle import ROLES, FaceCipher, seal_bundle

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
CREATE TABLE IF NOT EXISTS face_credentials (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    person TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('pin', 'card')),
    sealed BLOB NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (person, kind)
);
CREATE INDEX IF NOT EXISTS face_credentials_site ON face_credentials (site, kind);
CREATE TABLE IF NOT EXISTS face_revoked_passes (
    site TEXT NOT NULL,
    pass_id TEXT NOT NULL,
    revoked_at TEXT NOT NULL,
    operator TEXT NOT NULL,
    reason TEXT NOT NULL,
    bundle_version INTEGER NOT NULL,
    PRIMARY KEY (site, pass_id)
);
CREATE TABLE IF NOT EXISTS face_credential_changes (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    person TEXT NOT NULL,
    kind TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('set', 'remove', 'erase')),
    operator TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    bundle_version INTEGER NOT NULL
);
"""

PIN = "pin"
CARD = "card"
CREDENTIAL_KINDS = (PIN, CARD)
# A PIN credential is the unit number and 6 to 8 ASCII digits (``models.passes.unit_pin``):
# a 4-digit PIN alone identified a resident among 10^4 guesses.
_PIN_RE = re.compile(r"[A-Z0-9][A-Z0-9-]{0,15}#[0-9]{6,8}")
_CARD_RE = re.compile(r"[\x21-\x7e]{1,64}")  # printable ASCII, no spaces (what readers send)


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
    credentials_erased: int = 0


@dataclass(frozen=True, slots=True)
class CredentialChange:
    """One change of a person's PIN or card: who, when, which kind; never the value."""

    site: str
    person: str
    kind: str
    action: str  # set | remove | erase
    operator: str
    changed_at: datetime
    bundle_version: int


@dataclass(frozen=True, slots=True)
class GateExport:
    """What one face-sync message carries, read in one snapshot so the versions agree."""

    sealed_bundle: bytes
    version: int
    pins: dict[str, str]  # PIN -> person
    cards: dict[str, str]  # card id -> person
    revoked: frozenset[str] = frozenset()  # QR pass ids the gates must refuse


def check_pin(pin: str) -> str:
    """``UNIT#PIN`` as ``unit_pin`` writes it; StoreError saying what a PIN must be."""
    if not _PIN_RE.fullmatch(pin):
        raise StoreError(
            "a PIN goes with a unit number and is 6 to 8 digits (unit#PIN, e.g. 3-201#482913)"
        )
    return pin


def check_card(card: str) -> str:
    if not _CARD_RE.fullmatch(card):
        raise StoreError("a card id is 1 to 64 printable characters without spaces")
    return card


def _credential_context(site: str, person: str, kind: str) -> bytes:
    # Bound to its owner: a sealed PIN moved to another person's row no longer opens.
    return f"face-credential:{site}:{person}:{kind}".encode()


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
            held = self._credential_sites(db, person)
            if held - {site}:
                raise StoreError(f"person {person!r} holds gate credentials at {sorted(held)}")
            if held and role != "resident":
                raise StoreError(
                    f"person {person!r} holds a PIN or card: remove them before listing "
                    f"the person as {role}"
                )
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
        keep_credentials: bool = False,
    ) -> Erasure:
        """Erase ``person`` (encodings, consents, PINs and cards, the person) and keep an
        audit record. A person with credentials but no face enrolment can be erased too.

        ``keep_credentials``: erase the face data only (a lapsed face consent): the PIN and
        card are not biometric, and a resident must keep a non-face way in."""
        if not operator.strip():
            raise StoreError("an erasure needs the operator's name")
        now = now or _utcnow()
        with self._tx() as db:
            row = db.execute("SELECT site FROM face_persons WHERE person = ?", (person,)).fetchone()
            held = sorted(self._credential_sites(db, person))
            if row is None and not held:
                raise StoreError(f"no enrolled person {person!r}")
            site = row[0] if row else held[0]
            encodings = db.execute(
                "DELETE FROM face_encodings WHERE person = ?", (person,)
            ).rowcount
            consents = db.execute("DELETE FROM face_consents WHERE person = ?", (person,)).rowcount
            kinds = [
                r[0]
                for r in db.execute(
                    "SELECT kind FROM face_credentials WHERE person = ? ORDER BY kind", (person,)
                )
            ]
            if keep_credentials:
                kinds = []
            else:
                db.execute("DELETE FROM face_credentials WHERE person = ?", (person,))
            db.execute("DELETE FROM face_persons WHERE person = ?", (person,))
            version = self._bump(db, site)
            erasure = Erasure(
                person,
                site,
                now,
                operator.strip(),
                reason,
                encodings,
                consents,
                version,
                len(kinds),
            )
            db.execute(
                "INSERT INTO face_erasures (person, site, erased_at, operator, reason, "
                "encodings_erased, consents_erased, bundle_version) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (person, site, _iso(now), erasure.operator, reason, encodings, consents, version),
            )
            for kind in kinds:
                self._log_change(db, site, person, kind, "erase", erasure.operator, now, version)
        # Old page images in the WAL would still hold the sealed rows: fold them in now.
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return erasure

    # ------------------------------------------------------------------ PINs and cards

    @staticmethod
    def _credential_sites(db: sqlite3.Connection, person: str) -> set[str]:
        rows = db.execute("SELECT DISTINCT site FROM face_credentials WHERE person = ?", (person,))
        return {r[0] for r in rows}

    @staticmethod
    def _log_change(
        db: sqlite3.Connection,
        site: str,
        person: str,
        kind: str,
        action: str,
        operator: str,
        now: datetime,
        version: int,
    ) -> None:
        db.execute(
            "INSERT INTO face_credential_changes (site, person, kind, action, operator, "
            "changed_at, bundle_version) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (site, person, kind, action, operator, _iso(now), version),
        )

    def _open_credential(self, site: str, person: str, kind: str, sealed: bytes) -> str:
        return self.cipher.open(sealed, _credential_context(site, person, kind)).decode()

    def _holders(self, db: sqlite3.Connection, site: str, kind: str) -> dict[str, str]:
        """Value -> person of every ``kind`` credential at ``site`` (decrypted)."""
        rows = db.execute(
            "SELECT person, sealed FROM face_credentials WHERE site = ? AND kind = ?",
            (site, kind),
        )
        return {self._open_credential(site, p, kind, sealed): p for p, sealed in rows}

    def _check_owner(self, db: sqlite3.Connection, site: str, person: str) -> None:
        row = db.execute(
            "SELECT site, role FROM face_persons WHERE person = ?", (person,)
        ).fetchone()
        if row and row[0] != site:
            raise StoreError(f"person {person!r} is enrolled at site {row[0]!r}, not {site!r}")
        if row and row[1] != "resident":
            raise StoreError(f"person {person!r} is on the {row[1]}: no PIN or card")
        held = self._credential_sites(db, person) - {site}
        if held:
            raise StoreError(f"person {person!r} holds gate credentials at {sorted(held)}")

    def set_credentials(
        self,
        *,
        site: str,
        person: str,
        pin: str | None = None,
        card: str | None = None,
        operator: str,
        now: datetime | None = None,
    ) -> int:
        """Give ``person`` this PIN and/or card at ``site``, replacing the one they had.

        A PIN or card belongs to one person per site. Returns the bundle version: bumped if
        anything changed, the current one if the person already had exactly these."""
        return self.import_credentials(
            site=site, rows=[(person, pin, card)], operator=operator, now=now
        )

    def import_credentials(
        self,
        *,
        site: str,
        rows: Sequence[tuple[str, str | None, str | None]],
        operator: str,
        now: datetime | None = None,
    ) -> int:
        """(person, PIN or None, card or None) rows, all or nothing, in one transaction and
        one new bundle version (a property's resident list at hand-over). An error names the
        row (1-based) and leaves the store unchanged."""
        if not site.strip():
            raise StoreError("a credential needs a site")
        if not operator.strip():
            raise StoreError("a credential change needs the operator's name")
        now = now or _utcnow()
        with self._tx() as db:
            holders = {kind: self._holders(db, site, kind) for kind in CREDENTIAL_KINDS}
            changed: list[tuple[str, str]] = []
            for number, (person, pin, card) in enumerate(rows, start=1):
                where = f"row {number} ({person}): " if len(rows) > 1 else ""
                try:
                    changed += self._set_in_tx(db, site, person, pin, card, holders, now)
                except StoreError as exc:
                    raise StoreError(f"{where}{exc}") from None
            if not changed:
                return self.version(site)
            version = self._bump(db, site)
            for person, kind in changed:
                self._log_change(db, site, person, kind, "set", operator.strip(), now, version)
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # replaced values leave the WAL
        return version

    def _set_in_tx(
        self,
        db: sqlite3.Connection,
        site: str,
        person: str,
        pin: str | None,
        card: str | None,
        holders: dict[str, dict[str, str]],
        now: datetime,
    ) -> list[tuple[str, str]]:
        """One person's new PIN/card; ``holders`` (value -> person per kind) is kept current
        so a batch checks uniqueness without decrypting everything again per row."""
        if pin is None and card is None:
            raise StoreError("nothing to set: give a PIN, a card or both")
        if not person.strip():
            raise StoreError("a credential needs a site and a person")
        wanted = {PIN: check_pin(pin)} if pin is not None else {}
        if card is not None:
            wanted[CARD] = check_card(card)
        self._check_owner(db, site, person)
        changed = []
        for kind, value in wanted.items():
            owner = holders[kind].get(value)
            if owner == person:
                continue  # already theirs: nothing to change, no new bundle
            if owner is not None:
                # The other person is named for cards (a found or reissued card), not for
                # PINs: that would tell the operator someone else's PIN.
                raise StoreError(
                    f"card {value!r} already belongs to {owner!r} at {site}"
                    if kind == CARD
                    else f"this PIN is already in use at {site}: choose another"
                )
            db.execute(
                "INSERT INTO face_credentials (site, person, kind, sealed, created_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (person, kind) DO UPDATE SET "
                "sealed = excluded.sealed, created_at = excluded.created_at",
                (
                    site,
                    person,
                    kind,
                    self.cipher.seal(value.encode(), _credential_context(site, person, kind)),
                    _iso(now),
                ),
            )
            mine = holders[kind]
            for old in [v for v, p in mine.items() if p == person]:
                del mine[old]  # the value they had is free again
            mine[value] = person
            changed.append((person, kind))
        return changed

    def remove_credentials(
        self,
        *,
        site: str,
        person: str,
        kinds: Sequence[str],
        operator: str,
        now: datetime | None = None,
    ) -> int:
        """Take ``person``'s PIN and/or card (``kinds``) away; returns the new bundle version."""
        if not kinds or set(kinds) - set(CREDENTIAL_KINDS):
            raise StoreError(f"say which credentials to remove: {CREDENTIAL_KINDS}")
        if not operator.strip():
            raise StoreError("a credential change needs the operator's name")
        now = now or _utcnow()
        with self._tx() as db:
            removed = [
                kind
                for kind in dict.fromkeys(kinds)
                if db.execute(
                    "DELETE FROM face_credentials WHERE site = ? AND person = ? AND kind = ?",
                    (site, person, kind),
                ).rowcount
            ]
            if not removed:
                raise StoreError(f"{person!r} has no {' or '.join(kinds)} at {site}")
            version = self._bump(db, site)
            for kind in removed:
                self._log_change(db, site, person, kind, "remove", operator.strip(), now, version)
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return version

    def credentials(self, site: str) -> list[tuple[str, str, str | None]]:
        """(person, kind, card id or None) at ``site``: a PIN is never returned in clear."""
        rows = self._db.execute(
            "SELECT person, kind, sealed FROM face_credentials WHERE site = ? "
            "ORDER BY person, kind",
            (site,),
        ).fetchall()
        return [
            (p, kind, self._open_credential(site, p, kind, sealed) if kind == CARD else None)
            for p, kind, sealed in rows
        ]

    # ------------------------------------------------------------------ QR pass revocation

    def revoke_pass(
        self, *, site: str, pass_id: str, operator: str, reason: str, now: datetime | None = None
    ) -> int:
        """Refuse a visitor QR pass at every gate of ``site`` from the next bundle on (the
        list travels in the sealed, signed gate directory). Returns the bundle version:
        bumped, or the current one if the pass was already revoked."""
        if not pass_id.strip() or not operator.strip() or not reason.strip():
            raise StoreError("revoking a pass needs its id, an operator and a reason")
        at = (now or datetime.now(UTC)).isoformat()
        with self._tx() as db:
            if db.execute(
                "SELECT 1 FROM face_revoked_passes WHERE site = ? AND pass_id = ?",
                (site, pass_id),
            ).fetchone():
                return self.version(site)
            version = self._bump(db, site)
            db.execute(
                "INSERT INTO face_revoked_passes VALUES (?, ?, ?, ?, ?, ?)",
                (site, pass_id, at, operator.strip(), reason.strip(), version),
            )
        return version

    def revoked_passes(self, site: str) -> frozenset[str]:
        rows = self._db.execute(
            "SELECT pass_id FROM face_revoked_passes WHERE site = ?", (site,)
        ).fetchall()
        return frozenset(r[0] for r in rows)

    def gate_credentials(self, site: str) -> tuple[dict[str, str], dict[str, str]]:
        """(PIN -> person, card id -> person) of ``site``, decrypted for the gate directory."""
        return self._holders(self._db, site, PIN), self._holders(self._db, site, CARD)

    def credential_changes(self, person: str | None = None) -> list[CredentialChange]:
        query = (
            "SELECT site, person, kind, action, operator, changed_at, bundle_version "
            "FROM face_credential_changes"
        )
        rows = self._db.execute(
            query + (" WHERE person = ?" if person else "") + " ORDER BY id",
            (person,) if person else (),
        )
        return [
            CredentialChange(s, p, k, a, o, datetime.fromisoformat(at), v)
            for s, p, k, a, o, at, v in rows
        ]

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
            "consents_erased, bundle_version, (SELECT count(*) FROM face_credential_changes c "
            "WHERE c.person = e.person AND c.site = e.site AND c.action = 'erase' "
            "AND c.bundle_version = e.bundle_version) FROM face_erasures e"
        )
        rows = self._db.execute(
            query + (" WHERE person = ?" if person else "") + " ORDER BY id",
            (person,) if person else (),
        )
        return [Erasure(r[0], r[1], datetime.fromisoformat(r[2]), *r[3:]) for r in rows]

    # ------------------------------------------------------------------ sync to edges

    def export_bundle(
        self, site: str, now: datetime | None = None, *, credential_holders: bool = False
    ) -> dict[str, Any]:
        """``{version, site, persons: [{id, role, encodings}]}`` of everyone at ``site`` whose
        consent is still in force (a lapsed consent stops the use of the templates).

        ``credential_holders``: also everyone else holding a PIN or card there, with no
        encodings (the gate needs their role to open for their PIN or card)."""
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
        if credential_holders:
            with_faces = {p["id"] for p in persons}
            holders = self._db.execute(
                "SELECT DISTINCT c.person, coalesce(p.role, 'resident') FROM face_credentials c "
                "LEFT JOIN face_persons p ON p.person = c.person WHERE c.site = ? "
                "ORDER BY c.person",
                (site,),
            )
            persons += [
                {"id": person, "role": role, "encodings": []}
                for person, role in holders
                if person not in with_faces
            ]
        return {"version": self.version(site), "site": site, "persons": persons}

    def export_sealed_bundle(self, site: str, now: datetime | None = None) -> bytes:
        """The bundle encrypted with the face key, ready to publish to the site's edges
        (credential holders without a face included)."""
        return seal_bundle(self.cipher, self.export_bundle(site, now, credential_holders=True))

    def gate_export(self, site: str, now: datetime | None = None) -> GateExport:
        """The sealed bundle, its version and the site's PINs and cards, from one snapshot
        (another process may enrol or erase meanwhile: bundle and directory must agree)."""
        self._db.execute("BEGIN")  # deferred: a read snapshot in WAL mode, blocks no writer
        try:
            sealed = self.export_sealed_bundle(site, now)
            pins, cards = self.gate_credentials(site)
            revoked = self.revoked_passes(site)
            return GateExport(sealed, self.version(site), pins, cards, revoked)
        finally:
            self._db.execute("COMMIT")
