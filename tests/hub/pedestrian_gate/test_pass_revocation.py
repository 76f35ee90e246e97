"""Revoked visitor QR passes: the hub's face store keeps the revocation, the sealed gate
directory carries it, and the edge refuses the pass from that bundle on (also from its cache
after a restart); a pass never revoked still opens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from edge.interfaces import QrAttempt
from edge.pedestrian_gate.rules import decide_pedestrian
from edge.pedestrian_gate.sync import FaceSync
from hub.pedestrian_gate.store import FaceStore, StoreError
from hub.pedestrian_gate.sync import _sealed_message
from models.face_bundle import FaceCipher, generate_key, parse_key, pass_key
from models.messages import MAX_SYNC_BYTES, DecisionReason, parse_message
from models.passes import issue_pass

SITE = "lakeside"
NOW = datetime.now(UTC)


def _pass(key: bytes, pass_id: str) -> QrAttempt:
    token = issue_pass(
        pass_key(key),
        site=SITE,
        pass_id=pass_id,
        valid_from=NOW - timedelta(minutes=1),
        valid_until=NOW + timedelta(hours=4),
    )
    return QrAttempt(token)


def _published(db: Path, key: bytes):
    return parse_message(_sealed_message(db, key, SITE).to_json(), max_bytes=MAX_SYNC_BYTES)


async def test_a_revoked_pass_is_refused_at_the_gate(tmp_path: Path) -> None:
    key = parse_key(generate_key())
    db = tmp_path / "hub.db"
    with FaceStore(db, FaceCipher(key)) as store:
        store.enroll(
            site=SITE, person="r1", role="resident",
            encodings=[np.zeros(128, np.float32)], consent_by="r1", purpose="gate access",
            expires_at=NOW + timedelta(days=1),
        )  # fmt: skip
    sync = FaceSync(SITE, tmp_path / "edge", FaceCipher(key), key)
    # what the hub publishes (through the real export path), read back from the wire
    await sync.on_sync(
        parse_message(_sealed_message(db, key, SITE).to_json(), max_bytes=MAX_SYNC_BYTES)
    )
    assert decide_pedestrian(_pass(key, "V-1"), sync.state.directory, now=NOW).opens

    with FaceStore(db, None) as store:
        version = store.revoke_pass(site=SITE, pass_id="V-1", operator="li", reason="lost phone")
        assert store.revoke_pass(site=SITE, pass_id="V-1", operator="li", reason="again") == version
        with pytest.raises(StoreError, match="reason"):
            store.revoke_pass(site=SITE, pass_id="V-2", operator="li", reason=" ")
    await sync.on_sync(
        parse_message(_sealed_message(db, key, SITE).to_json(), max_bytes=MAX_SYNC_BYTES)
    )
    assert sync.state.version == version
    refused = decide_pedestrian(_pass(key, "V-1"), sync.state.directory, now=NOW)
    assert not refused.opens and refused.reason is DecisionReason.UNKNOWN and refused.suspicious
    assert decide_pedestrian(_pass(key, "V-2"), sync.state.directory, now=NOW).opens

    restarted = FaceSync(SITE, tmp_path / "edge", FaceCipher(key), key)
    assert restarted.load_cached()
    assert not decide_pedestrian(_pass(key, "V-1"), restarted.state.directory, now=NOW).opens
