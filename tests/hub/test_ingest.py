"""The MQTT callback side of the hub, without a broker: the rate-limited warning, and a
message hook that never raises."""

from __future__ import annotations

import asyncio
import logging

from hub.ingest import Ingest, RateLimitedWarning
from hub.validate import Accepted, Rejected, Validator
from tests.support import heartbeat, lakeside, topic_for
from transport import Received


def test_rate_limited_warning_counts_what_it_held_back(caplog) -> None:
    logger = logging.getLogger("test.hub.ratelimit")
    warning = RateLimitedWarning(logger, interval_s=60)
    with caplog.at_level(logging.WARNING, logger="test.hub.ratelimit"):
        assert warning.warn("bad %s", 1)
        assert not any(warning.warn("bad %s", i) for i in range(5))
    assert [r.getMessage() for r in caplog.records] == ["bad 1"]
    warning._last -= 120  # the interval has passed
    with caplog.at_level(logging.WARNING, logger="test.hub.ratelimit"):
        assert warning.warn("bad %s", 7)
    assert caplog.records[-1].getMessage() == "bad 7 (5 similar warnings suppressed)"


def _received(topic: bytes, payload: bytes, mid: int) -> Received:
    return Received(topic, payload, qos=1, retain=False, mid=mid)


async def test_on_message_never_raises_and_hands_everything_over() -> None:
    delivered: list = []
    ingest = Ingest(Validator([lakeside()]), asyncio.get_running_loop(), delivered.append)
    good = heartbeat()
    ingest.on_message(_received(topic_for(good).encode(), good.to_json(), 1))
    ingest.on_message(_received(b"anju/\xff\xfe/x", b"{}", 2))  # not UTF-8
    ingest.on_message(_received(topic_for(good).encode(), b"\x00", 3))
    await asyncio.sleep(0.01)  # the hand-over is call_soon_threadsafe
    assert [type(d) for d in delivered] == [Accepted, Rejected, Rejected]
    assert [d.mid for d in delivered] == [1, 2, 3]
    assert delivered[1].reason.startswith("internal error: UnicodeDecodeError")
    assert ingest.received == 3
