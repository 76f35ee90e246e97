"""Pure vehicle decisions: every reason, precedence, the capacity hook, list building."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.vehicle_gate.decisions import (
    SEED_VERSION,
    Entrant,
    LocalLists,
    PassWindow,
    PlateEvidence,
    decide_vehicle,
)
from models.messages import Decision, DecisionReason, ListedPass, ListedVehicle, VehicleList
from models.site import load_site_config

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
DAY = timedelta(days=1)

LISTS = LocalLists(
    version=7,
    residents=frozenset({"浙HA1234", "浙HD12345", "浙HB0001"}),
    blacklist={"浙HX9999": "forced the barrier", "浙HB0001": "resident, banned"},
    passes={
        "浙HK2020": (PassWindow("V1", NOW - DAY, NOW + DAY),),
        "浙HM3030": (PassWindow("V2", NOW - 3 * DAY, NOW - DAY),),
        "浙HN4040": (PassWindow("V3", NOW + DAY, NOW + 2 * DAY),),
        "浙HP5050": (
            PassWindow("V4", NOW - 3 * DAY, NOW - DAY),
            PassWindow("V5", NOW - timedelta(hours=1), NOW + timedelta(hours=1)),
        ),
    },
)


def decide(plate: str, confidence: float = 0.95, **kw):
    return decide_vehicle(PlateEvidence(plate, confidence), LISTS, NOW, min_confidence=0.8, **kw)


@pytest.mark.parametrize(
    ("plate", "decision", "reason"),
    [
        ("浙HA1234", Decision.OPEN, DecisionReason.RESIDENT),
        ("浙HD12345", Decision.OPEN, DecisionReason.RESIDENT),
        ("浙HX9999", Decision.REFUSE, DecisionReason.BLACKLISTED),
        ("浙HB0001", Decision.REFUSE, DecisionReason.BLACKLISTED),  # blacklist beats resident
        ("浙HK2020", Decision.OPEN, DecisionReason.VISITOR_PASS),
        ("浙HM3030", Decision.REFUSE, DecisionReason.PASS_EXPIRED),
        ("浙HN4040", Decision.REFUSE, DecisionReason.PASS_NOT_YET_VALID),
        ("浙HP5050", Decision.OPEN, DecisionReason.VISITOR_PASS),  # one of two passes valid
        ("沪C77777", Decision.REFUSE, DecisionReason.UNKNOWN),
    ],
)
def test_reasons(plate: str, decision: Decision, reason: DecisionReason) -> None:
    result = decide(plate)
    assert (result.decision, result.reason) == (decision, reason)
    assert result.plate == plate
    assert result.list_version == 7
    assert result.opens is (decision is Decision.OPEN)


def test_visitor_pass_names_the_pass() -> None:
    assert decide("浙HP5050").detail == "V5"


def test_low_confidence_refuses_even_a_resident_and_even_a_blacklisted_plate() -> None:
    for plate in ("浙HA1234", "浙HX9999"):
        result = decide(plate, confidence=0.79)
        assert (result.decision, result.reason) == (Decision.REFUSE, DecisionReason.LOW_CONFIDENCE)
    assert decide("浙HA1234", confidence=0.8).reason is DecisionReason.RESIDENT  # boundary


def test_pass_boundaries_are_half_open() -> None:
    window = LISTS.passes["浙HK2020"][0]
    at_start = decide_vehicle(
        PlateEvidence("浙HK2020", 1.0), LISTS, window.valid_from, min_confidence=0.8
    )
    at_end = decide_vehicle(
        PlateEvidence("浙HK2020", 1.0), LISTS, window.valid_until, min_confidence=0.8
    )
    assert at_start.reason is DecisionReason.VISITOR_PASS
    assert at_end.reason is DecisionReason.PASS_EXPIRED


def test_plate_is_normalised_before_lookup() -> None:
    assert decide("浙h·a1234").reason is DecisionReason.RESIDENT


class Full:
    """A capacity check with a fixed answer per entrant kind, recording what it was asked."""

    def __init__(self, room: dict[Entrant, bool]) -> None:
        self.room = room
        self.asked: list[tuple[Entrant, str]] = []

    def has_room(self, entrant: Entrant, plate: str, now: datetime) -> bool:
        self.asked.append((entrant, plate))
        return self.room[entrant]


def test_capacity_hook_can_refuse_visitors_only() -> None:
    check = Full({Entrant.RESIDENT: True, Entrant.VISITOR: False})
    assert decide("浙HA1234", capacity=check).reason is DecisionReason.RESIDENT
    refused = decide("浙HK2020", capacity=check)
    assert (refused.decision, refused.reason) == (Decision.REFUSE, DecisionReason.CAPACITY_FULL)
    # Refusals for other reasons never consult the car park.
    assert decide("沪C77777", capacity=check).reason is DecisionReason.UNKNOWN
    assert check.asked == [(Entrant.RESIDENT, "浙HA1234"), (Entrant.VISITOR, "浙HK2020")]


def test_lists_from_vehicle_list_and_from_site_config() -> None:
    synced = LocalLists.from_vehicle_list(
        VehicleList(
            version=3,
            residents=[ListedVehicle(plate="浙H·A1234")],
            blacklist=[ListedVehicle(plate="浙HX9999", note="banned")],
            visitor_passes=[
                ListedPass(id="P1", plate="浙HK2020", valid_from=NOW, valid_until=NOW + DAY)
            ],
        )
    )
    assert synced.version == 3
    assert "浙HA1234" in synced.residents
    assert synced.blacklist == {"浙HX9999": "banned"}
    assert synced.passes["浙HK2020"][0].pass_id == "P1"

    seeded = LocalLists.from_site_vehicles(load_site_config().vehicles)
    assert seeded.version == SEED_VERSION
    now = datetime(2026, 11, 27, tzinfo=UTC)
    reasons = {
        plate: decide_vehicle(PlateEvidence(plate, 1.0), seeded, now, min_confidence=0.8).reason
        for plate in ("浙HA1234", "浙HX9999", "浙HK2020", "浙HM3030", "京A12345")
    }
    assert reasons == {
        "浙HA1234": DecisionReason.RESIDENT,
        "浙HX9999": DecisionReason.BLACKLISTED,
        "浙HK2020": DecisionReason.VISITOR_PASS,
        "浙HM3030": DecisionReason.PASS_EXPIRED,
        "京A12345": DecisionReason.UNKNOWN,
    }


PLATES = st.sampled_from(
    ["浙HA1234", "浙HD12345", "浙HX9999", "浙HB0001", "浙HK2020", "浙HM3030", "沪C77777"]
)
TIMES = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)


@given(plate=PLATES, confidence=st.floats(0, 1), now=TIMES, room=st.booleans())
def test_invariants(plate: str, confidence: float, now: datetime, room: bool) -> None:
    result = decide_vehicle(
        PlateEvidence(plate, confidence),
        LISTS,
        now,
        min_confidence=0.8,
        capacity=Full({Entrant.RESIDENT: room, Entrant.VISITOR: room}),
    )
    if result.opens:
        # Only a sure read of a listed, non-blacklisted plate with room ever opens.
        assert confidence >= 0.8 and room
        assert plate not in LISTS.blacklist
        assert plate in LISTS.residents or any(w.valid_at(now) for w in LISTS.passes[plate])
    if confidence < 0.8:
        assert result.reason is DecisionReason.LOW_CONFIDENCE
    assert result.list_version == LISTS.version


class _Full:
    def has_room(self, entrant: Entrant, plate: str, now: datetime) -> bool:
        return False


@pytest.mark.parametrize("plate", ["浙HA1234", "浙HX9999", "浙HM3030", "沪C77777"])
def test_an_exit_gate_lets_every_read_vehicle_out(plate: str) -> None:
    result = decide(plate, direction="out", capacity=_Full())  # a full car park too
    assert (result.decision, result.reason) == (Decision.OPEN, DecisionReason.EXIT)
    assert result.detail == ("blacklisted: forced the barrier" if plate == "浙HX9999" else "")


def test_an_exit_gate_still_waits_for_a_sure_read() -> None:
    result = decide("浙HA1234", confidence=0.5, direction="out")
    assert result.reason is DecisionReason.LOW_CONFIDENCE and not result.opens


@pytest.mark.parametrize("direction", ["in", "both"])
def test_entry_gates_decide_by_the_lists(direction: str) -> None:
    assert decide("浙HX9999", direction=direction).reason is DecisionReason.BLACKLISTED
    assert decide("浙HA1234", direction=direction).reason is DecisionReason.RESIDENT
