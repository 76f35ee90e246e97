"""The lists the hub pushes to edges (pure): the vehicle list of a site and its digest.

The version only changes when the content does: the digest of the list content is stored
with the version, and a different digest bumps it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from models.messages import ListedPass, ListedVehicle, VehicleList
from models.site import SiteConfig

VEHICLES = "vehicles"


def vehicle_list(site: SiteConfig, version: int) -> VehicleList:
    """Residents (with their unit, not their name: edges need no more), blacklist, passes."""
    vehicles = site.vehicles
    return VehicleList(
        version=version,
        residents=[ListedVehicle(plate=r.plate, note=r.unit) for r in vehicles.residents],
        blacklist=[ListedVehicle(plate=b.plate, note=b.reason) for b in vehicles.blacklist],
        visitor_passes=[
            ListedPass(id=p.id, plate=p.plate, valid_from=p.valid_from, valid_until=p.valid_until)
            for p in vehicles.visitor_passes
        ],
    )


def list_digest(lists: VehicleList) -> str:
    """sha256 of the content without the version, stable across runs."""
    content = lists.model_dump(mode="json", exclude={"version"})
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def next_version(stored: dict[str, Any] | None, digest: str) -> tuple[int, bool]:
    """(version to publish, whether it changed) given the stored {version, digest} row."""
    if stored is None:
        return 1, True
    if stored["digest"] == digest:
        return int(stored["version"]), False
    return int(stored["version"]) + 1, True
