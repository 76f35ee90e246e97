"""Scenario runner: residents, visitors, blacklisted and unknown cars arrive at gates.

``plan_arrivals`` is pure and deterministic from a seed (what happens, in what
order); ``ScenarioRunner`` plays a plan against simulated gates in real time.
The runner never tells the edge what it drew: the edge must read the plate
from the rendered pixels.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from models.plate import PROVINCES, SERIAL_CHARS, SERIAL_LETTERS, PlateColor
from models.site import SiteConfig

log = logging.getLogger(__name__)


class Actor(StrEnum):
    RESIDENT = "resident"
    VISITOR = "visitor"
    EXPIRED_VISITOR = "expired_visitor"
    BLACKLISTED = "blacklisted"
    UNKNOWN = "unknown"


# How often each kind of driver turns up at a community gate.
DEFAULT_MIX: dict[Actor, float] = {
    Actor.RESIDENT: 0.50,
    Actor.VISITOR: 0.15,
    Actor.EXPIRED_VISITOR: 0.05,
    Actor.BLACKLISTED: 0.10,
    Actor.UNKNOWN: 0.20,
}


@dataclass(frozen=True)
class Arrival:
    actor: Actor
    plate: str
    color: PlateColor
    gate: str
    expect_open: bool


def plate_color(plate: str) -> PlateColor:
    """Civil plates of 8 characters are green new-energy plates; 7 are blue here."""
    return PlateColor.GREEN if len(plate) == 8 else PlateColor.BLUE


def random_unknown_plate(rng: random.Random, taken: set[str]) -> str:
    while True:
        serial = rng.choice(SERIAL_LETTERS) + "".join(rng.choice(SERIAL_CHARS) for _ in range(4))
        plate = rng.choice(PROVINCES) + rng.choice(SERIAL_LETTERS) + serial
        if plate not in taken:
            return plate


def plan_arrivals(
    site: SiteConfig,
    count: int,
    *,
    seed: int,
    now: datetime,
    mix: dict[Actor, float] | None = None,
) -> list[Arrival]:
    """A deterministic list of arrivals at the site's vehicle gates."""
    rng = random.Random(seed)
    mix = mix or DEFAULT_MIX
    gates = [g.id for g in site.gates if g.type == "vehicle"]
    if not gates:
        return []
    vehicles = site.vehicles
    valid = [p.plate for p in vehicles.visitor_passes if p.valid_at(now)]
    expired = [p.plate for p in vehicles.visitor_passes if not p.valid_at(now)]
    pools: dict[Actor, list[str]] = {
        Actor.RESIDENT: [r.plate for r in vehicles.residents],
        Actor.VISITOR: valid,
        Actor.EXPIRED_VISITOR: expired,
        Actor.BLACKLISTED: [b.plate for b in vehicles.blacklist],
    }
    taken = {p for pool in pools.values() for p in pool}
    actors = [a for a in mix if a is Actor.UNKNOWN or pools.get(a)]
    weights = [mix[a] for a in actors]
    # Open with one of each kind (in a seeded order) so even a short run shows every
    # outcome, then draw from the mix.
    opening = rng.sample(actors, len(actors))
    plan: list[Arrival] = []
    for i in range(count):
        actor = opening[i] if i < len(opening) else rng.choices(actors, weights)[0]
        if actor is Actor.UNKNOWN:
            plate = random_unknown_plate(rng, taken)
        else:
            plate = rng.choice(pools[actor])
        expect_open = actor in (Actor.RESIDENT, Actor.VISITOR)
        plan.append(Arrival(actor, plate, plate_color(plate), rng.choice(gates), expect_open))
    return plan


class VehicleGateSim(Protocol):
    """What the runner needs of a simulated vehicle gate (see simulators/gate.py)."""

    gate_id: str

    def arrive(self, plate: str, color: PlateColor) -> None: ...

    @property
    def occupied(self) -> bool: ...


class ScenarioRunner:
    """Plays arrivals against simulated gates; one car at a time per gate."""

    def __init__(
        self,
        gates: Sequence[VehicleGateSim],
        plan: Sequence[Arrival],
        *,
        interval_s: float = 2.0,
    ) -> None:
        self.gates = {g.gate_id: g for g in gates}
        self.plan = list(plan)
        self.interval_s = interval_s
        self.played: Counter[str] = Counter()

    async def run(self) -> None:
        for arrival in self.plan:
            gate = self.gates.get(arrival.gate)
            if gate is None:
                continue
            while gate.occupied:  # wait for the previous car to clear this barrier
                await asyncio.sleep(0.1)
            log.info("scenario: %s %s arrives at %s", arrival.actor, arrival.plate, arrival.gate)
            gate.arrive(arrival.plate, arrival.color)
            self.played[arrival.actor] += 1
            await asyncio.sleep(self.interval_s)
