"""Run a retention purge against the hub's store: once (``anju retention run``) or every hour
inside a running hub (first run shortly after start), like the supervision deadline ticker.

Each run deletes old events and rejects, strips evidence snapshots, erases persons whose
face consent lapsed (as ``anju face delete`` does; the edges get a bundle without them), and
writes one audit-log entry with the counts (actor ``retention``). A dry run only counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.retention.plan import EVIDENCE_SUFFIX, lapsed_persons, plan
from hub.store import Store
from models.site import SiteConfig

log = logging.getLogger(__name__)

ACTOR = "retention"
EVERY_S = 3600.0
FIRST_AFTER_S = 60.0


async def run_retention(
    store: Store,
    sites: Sequence[SiteConfig],
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    hub: Any = None,
    batch: int = 200,  # rows per transaction: ~10-70 ms each on 3-KB snapshots (2 shared cores)
) -> dict[str, Any]:
    """Purge (or, ``dry_run``, count) what the sites' retention settings say is too old.

    ``hub``: a running hub, to publish the new face bundle at once after an erasure (without
    it a running hub's face watcher publishes it within seconds). Returns the report."""
    now = now or datetime.now(UTC)
    the_plan = plan(sites, now)
    report: dict[str, Any] = {"dry_run": dry_run, "now": now.isoformat(), "sites": {}}
    erased_at: list[str] = []
    for cut in the_plan.sites:
        deleted = await store.delete_old_events(
            cut.site, before=cut.events, batch=batch, dry_run=dry_run
        )
        common: dict[str, Any] = {
            "now": now,
            "suffix": EVIDENCE_SUFFIX,
            "batch": batch,
            "dry_run": dry_run,
        }
        stripped = await store.strip_evidence(
            cut.site, before=cut.evidence, after=cut.events, violation_evidence=False, **common
        )
        stripped_violation = await store.strip_evidence(
            cut.site, before=cut.violation_evidence, violation_evidence=True, **common
        )
        persons = await asyncio.to_thread(
            erase_lapsed_faces, store.path, cut.site, cut.consent, now, dry_run
        )
        if persons and not dry_run:
            erased_at.append(cut.site)
        report["sites"][cut.site] = {
            "cutoffs": cut.as_dict(),
            "events_deleted": deleted,
            "evidence_stripped": stripped,
            "violation_evidence_stripped": stripped_violation,
            "faces_erased": persons,
        }
    report["rejected_cutoff"] = the_plan.rejected.isoformat()
    report["rejected_deleted"] = await store.delete_old_rejected(
        before=the_plan.rejected, batch=batch, dry_run=dry_run
    )
    report["reject_counts_deleted"] = await store.delete_old_reject_counts(
        before=the_plan.rejected, dry_run=dry_run
    )
    report["totals"] = totals(report)
    if not dry_run:
        async with store.transaction():
            await store.audit(ACTOR, "retention.purge", "retention", None, report, now)
    if hub is not None:
        for site in erased_at:
            await _publish_faces(hub, site)
    return report


def totals(report: dict[str, Any]) -> dict[str, int]:
    sites = report["sites"].values()
    return {
        "events_deleted": sum(s["events_deleted"] for s in sites),
        "evidence_stripped": sum(
            s["evidence_stripped"] + s["violation_evidence_stripped"] for s in sites
        ),
        "faces_erased": sum(len(s["faces_erased"]) for s in sites),
        "rejected_deleted": report["rejected_deleted"],
    }


def _has_face_store(db: Path) -> bool:
    """Without face tables there is nothing to erase (and a dry run must not create them)."""
    if not db.exists():
        return False
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'face_consents'"
        ).fetchone()
    return found is not None


def erase_lapsed_faces(
    db: Path, site: str, before: datetime, now: datetime, dry_run: bool = False
) -> list[str]:
    """Erase (``dry_run``: list) the persons at ``site`` whose every consent expired before
    ``before``, through the face store's erasure (``anju face delete``). Runs in a thread."""
    if not _has_face_store(db):
        return []
    from hub.pedestrian_gate.store import FaceStore  # numpy and the face crypto: only when needed

    with FaceStore(db, None) as faces:
        lapsed = lapsed_persons(faces.consent_expiries(site), before)
        if not dry_run:
            for person in lapsed:
                # Face data only: the PIN and card stay, so the resident still gets in.
                faces.delete(
                    person, operator=ACTOR, reason="consent expired", now=now, keep_credentials=True
                )
                log.warning(
                    "retention: erased %s's face data at %s (every face consent expired)",
                    person,
                    site,
                )
    return lapsed


async def _publish_faces(hub: Any, site: str) -> None:
    from hub.pedestrian_gate.sync import publish_faces
    from models.face_bundle import FaceKeyError

    try:
        await publish_faces(hub, site)
    except (FaceKeyError, OSError, ValueError) as exc:  # the hub runs on; its watcher retries
        log.error("retention: %s face bundle not published after erasure: %s", site, exc)


async def run_retention_periodically(
    store: Store,
    sites: Sequence[SiteConfig],
    *,
    hub: Any = None,
    every_s: float = EVERY_S,
    first_after_s: float = FIRST_AFTER_S,
) -> None:
    await asyncio.sleep(first_after_s)
    while True:
        try:
            report = await run_retention(store, sites, hub=hub)
            log.info("retention: %s", report["totals"])
        except Exception:  # a busy database: try again at the next run
            log.exception("retention: purge failed")
        await asyncio.sleep(every_s)


def start_retention(
    store: Store,
    sites: Sequence[SiteConfig],
    *,
    hub: Any = None,
    every_s: float = EVERY_S,
    first_after_s: float = FIRST_AFTER_S,
) -> asyncio.Task[None]:
    return asyncio.create_task(
        run_retention_periodically(
            store, sites, hub=hub, every_s=every_s, first_after_s=first_after_s
        ),
        name="retention",
    )


async def stop_retention(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
