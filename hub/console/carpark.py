"""Car-park views, pure: slot map from the configured polygons, occupancy from slot_state
events, zone counts and the occupancy curve over a day."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from models.site import CarPark


@dataclass(frozen=True, slots=True)
class SlotReading:
    """One slot_state event: the slot, whether occupied, since when (the edge's time)."""

    slot: str
    occupied: bool
    at: datetime
    plate: str | None = None


@dataclass(frozen=True, slots=True)
class SlotView:
    id: str
    zone: str
    zone_kind: str
    points: str  # SVG polygon points
    label_x: float
    label_y: float
    occupied: bool | None  # None: no reading yet
    plate: str | None
    since: datetime | None
    reserved_for: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ZoneCount:
    zone: str
    kind: str
    slots: int
    occupied: int
    unknown: int


def latest_states(readings: Iterable[SlotReading]) -> dict[str, SlotReading]:
    """The newest reading of each slot (by the edge's time)."""
    latest: dict[str, SlotReading] = {}
    for reading in readings:
        seen = latest.get(reading.slot)
        if seen is None or reading.at >= seen.at:
            latest[reading.slot] = reading
    return latest


def slot_views(car_park: CarPark, states: Mapping[str, SlotReading]) -> list[SlotView]:
    kinds = {z.id: z.kind.value for z in car_park.zones}
    views = []
    for slot in car_park.slots:
        xs = [p[0] for p in slot.polygon]
        ys = [p[1] for p in slot.polygon]
        state = states.get(slot.id)
        views.append(
            SlotView(
                id=slot.id,
                zone=slot.zone,
                zone_kind=kinds[slot.zone],
                points=" ".join(f"{x},{y}" for x, y in slot.polygon),
                label_x=sum(xs) / len(xs),
                label_y=sum(ys) / len(ys),
                occupied=state.occupied if state else None,
                plate=state.plate if state else None,
                since=state.at if state else None,
                reserved_for=tuple(slot.reserved_for),
            )
        )
    return views


def zone_counts(car_park: CarPark, states: Mapping[str, SlotReading]) -> list[ZoneCount]:
    counts = []
    for zone in car_park.zones:
        ids = [s.id for s in car_park.slots if s.zone == zone.id]
        known = [states[i] for i in ids if i in states]
        counts.append(
            ZoneCount(
                zone=zone.id,
                kind=zone.kind.value,
                slots=len(ids),
                occupied=sum(1 for r in known if r.occupied),
                unknown=len(ids) - len(known),
            )
        )
    return counts


def occupancy_series(
    before: Mapping[str, SlotReading],
    readings: Iterable[SlotReading],
    start: datetime,
    end: datetime,
    step: timedelta = timedelta(minutes=15),
) -> list[tuple[datetime, int]]:
    """Occupied-slot count at each step from ``start`` up to ``end`` (inclusive).

    ``before``: each slot's state at ``start``; ``readings``: the changes after it.
    The count at a time is what the newest reading of each slot said at that time; the
    last point is at ``end`` itself, so the curve ends at the current count.
    """
    readings = list(readings)
    # A reading stored after ``start`` can describe a change before it (the edge's
    # ``since`` is older than its ``ts``, e.g. around midnight): it belongs to the state
    # at ``start``, not to the curve.
    initial = latest_states([*before.values(), *(r for r in readings if r.at < start)])
    state = {slot: r.occupied for slot, r in initial.items()}
    changes = sorted((r for r in readings if start <= r.at <= end), key=lambda r: r.at)
    times = []
    t = start
    while t < end:
        times.append(t)
        t += step
    times.append(end)
    series: list[tuple[datetime, int]] = []
    i = 0
    for t in times:
        while i < len(changes) and changes[i].at <= t:
            state[changes[i].slot] = changes[i].occupied
            i += 1
        series.append((t, sum(state.values())))
    return series
