"""The MQTT topic tree, as small frozen types with a pure builder and parser.

    anju/{site}/{device}/available          retained  device_status (LWT "offline")
    anju/{site}/{device}/events/{kind}      QoS 1     edge -> hub events
    anju/{site}/{device}/state/{kind}       QoS 1, retained  last known gate/slot state
    anju/{site}/{device}/cmd/{name}         QoS 1     hub -> edge commands
    anju/{site}/sync/{name}                 QoS 1, retained  hub -> edges lists (vehicles, faces)

See docs/mqtt.md for QoS and retain rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

ROOT = "anju"
SYNC = "sync"
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Channel(StrEnum):
    AVAILABLE = "available"
    EVENTS = "events"
    STATE = "state"
    CMD = "cmd"
    SYNC = "sync"


class TopicError(ValueError):
    """A topic string or segment that does not belong to the Anju tree."""


def check_segment(value: str, what: str) -> str:
    """Segments are plain identifiers: no '/', '+', '#', spaces or empty strings."""
    if not _SEGMENT.match(value):
        raise TopicError(
            f"{what} {value!r} must be 1-64 characters of A-Z a-z 0-9 _ . - "
            "and start with a letter or digit"
        )
    return value


@dataclass(frozen=True, slots=True)
class Topic:
    """One concrete topic. ``device`` is None only for site-wide sync topics."""

    site: str
    channel: Channel
    device: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        check_segment(self.site, "site")
        if self.channel is Channel.SYNC:
            if self.device is not None:
                raise TopicError("sync topics are site-wide and have no device")
        else:
            if self.device is None:
                raise TopicError(f"{self.channel} topics need a device")
            check_segment(self.device, "device")
            if self.device == SYNC:
                raise TopicError("'sync' is reserved and cannot be a device id")
        needs_name = self.channel is not Channel.AVAILABLE
        if needs_name and self.name is None:
            raise TopicError(f"{self.channel} topics need a name")
        if not needs_name and self.name is not None:
            raise TopicError("the available topic has no name")
        if self.name is not None:
            check_segment(self.name, "name")

    def __str__(self) -> str:
        if self.channel is Channel.SYNC:
            return f"{ROOT}/{self.site}/{SYNC}/{self.name}"
        if self.channel is Channel.AVAILABLE:
            return f"{ROOT}/{self.site}/{self.device}/{Channel.AVAILABLE}"
        return f"{ROOT}/{self.site}/{self.device}/{self.channel}/{self.name}"


def available(site: str, device: str) -> Topic:
    return Topic(site, Channel.AVAILABLE, device)


def event(site: str, device: str, kind: str) -> Topic:
    return Topic(site, Channel.EVENTS, device, kind)


def state(site: str, device: str, kind: str) -> Topic:
    return Topic(site, Channel.STATE, device, kind)


def command(site: str, device: str, name: str) -> Topic:
    return Topic(site, Channel.CMD, device, name)


def sync(site: str, name: str) -> Topic:
    return Topic(site, Channel.SYNC, None, name)


def parse_topic(text: str) -> Topic:
    """Parse a topic string; raises TopicError with the reason when it is not ours."""
    parts = text.split("/")
    if len(parts) < 3 or parts[0] != ROOT:
        raise TopicError(f"topic {text!r} is not under {ROOT}/")
    site = parts[1]
    if parts[2] == SYNC:
        if len(parts) != 4:
            raise TopicError(f"sync topic {text!r} must be {ROOT}/SITE/sync/NAME")
        return Topic(site, Channel.SYNC, None, parts[3])
    device = parts[2]
    if len(parts) == 4 and parts[3] == Channel.AVAILABLE:
        return Topic(site, Channel.AVAILABLE, device)
    if len(parts) == 5 and parts[3] in (Channel.EVENTS, Channel.STATE, Channel.CMD):
        return Topic(site, Channel(parts[3]), device, parts[4])
    raise TopicError(f"topic {text!r} does not match the Anju topic tree")


@dataclass(frozen=True, slots=True)
class Wildcard:
    """A subscription filter; ``matches`` follows MQTT's + and # rules."""

    value: str

    def matches(self, topic: str | Topic) -> bool:
        levels = str(topic).split("/")
        pattern = self.value.split("/")
        for i, part in enumerate(pattern):
            if part == "#":
                return True
            if i >= len(levels):
                return False
            if part != "+" and part != levels[i]:
                return False
        return len(levels) == len(pattern)


def hub_subscriptions(site: str = "+") -> list[Wildcard]:
    """What the hub listens to: every device's events, states and availability."""
    return [
        Wildcard(f"{ROOT}/{site}/+/{Channel.EVENTS}/+"),
        Wildcard(f"{ROOT}/{site}/+/{Channel.STATE}/+"),
        Wildcard(f"{ROOT}/{site}/+/{Channel.AVAILABLE}"),
    ]


def edge_subscriptions(site: str, device: str) -> list[Wildcard]:
    """What an edge listens to: its own commands and the site's sync lists."""
    return [
        Wildcard(f"{ROOT}/{check_segment(site, 'site')}/{check_segment(device, 'device')}/cmd/+"),
        Wildcard(f"{ROOT}/{site}/{SYNC}/+"),
    ]
