"""The console's pure parts: lock-out, roles, car-park views, workflow helpers, charts,
visitor passes (the QR code decoded by OpenCV), event views and labels."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest
import segno

from hub.console.carpark import (
    SlotReading,
    latest_states,
    occupancy_series,
    slot_views,
    zone_counts,
)
from hub.console.charts import Series, line_chart
from hub.console.events import event_view
from hub.console.i18n import LABELS, LANG, label, plain
from hub.console.lockout import ACCOUNT, PAIR, LockoutPolicy, backoff_until, locked_until
from hub.console.passes import PassError, check_pass, qr_payload, qr_svg
from hub.console.roles import ConsoleRole, ConsoleUser, Permission, ScopeError, sites_for
from hub.console.supervision_view import allowed_actions, deadline_state
from hub.console.users import hash_password
from hub.supervision.workflow import Role
from models.site import load_site_config

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


# ---------------------------------------------------------------------- lock-out


def test_five_failures_within_the_window_lock_for_fifteen_minutes() -> None:
    fails = [T0 + i * MIN for i in range(5)]
    assert locked_until(fails[:4], T0 + 5 * MIN) is None
    assert locked_until(fails, T0 + 5 * MIN) == fails[-1] + timedelta(minutes=15)
    assert locked_until(list(reversed(fails)), T0 + 5 * MIN) == fails[-1] + timedelta(minutes=15)
    assert locked_until(fails, fails[-1] + timedelta(minutes=15)) is None  # lock over


def test_failures_spread_out_do_not_lock() -> None:
    fails = [T0 + i * 4 * MIN for i in range(5)]  # 16 minutes from first to fifth
    assert locked_until(fails, fails[-1]) is None
    # but the policy is configurable
    wide = LockoutPolicy(max_failures=5, window=timedelta(minutes=20))
    assert locked_until(fails, fails[-1], wide) == fails[-1] + wide.lock_for


def test_a_new_run_after_an_expired_lock_locks_again() -> None:
    first = [T0 + i * MIN for i in range(5)]
    later = [T0 + timedelta(minutes=40) + i * MIN for i in range(5)]
    assert locked_until(first + later[:4], later[3]) is None
    assert locked_until(first + later, later[4]) == later[4] + timedelta(minutes=15)


# ---------------------------------------------------------------------- roles


def test_who_sees_which_communities() -> None:
    companies = {"lakeside": "greenleaf", "hillside": "bluesky", "riverside": "greenleaf"}
    assert sites_for(ConsoleRole.GUARD, "hillside", companies) == {"hillside"}
    assert sites_for(ConsoleRole.MANAGER, "greenleaf", companies) == {"lakeside", "riverside"}
    assert sites_for(ConsoleRole.REGULATOR, None, companies) is None
    assert sites_for(ConsoleRole.ADMIN, None, companies) is None
    with pytest.raises(ScopeError):
        sites_for(ConsoleRole.GUARD, "nowhere", companies)
    with pytest.raises(ScopeError):
        sites_for(ConsoleRole.MANAGER, "no-company", companies)


def test_permissions_and_workflow_roles() -> None:
    guard = ConsoleUser("g", ConsoleRole.GUARD, "lakeside", frozenset({"lakeside"}))
    regulator = ConsoleUser("r", ConsoleRole.REGULATOR, None, None)
    assert guard.can(Permission.GATE_COMMAND) and not guard.can(Permission.VIEW_AUDIT)
    assert not regulator.can(Permission.GATE_COMMAND) and not regulator.can(Permission.CREATE_PASS)
    assert regulator.can(Permission.CASE_WORKFLOW) and regulator.can(Permission.VIEW_AUDIT)
    assert guard.visible(["hillside", "lakeside"]) == ["lakeside"]
    assert regulator.visible(["hillside", "lakeside"]) == ["hillside", "lakeside"]
    assert guard.principal().role is Role.GUARD and guard.principal().sites == {"lakeside"}
    manager = ConsoleUser("m", ConsoleRole.MANAGER, "x", frozenset({"a"}))
    assert manager.principal().role is Role.COMPANY


def test_workflow_steps_offered_per_state_and_role() -> None:
    assert allowed_actions("new", Role.GUARD) == []
    assert set(allowed_actions("new", Role.REGULATOR)) == {"triage", "dismiss", "escalate"}
    assert allowed_actions("assigned", Role.GUARD) == ["rectify"]
    assert set(allowed_actions("rectified", Role.REGULATOR)) == {"verify", "reject"}
    assert allowed_actions("closed", Role.ADMIN) == []
    assert allowed_actions("not-a-state", Role.ADMIN) == []


def test_deadlines_are_flagged() -> None:
    now = T0
    assert deadline_state(now - MIN, "assigned", now) == "overdue"
    assert deadline_state(now + timedelta(hours=5), "assigned", now) == "due_soon"
    assert deadline_state(now + timedelta(days=3), "assigned", now) == ""
    assert deadline_state(now - MIN, "closed", now) == ""  # done is never late
    assert deadline_state(None, "overdue", now) == "overdue"
    assert deadline_state(None, "new", now) == ""


# ---------------------------------------------------------------------- car park


def test_slot_views_and_zone_counts_from_the_example_site() -> None:
    park = load_site_config().car_park
    assert park is not None
    readings = [
        SlotReading("A01", True, T0, "浙HA1234"),
        SlotReading("A01", False, T0 - MIN),  # older: ignored
        SlotReading("A09", True, T0),
        SlotReading("F01", True, T0),
        SlotReading("B01", False, T0),
    ]
    states = latest_states(readings)
    assert states["A01"].occupied and states["A01"].plate == "浙HA1234"
    views = {v.id: v for v in slot_views(park, states)}
    assert views["A01"].occupied is True and views["B01"].occupied is False
    assert views["B02"].occupied is None and views["A09"].reserved_for == ("浙HA1234",)
    assert views["A01"].points.startswith("60,90 164,90")
    assert 52 < views["A01"].label_x < 164 and 90 < views["A01"].label_y < 280
    counts = {z.zone: z for z in zone_counts(park, states)}
    assert (counts["general"].occupied, counts["general"].unknown, counts["general"].slots) == (
        1,
        14,
        16,
    )
    assert counts["reserved"].occupied == 1 and counts["fire-lane"].occupied == 1
    assert counts["no-parking"].unknown == 1


def test_occupancy_series_replays_changes_and_ends_now() -> None:
    before = {"A01": SlotReading("A01", True, T0 - timedelta(hours=3))}
    changes = [
        SlotReading("A02", True, T0 + 10 * MIN),
        SlotReading("A03", True, T0 + 20 * MIN),
        SlotReading("A02", False, T0 + 50 * MIN),
        SlotReading("A04", True, T0 + 5 * timedelta(hours=1)),  # after the end: ignored
    ]
    end = T0 + 52 * MIN
    series = occupancy_series(before, changes, T0, end, timedelta(minutes=15))
    assert [t for t, _ in series] == [T0, T0 + 15 * MIN, T0 + 30 * MIN, T0 + 45 * MIN, end]
    assert [v for _, v in series] == [1, 2, 3, 3, 2]


def test_occupancy_series_counts_a_change_from_before_the_start_stored_after_it() -> None:
    # stored just after midnight, but the edge says the slot changed before it
    late = [SlotReading("A01", True, T0 - 5 * MIN), SlotReading("A02", True, T0 - 2 * MIN)]
    stale = {"A01": SlotReading("A01", False, T0 - timedelta(hours=1))}
    series = occupancy_series(stale, late, T0, T0 + 20 * MIN, timedelta(minutes=15))
    assert [v for _, v in series] == [2, 2, 2]


# ---------------------------------------------------------------------- charts


def test_line_chart_is_escaped_svg_with_a_point_per_value() -> None:
    svg = line_chart(
        ["2026H1", "2026H2", "<x>"],
        [Series("绿叶 <b>", [90.0, None, 80.5]), Series("蓝天", [70.0, 75.0, 72.0])],
        y_max=100,
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<circle") == 5  # None is skipped
    assert "&lt;b&gt;" in svg and "<b>" not in svg and "&lt;x&gt;" in svg
    assert svg.count("<polyline") == 2


# ---------------------------------------------------------------------- passes


def test_pass_form_is_checked() -> None:
    new = check_pass("lakeside", "浙a12345", " 3-1-501 ", 4, T0)
    assert new.plate == "浙A12345" and new.host_unit == "3-1-501"
    assert new.valid_until - new.valid_from == timedelta(hours=4)
    for plate, unit, hours in [("ABC", "1", 4), ("浙A12345", "", 4), ("浙A12345", "1", 0),
                               ("浙A12345", "1", 24 * 8)]:  # fmt: skip
        with pytest.raises(PassError):
            check_pass("lakeside", plate, unit, hours, T0)


def test_the_qr_code_decodes_to_the_pass() -> None:
    text = qr_payload("lakeside", "C1A2B3C4", "tok-EN_abc123")
    assert qr_svg(text).startswith("<svg")
    # render the same code to pixels and read it back with OpenCV's QR decoder
    matrix = np.array(list(segno.make(text, error="m").matrix), dtype=np.uint8)
    img = np.where(np.kron(matrix, np.ones((8, 8), np.uint8)) > 0, 0, 255).astype(np.uint8)
    img = cv2.copyMakeBorder(img, 32, 32, 32, 32, cv2.BORDER_CONSTANT, value=255)
    decoded, _, _ = cv2.QRCodeDetector().detectAndDecode(img)
    assert decoded == text


def test_passwords_are_hashed_with_argon2id() -> None:
    encoded = hash_password("correct horse battery")
    assert encoded.startswith("$argon2id$") and "correct" not in encoded
    assert hash_password("correct horse battery") != encoded  # salted


# ---------------------------------------------------------------------- events and labels


def _row(kind: str, payload: dict, **extra) -> dict:
    return {"id": "e1", "seq": 7, "site": "lakeside", "device": "edge-north", "kind": kind,
            "ts": T0.isoformat(), "received_at": T0.isoformat(), "gate": payload.get("gate"),
            "subject": None, "decision": None, "payload": json.dumps(payload), **extra}  # fmt: skip


def test_event_views() -> None:
    plate = {"gate": "g", "plate": "浙HA1234", "color": "blue", "confidence": 0.9, "frames": 3}
    read = event_view(_row("plate_read", {**plate, "crop_jpeg_b64": "AA"}))
    assert read["thumb"] == "/api/events/e1/plate.jpg" and "浙HA1234" in read["summary"]
    bare = event_view(_row("plate_read", plate))
    assert bare["thumb"] is None
    decision = {"gate": "g", "credential": "plate", "subject": "浙HX9999", "decision": "refuse"}
    refused = event_view(
        _row("gate_decision", {**decision, "reason": "blacklisted", "source_event": "r9"})
    )
    assert refused["level"] == "warning" and refused["thumb"] == "/api/events/r9/plate.jpg"
    assert refused["summary"] == "浙HX9999 → 拒绝 (黑名单, 车牌)"
    face = event_view(_row("gate_decision", {"gate": "g", "credential": "face", "subject": "p1",
                                             "decision": "open", "reason": "resident",
                                             "source_event": "f1"}))  # fmt: skip
    assert face["thumb"] is None and face["level"] == "info"  # no face photos on the live page
    alarm = event_view(_row("alarm", {"type": "door_forced", "severity": "critical"}))
    assert alarm["level"] == "critical" and alarm["kind_label"] == "报警"
    assert alarm["summary"] == "强行开门 [严重]"  # codes in words, not door_forced
    state = event_view(_row("gate_state", {"gate": "g", "position": "open", "cause": "remote"}))
    assert state["summary"] == "开启 (远程开闸)" and state["position"] == "open"
    token = LANG.set("en")
    try:
        assert (
            event_view(_row("alarm", {"type": "door_forced", "severity": "critical"}))["summary"]
            == "Door forced [critical]"
        )
    finally:
        LANG.reset(token)


def test_every_label_is_bilingual() -> None:
    for key, (zh, en) in LABELS.items():
        assert zh and en, key
        assert key.startswith("lang.") or any("\u4e00" <= ch <= "\u9fff" for ch in zh), key
    assert plain("live") == "实时" and str(label("live")) == '<span class="zh">实时</span>'
    token = LANG.set("en")
    try:
        assert plain("live") == "Live" and str(label("live")) == '<span class="en">Live</span>'
        assert plain("vtype.fire_lane_parking") == "Parking in the fire lane"
        assert plain("vtype.no_such_type") == "vtype.no_such_type"  # unknown: as is
    finally:
        LANG.reset(token)
    assert plain("no-such-key") == "no-such-key"


T0H = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def test_lockout_rules_pure() -> None:
    fails = [T0H + timedelta(seconds=10 * i) for i in range(5)]
    assert locked_until(fails, fails[-1]) == fails[-1] + PAIR.lock_for
    assert backoff_until(fails, fails[-1]) is None  # 5 failures: no back-off yet
    many = [T0H + timedelta(seconds=i) for i in range(ACCOUNT.after + 3)]
    assert backoff_until(many, many[-1]) == many[-1] + ACCOUNT.first_delay * 8
    assert backoff_until(many, many[-1] + ACCOUNT.first_delay * 8) is None
    endless = [T0H + timedelta(seconds=i) for i in range(200)]
    assert backoff_until(endless, endless[-1]) == endless[-1] + ACCOUNT.max_delay
    old = [T0H - ACCOUNT.window - timedelta(minutes=1)] * 50  # forgotten after the window
    assert backoff_until(old, T0H) is None
