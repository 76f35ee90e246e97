"""The scenario plan is pure: deterministic, covers every kind of arrival, valid plates."""

from datetime import UTC, datetime

from models.plate import is_valid_plate
from models.site import load_site_config
from simulators.scenario import Actor, plan_arrivals, plate_color

NOW = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def test_plan_is_deterministic_and_opens_with_every_kind() -> None:
    site = load_site_config()
    a = plan_arrivals(site, 40, seed=7, now=NOW)
    assert a == plan_arrivals(site, 40, seed=7, now=NOW)
    assert a != plan_arrivals(site, 40, seed=8, now=NOW)
    assert {x.actor for x in a[: len(Actor)]} == set(Actor)


def test_arrivals_match_the_site_lists() -> None:
    site = load_site_config()
    residents = {r.plate for r in site.vehicles.residents}
    blacklist = {b.plate for b in site.vehicles.blacklist}
    passes = {p.plate: p for p in site.vehicles.visitor_passes}
    gates = {g.id for g in site.gates if g.type == "vehicle"}
    for arrival in plan_arrivals(site, 200, seed=3, now=NOW):
        assert is_valid_plate(arrival.plate)
        assert arrival.gate in gates
        assert arrival.color == plate_color(arrival.plate)
        assert arrival.expect_open == (arrival.actor in (Actor.RESIDENT, Actor.VISITOR))
        if arrival.actor is Actor.RESIDENT:
            assert arrival.plate in residents
        elif arrival.actor is Actor.BLACKLISTED:
            assert arrival.plate in blacklist
        elif arrival.actor is Actor.VISITOR:
            assert passes[arrival.plate].valid_at(NOW)
        elif arrival.actor is Actor.EXPIRED_VISITOR:
            assert not passes[arrival.plate].valid_at(NOW)
        else:
            assert arrival.plate not in residents | blacklist | passes.keys()
