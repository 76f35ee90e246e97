"""Reject accounting: every rejected message is counted with its reason; a few are kept whole.

Each reject is counted in ``reject_counts`` per (site, device, reason, minute), so the sum of
the counts always equals the number of messages rejected, however many a device sprays. A
reject is also kept in full (topic, reason text, payload head) in ``rejected``, but only the
first ``per_key`` per (site, device, reason) and at most ``per_window`` in all per window:
one broken device cannot fill the disk, and every device's first samples of every kind of
fault are there to diagnose.

``reason`` here is a short code (below) derived from the validator's reason text; the full
text is kept in the sample rows. Site and device come from the topic (with broker ACLs a
device can only publish in its own branch, so the topic says who sent it).

Pure: no I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hub.validate import Rejected
from models.topics import TopicError, check_segment

UNKNOWN = "?"  # a site or device that cannot be told from the topic

# (reason prefix, code), first match wins; the validator's texts (hub/validate.py).
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("topic names kind", "topic_mismatch"),
    ("topic:", "bad_topic"),
    ("payload of ", "oversize"),
    ("envelope site", "topic_mismatch"),
    ("envelope device", "topic_mismatch"),
    ("the hub does not accept messages on", "wrong_channel"),
    ("timestamp ", "clock_skew"),
    ("car-park snapshot from", "wrong_source"),
    ("kind ", "wrong_channel"),
    ("unknown site", "unknown_device"),
    ("device ", "unknown_device"),
    ("gate ", "unknown_device"),
    ("internal", "internal"),
)
REASON_CODES = (
    "bad_topic",
    "oversize",
    "not_json",
    "unknown_kind",
    "invalid_envelope",
    "invalid_payload",
    "topic_mismatch",
    "wrong_channel",
    "unknown_device",
    "clock_skew",
    "wrong_source",
    "internal",
    "other",
)


def reason_code(reason: str) -> str:
    """The short, bounded code of a reject reason (one of REASON_CODES)."""
    if reason.startswith("payload: "):
        return _payload_code(reason.removeprefix("payload: "))
    for prefix, code in _PREFIXES:
        if reason.startswith(prefix):
            return code
    return "other"


def _payload_code(detail: str) -> str:
    where, _, message = detail.partition(": ")
    if "Invalid JSON" in message or "EOF while parsing" in message:
        return "not_json"
    if "discriminator" in message or ("tag" in message and "kind" in message):
        return "unknown_kind"
    if ".payload" in where:
        return "invalid_payload"
    return "invalid_envelope"


def minute_of(when: datetime) -> str:
    """The UTC minute a reject is counted in, sortable text: ``2026-11-27T08:03``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


RejectKey = tuple[str, str, str]  # site, device, reason code
CountKey = tuple[str, str, str, str]  # site, device, reason code, minute


@dataclass
class RejectAccounting:
    """Who sent a reject and why. ``known``: the configured (site, device) pairs; a name not
    configured is still used (it says who is misconfigured) up to ``max_unknown`` distinct
    pairs, then counted as ``?`` so random topics cannot grow the table without bound."""

    known: frozenset[tuple[str, str]]
    max_unknown: int = 200
    _unknown: set[tuple[str, str]] = field(default_factory=set)

    def key(self, item: Rejected) -> RejectKey:
        site, device = self._sender(item.topic)
        return site, device, reason_code(item.reason)

    def counts(self, items: Iterable[Rejected]) -> Counter[CountKey]:
        out: Counter[CountKey] = Counter()
        for item in items:
            site, device, code = self.key(item)
            out[(site, device, code, minute_of(item.received_at))] += 1
        return out

    def _sender(self, topic: str) -> tuple[str, str]:
        parts = topic.split("/")
        if len(parts) < 3 or parts[0] != "anju":
            return UNKNOWN, UNKNOWN
        site, device = parts[1], parts[2]
        try:
            check_segment(site, "site")
            check_segment(device, "device")
        except TopicError:
            return UNKNOWN, UNKNOWN
        pair = (site, device)
        if pair in self.known or pair in self._unknown:
            return pair
        if len(self._unknown) < self.max_unknown:
            self._unknown.add(pair)
            return pair
        return UNKNOWN, UNKNOWN


class RejectBudget:
    """Which rejects are stored in full: the first ``per_key`` per (site, device, reason)
    in each window of ``window_s``, and at most ``per_window`` in all."""

    def __init__(self, per_key: int = 20, per_window: int = 600, window_s: float = 60.0) -> None:
        self.per_key = per_key
        self.per_window = per_window
        self.window_s = window_s
        self._window_start = float("-inf")
        self._used: Counter[RejectKey] = Counter()
        self._total = 0

    def take(self, key: RejectKey, now: float) -> bool:
        if now - self._window_start >= self.window_s:
            self._window_start, self._total = now, 0
            self._used.clear()
        if self._total >= self.per_window or self._used[key] >= self.per_key:
            return False
        self._used[key] += 1
        self._total += 1
        return True

    def select(
        self, items: Sequence[Rejected], accounting: RejectAccounting, now: float
    ) -> list[Rejected]:
        return [item for item in items if self.take(accounting.key(item), now)]
