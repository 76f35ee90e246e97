"""Topic tree: build, parse, wildcard matching, bad segments."""

import pytest

from models import topics
from models.topics import Channel, Topic, TopicError, Wildcard, parse_topic


@pytest.mark.parametrize(
    ("topic", "text"),
    [
        (
            topics.event("lakeside", "edge-north", "plate_read"),
            "anju/lakeside/edge-north/events/plate_read",
        ),
        (
            topics.state("lakeside", "edge-north", "gate_state"),
            "anju/lakeside/edge-north/state/gate_state",
        ),
        (topics.available("lakeside", "edge-north"), "anju/lakeside/edge-north/available"),
        (topics.command("lakeside", "edge-north", "gate"), "anju/lakeside/edge-north/cmd/gate"),
        (topics.sync("lakeside", "vehicles"), "anju/lakeside/sync/vehicles"),
    ],
)
def test_build_and_parse_round_trip(topic: Topic, text: str) -> None:
    assert str(topic) == text
    assert parse_topic(text) == topic


@pytest.mark.parametrize(
    "text",
    [
        "frigate/events",
        "anju/lakeside",
        "anju/lakeside/edge/events",
        "anju/lakeside/edge/bogus/x",
        "anju/lakeside/edge/events/plate_read/extra",
        "anju/lake side/edge/events/plate_read",
        "anju/lakeside/+/events/plate_read",
        "anju/lakeside/sync/vehicles/extra",
        "anju//edge/available",
    ],
)
def test_parse_rejects_foreign_topics(text: str) -> None:
    with pytest.raises(TopicError):
        parse_topic(text)


@pytest.mark.parametrize("bad", ["", "a/b", "+", "#", "x y", "-lead", "é"])
def test_segments_are_plain_identifiers(bad: str) -> None:
    with pytest.raises(TopicError):
        topics.event("lakeside", bad, "plate_read")


def test_sync_is_reserved_device_id() -> None:
    with pytest.raises(TopicError):
        topics.event("lakeside", "sync", "plate_read")


def test_wildcards_follow_mqtt_rules() -> None:
    events = Wildcard("anju/+/+/events/+")
    assert events.matches("anju/a/b/events/plate_read")
    assert not events.matches("anju/a/b/state/gate_state")
    assert not events.matches("anju/a/b/events")
    assert Wildcard("anju/#").matches("anju/a/sync/vehicles")
    assert Wildcard("anju/a/#").matches("anju/a")  # '#' also matches the parent level
    assert not Wildcard("anju/a/#").matches("anju/b/x")


def test_hub_and_edge_subscriptions_cover_the_tree() -> None:
    hub = topics.hub_subscriptions()
    for t in [
        topics.event("s", "d", "alarm"),
        topics.state("s", "d", "gate_state"),
        topics.available("s", "d"),
    ]:
        assert any(w.matches(t) for w in hub)
    assert not any(w.matches(topics.command("s", "d", "gate")) for w in hub)
    edge = topics.edge_subscriptions("s", "d")
    assert any(w.matches(topics.command("s", "d", "gate")) for w in edge)
    assert not any(w.matches(topics.command("s", "other", "gate")) for w in edge)
    assert any(w.matches(topics.sync("s", "vehicles")) for w in edge)


def test_channel_values_are_stable() -> None:
    # Integrators hard-code these strings; changing one is a breaking change.
    assert [c.value for c in Channel] == ["available", "events", "state", "cmd", "sync"]
