"""Hub -> edges face sync: the site's sealed face bundle, retained on ``anju/{site}/sync/faces``.

The bundle comes from the face store (hub/pedestrian_gate/store.py, in the hub's database file) and
is published encrypted with the site's face key ($ANJU_FACE_KEY / $ANJU_FACE_KEY_FILE): the
broker and anyone subscribed without the key see site and version only. Its version is the
store's, bumped by every enrolment, erasure and PIN/card change, so edges keep the newest.
The PINs and cards of the gate directory come from the store too (sealed there), so they
survive a hub restart. The message is kept in the hub's retained set, so it is published
again on every reconnect.

    await publish_faces(hub, "lakeside")                   # at start, and after a change
    await enroll_person(hub, "lakeside", "p1", "resident", encodings, consent_by=..., ...)
    await delete_person(hub, "p1", operator="admin")       # erasure: new version without p1
    await set_gate_credentials(hub, "lakeside", pins={"2468": "p2"}, cards={"C-77": "p2"})
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from hub.pedestrian_gate.store import Erasure, FaceStore
from hub.store import DB_NAME
from models import topics
from models.face_bundle import (
    FACES,
    FaceCipher,
    FaceKeyError,
    bundle_payload,
    load_face_key,
    pass_key,
    seal_directory,
)
from models.messages import Kind, make_message

log = logging.getLogger(__name__)

HUB_DEVICE = "hub"


async def revoke_pass(
    hub: Any, site: str, pass_id: str, *, operator: str, reason: str, key: bytes | None = None
) -> int:
    """Revoke a visitor QR pass at every gate of ``site`` and publish the new bundle (its
    directory, sealed and signed, carries the revocation list). Returns the version."""
    if site not in hub.sites:
        raise ValueError(f"unknown site {site!r}")
    key = key or hub_face_key()

    def revoke() -> int:
        with FaceStore(face_db(hub), FaceCipher(key)) as store:
            return store.revoke_pass(site=site, pass_id=pass_id, operator=operator, reason=reason)

    await asyncio.to_thread(revoke)
    return await publish_faces(hub, site, key=key)


async def set_gate_credentials(
    hub: Any,
    site: str,
    *,
    pins: Mapping[str, str] | None = None,
    cards: Mapping[str, str] | None = None,
    operator: str = HUB_DEVICE,
    key: bytes | None = None,
) -> int:
    """Store PINs (``{pin: person}``) and cards (``{card id: person}``) in the face store:
    each replaces the person's own, the others stay. They reach the edges with the next
    bundle (the hub's face watcher publishes it within seconds). Returns the version."""
    if site not in hub.sites:
        raise ValueError(f"unknown site {site!r}")
    key = key or hub_face_key()
    wanted: dict[str, dict[str, str]] = {}
    for kind, given in (("pin", pins or {}), ("card", cards or {})):
        for value, person in given.items():
            if kind in wanted.setdefault(person, {}):
                raise ValueError(f"{person!r} is given two {kind}s")
            wanted[person][kind] = value

    def store_them() -> int:
        with FaceStore(face_db(hub), FaceCipher(key)) as store:
            version = store.version(site)
            for person, given in wanted.items():
                version = store.set_credentials(
                    site=site,
                    person=person,
                    operator=operator,
                    pin=given.get("pin"),
                    card=given.get("card"),
                )
            return version

    return await asyncio.to_thread(store_them)


def face_db(hub: Any) -> Path:
    return Path(hub.data_dir) / DB_NAME


def hub_face_key(key_file: Path | None = None) -> bytes:
    return load_face_key(key_file)


def _sealed_message(db: Path, key: bytes, site: str) -> Any:
    """Runs in a worker thread: the store's sqlite3 connection lives and dies in it."""
    cipher = FaceCipher(key)
    with FaceStore(db, cipher) as store:
        export = store.gate_export(site)
    directory = seal_directory(
        cipher,
        pass_key(key),
        site=site,
        version=export.version,
        pins=export.pins,
        cards=export.cards,
        revoked=export.revoked,
    )
    sealed = export.sealed_bundle
    message = make_message(
        Kind.FACE_BUNDLE, site=site, device=HUB_DEVICE, payload=bundle_payload(sealed, directory)
    )
    return message


async def publish_faces(hub: Any, site: str, *, key: bytes | None = None) -> int:
    """(Re)publish ``site``'s face bundle retained (QoS 1); returns its version.

    Raises FaceKeyError when no face key is configured."""
    if site not in hub.sites:
        raise ValueError(f"unknown site {site!r}")
    key = key or hub_face_key()
    message = await asyncio.to_thread(_sealed_message, face_db(hub), key, site)
    payload = hub.sign(message).to_json()  # edges act only on what the hub's key signed
    hub.publish_retained(str(topics.sync(site, FACES)), payload)  # again on every reconnect
    version = int(_version_of(payload))
    log.info("faces: published %s bundle version %d", site, version)
    return version


def _version_of(payload: bytes) -> int:
    from models.messages import MAX_SYNC_BYTES, FaceBundleMessage, parse_message

    message = parse_message(payload, max_bytes=MAX_SYNC_BYTES)
    assert isinstance(message, FaceBundleMessage)
    return message.payload.version


def _store_versions(db: Path, sites: Sequence[str]) -> dict[str, int]:
    with FaceStore(db, None) as store:
        return {site: store.version(site) for site in sites}


async def watch_faces(hub: Any, key: bytes, published: dict[str, int], every_s: float) -> None:
    """Republish a site's bundle when its store version moved: enrolments and erasures made
    with ``anju face enroll|delete`` in another process reach the edges within ``every_s``."""
    while True:
        await asyncio.sleep(every_s)
        try:
            versions = await asyncio.to_thread(_store_versions, face_db(hub), list(hub.sites))
            for site, version in versions.items():
                if published.get(site) != version:
                    published[site] = await publish_faces(hub, site, key=key)
        except Exception:  # a locked or busy database: try again at the next tick
            log.exception("faces: watching the face store failed")


async def start_face_sync(hub: Any, every_s: float = 5.0) -> asyncio.Task[None] | None:
    """At hub start: publish every site's bundle and watch the store for changes; None (and
    nothing published) when no face key is configured. Cancel the task at hub stop."""
    try:
        key = hub_face_key()
    except FaceKeyError as exc:
        log.info("faces: not synced (%s)", exc)
        return None
    published = await publish_all_faces(hub, key=key)
    return asyncio.create_task(watch_faces(hub, key, published, every_s), name="face-sync")


async def publish_all_faces(hub: Any, *, key: bytes | None = None) -> dict[str, int]:
    """Every site's bundle, if a face key is configured (else nothing)."""
    try:
        key = key or hub_face_key()
    except FaceKeyError as exc:
        log.info("faces: not synced (%s)", exc)
        return {}
    versions = {}
    for site in hub.sites:
        try:
            versions[site] = await publish_faces(hub, site, key=key)
        except (FaceKeyError, OSError, ValueError) as exc:  # the hub runs on without faces
            log.error("faces: %s bundle not published: %s", site, exc)
    return versions


async def enroll_person(
    hub: Any,
    site: str,
    person: str,
    role: str,
    encodings: Sequence[np.ndarray],
    *,
    consent_by: str,
    purpose: str,
    expires_at: datetime,
    key: bytes | None = None,
) -> int:
    """Enrol in the hub's face store, then publish the new bundle; returns its version."""
    key = key or hub_face_key()

    def enroll() -> int:
        with FaceStore(face_db(hub), FaceCipher(key)) as store:
            return store.enroll(
                site=site,
                person=person,
                role=role,
                encodings=list(encodings),
                consent_by=consent_by,
                purpose=purpose,
                expires_at=expires_at,
            )

    await asyncio.to_thread(enroll)
    return await publish_faces(hub, site, key=key)


async def delete_person(
    hub: Any,
    person: str,
    *,
    operator: str,
    reason: str = "erasure request",
    key: bytes | None = None,
) -> Erasure:
    """Erase ``person`` and publish the site's new bundle without them."""
    key = key or hub_face_key()

    def delete() -> Erasure:
        with FaceStore(face_db(hub), None) as store:
            return store.delete(person, operator=operator, reason=reason)

    erasure = await asyncio.to_thread(delete)
    await publish_faces(hub, erasure.site, key=key)
    return erasure
