"""Slot state machine with time debounce, and the tracker over a whole car park.

Per-frame (or per-reading) occupancy is noisy: a person walks across a bay, a car drives
over its front edge, headlights sweep it. A slot changes state only after the opposite
observation has dominated for ``on_after_s`` (free -> occupied) or ``off_after_s``
(occupied -> free). Evidence is leaky: time observed against the current state adds up,
time observed for it drains the evidence twice as fast, so a single odd frame inside a
real change does not restart the count, and a short occlusion does not accumulate.
Only real changes are emitted; ``since`` is when the new state began to be observed.
Times are seconds (any epoch, monotonic per slot).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Source = Literal["camera", "sensor", "fused"]


@dataclass(frozen=True, slots=True)
class SlotChange:
    slot: str
    occupied: bool
    since: float
    source: Source
    confidence: float = 1.0


@dataclass(frozen=True, slots=True)
class DebounceConfig:
    on_after_s: float = 8.0
    off_after_s: float = 10.0
    drain: float = 2.0  # evidence lost per second of agreeing observation
    max_gap_s: float = 5.0  # a longer gap between observations counts as this long


# Ground sensors report every ~10 s: three readings before a bay changes, so a car that
# waits over a sensor for a few seconds is not taken for a parked one.
SENSOR_DEBOUNCE = DebounceConfig(on_after_s=25.0, off_after_s=25.0, max_gap_s=10.0)


class SlotStateMachine:
    """One slot. ``occupied`` is None until the first state is established."""

    def __init__(
        self,
        slot: str,
        config: DebounceConfig = DebounceConfig(),
        *,
        source: Source = "camera",
        initial: bool | None = None,
        t0: float | None = None,
    ) -> None:
        self.slot = slot
        self.config = config
        self.source = source
        self.occupied: bool | None = initial
        self.since: float | None = t0 if initial is not None else None
        self._evidence = 0.0  # seconds of observation against the current state
        self._challenge_start: float | None = None
        self._pending: bool | None = None
        self._last_t: float | None = None
        self._score_sum = 0.0
        self._score_n = 0

    def observe(self, occupied: bool, t: float, score: float | None = None) -> SlotChange | None:
        dt = 0.0 if self._last_t is None else min(max(0.0, t - self._last_t), self.config.max_gap_s)
        self._last_t = t
        if self.occupied is None:
            return self._observe_unknown(occupied, t, dt, score)
        if occupied != self.occupied:
            if self._challenge_start is None:
                self._challenge_start = t
                self._score_sum, self._score_n = 0.0, 0
            self._evidence += dt
            if score is not None:
                self._score_sum += score if occupied else 1.0 - score
                self._score_n += 1
            needed = self.config.on_after_s if occupied else self.config.off_after_s
            if self._evidence >= needed:
                return self._flip(occupied)
        else:
            self._evidence = max(0.0, self._evidence - self.config.drain * dt)
            if self._evidence <= 0.0:
                self._challenge_start = None
        return None

    def _observe_unknown(
        self, occupied: bool, t: float, dt: float, score: float | None
    ) -> SlotChange | None:
        # Until a first state is known, track the streak of one value.
        if self._challenge_start is None or self._pending != occupied:
            self._pending = occupied
            self._challenge_start = t
            self._evidence = 0.0
            self._score_sum, self._score_n = 0.0, 0
            return None
        self._evidence += dt
        if score is not None:
            self._score_sum += score if occupied else 1.0 - score
            self._score_n += 1
        if self._evidence >= min(self.config.on_after_s, self.config.off_after_s):
            return self._flip(occupied)
        return None

    def _flip(self, occupied: bool) -> SlotChange:
        assert self._challenge_start is not None
        self.occupied = occupied
        self.since = self._challenge_start
        self._evidence = 0.0
        confidence = self._score_sum / self._score_n if self._score_n else 1.0
        self._challenge_start = None
        return SlotChange(self.slot, occupied, self.since, self.source, round(confidence, 3))


@dataclass(frozen=True, slots=True)
class ZoneCount:
    free: int = 0
    occupied: int = 0
    unknown: int = 0


@dataclass(frozen=True)
class CarParkSnapshot:
    t: float
    zones: dict[str, ZoneCount]
    occupied: int
    free: int
    unknown: int
    slots: dict[str, bool | None] = field(default_factory=dict)


class SlotTracker:
    """State machines for every slot; publishes changes and periodic snapshots."""

    def __init__(
        self,
        slot_zones: Mapping[str, str],
        config: DebounceConfig = DebounceConfig(),
        *,
        source: Source = "camera",
        snapshot_every_s: float = 60.0,
    ) -> None:
        self.zones = dict(slot_zones)
        self.machines = {sid: SlotStateMachine(sid, config, source=source) for sid in self.zones}
        self.snapshot_every_s = snapshot_every_s
        self._last_snapshot: float | None = None

    def update(self, observations: Mapping[str, object], t: float) -> list[SlotChange]:
        """``observations`` maps slot id to a bool or to anything with ``.occupied`` and
        ``.score`` (a detector or sensor observation). Unknown slot ids are ignored."""
        changes = []
        for sid, obs in observations.items():
            machine = self.machines.get(sid)
            if machine is None:
                continue
            if isinstance(obs, bool):
                change = machine.observe(obs, t)
            else:
                change = machine.observe(bool(obs.occupied), t, getattr(obs, "score", None))  # type: ignore[attr-defined]
            if change is not None:
                changes.append(change)
        return changes

    def state(self, slot: str) -> bool | None:
        return self.machines[slot].occupied

    def since(self, slot: str) -> float | None:
        return self.machines[slot].since

    def snapshot(self, t: float) -> CarParkSnapshot:
        counts: dict[str, list[int]] = {}
        states = {}
        for sid, machine in self.machines.items():
            c = counts.setdefault(self.zones[sid], [0, 0, 0])
            state = machine.occupied
            states[sid] = state
            c[0 if state is False else 1 if state else 2] += 1
        zones = {z: ZoneCount(*c) for z, c in counts.items()}
        return CarParkSnapshot(
            t=t,
            zones=zones,
            free=sum(z.free for z in zones.values()),
            occupied=sum(z.occupied for z in zones.values()),
            unknown=sum(z.unknown for z in zones.values()),
            slots=states,
        )

    def snapshot_due(self, t: float) -> CarParkSnapshot | None:
        """A snapshot every ``snapshot_every_s`` (the first call always gives one)."""
        if self._last_snapshot is not None and t - self._last_snapshot < self.snapshot_every_s:
            return None
        self._last_snapshot = t
        return self.snapshot(t)

    def free_in(self, zones: Iterable[str]) -> int:
        wanted = set(zones)
        return sum(
            1
            for sid, m in self.machines.items()
            if self.zones[sid] in wanted and m.occupied is False
        )
