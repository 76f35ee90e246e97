"""The console's API on a real hub, a real mosquitto and real HTTP (uvicorn): login and
sessions, CSRF, lock-out, role and community checks on every endpoint, live events."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import cv2
import httpx
import numpy as np
import pytest
import pytest_asyncio

from edge.pedestrian_gate.pipeline import face_evidence
from hub.console.roles import ConsoleRole
from hub.console.users import LoginError, UserStore
from hub.service import Hub
from models.messages import Kind
from recognition.face.detector import load_rgb
from simulators.faces import FACES_DIR
from tests.browser.support import (
    FAST_ARGON2,
    PASSWORDS,
    Console,
    SimEdge,
    add_users,
    now,
    sse_events,
    start_console,
    two_sites,
    until,
)
from tests.mosquitto import MosquittoBroker

# One hub, broker and console for the module (argon2 hashing and start-up cost seconds);
# each test uses its own events, plates and users.
pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

GET_ENDPOINTS = [
    "/api/me",
    "/api/events",
    "/api/events/stream",
    "/api/events/x/plate.jpg",
    "/api/events/x/face.jpg",
    "/api/devices",
    "/api/gates",
    "/api/commands/x",
    "/api/carpark",
    "/api/violations",
    "/api/violations/x",
    "/api/ratings",
    "/api/lists",
    "/api/audit",
]
POST_ENDPOINTS = [
    ("/api/gates/lakeside/north-vehicle/command", {"action": "open", "reason": "test open"}),
    ("/api/violations/x/act", {"action": "triage"}),
    ("/api/passes", {"site": "lakeside", "plate": "浙HK2020", "host_unit": "1-1"}),
]
PAGES = ["/live", "/carpark", "/violations", "/supervision", "/lists", "/audit", "/users"]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def console(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Console]:
    tmp = tmp_path_factory.mktemp("console-api")
    (tmp / "broker").mkdir()
    mosquitto = MosquittoBroker(tmp / "broker")
    mosquitto.start()
    sites = list(two_sites())
    hub = Hub(sites, broker_url=mosquitto.url, data_dir=tmp / "hub")
    await hub.start()
    await add_users(hub.store, sites)
    c = await start_console(hub, sites, timeout_s=1.0)
    c.edge = SimEdge(mosquitto.url)
    yield c
    await c.close()
    await hub.stop()
    mosquitto.stop()


async def stored(console: Console, event_id: str) -> None:
    async def found() -> bool:
        rows = await console.hub.store.events(limit=1000)
        return any(r["id"] == event_id for r in rows)

    await until(found, what=f"event {event_id} stored")


async def test_unauthenticated_requests_are_refused(console: Console) -> None:
    c = console.client()
    for path in GET_ENDPOINTS:
        r = await c.get(path)
        assert r.status_code == 401, path
    for path, body in POST_ENDPOINTS:
        r = await c.post(path, json=body)
        assert r.status_code == 401, path
    for path in PAGES:
        r = await c.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path
    assert (await c.get("/reports/2026H2.html")).status_code == 303
    # a made-up session cookie is no session
    c.cookies.set("anju_session", "forged-token")
    assert (await c.get("/api/me")).status_code == 401
    c.cookies.clear()


async def test_login_sets_a_hardened_cookie_and_logout_ends_the_session(console: Console) -> None:
    c = console.client()
    form = await c.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    r = await c.post(
        "/login", data={"username": "guard-a", "password": PASSWORDS["guard-a"], "csrf_token": csrf}
    )
    assert r.status_code == 303
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("anju_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert (await c.get("/api/me")).json()["role"] == "guard"
    # the session token is stored only as a hash
    token = c.cookies.get("anju_session")
    async with console.hub.store.reader.execute("SELECT * FROM console_sessions") as cur:
        rows = [tuple(row) for row in await cur.fetchall()]
    assert rows and not any(token in row for row in rows)  # only its SHA-256 is stored
    page = await c.get("/live")
    token_csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    r = await c.post("/logout", data={"csrf_token": token_csrf})
    assert r.status_code == 303
    c.cookies.set("anju_session", token)  # replaying the old cookie does not work
    assert (await c.get("/api/me")).status_code == 401
    actions = [
        a["action"] for a in await console.hub.store.audit_log(target_prefix="console/user/guard-a")
    ]
    assert "console.login" in actions and "console.logout" in actions


async def test_secure_cookie_flag_when_served_over_https(console: Console) -> None:
    secure = await start_console(console.hub, console.sites, secure=True)
    try:
        c = secure.client()
        form = await c.get("/login")
        assert "Secure" in form.headers["set-cookie"]
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
        c.cookies.set("anju_login_csrf", csrf)  # httpx keeps no Secure cookie over http
        r = await c.post(
            "/login", data={"username": "admin", "password": PASSWORDS["admin"], "csrf_token": csrf}
        )
        assert r.status_code == 303
        assert "Secure" in r.headers["set-cookie"]
    finally:
        await secure.close()


async def test_csrf_is_required_on_every_state_change(console: Console) -> None:
    c = await console.login("admin")
    good = c.headers.pop("X-CSRF-Token")
    for path, body in POST_ENDPOINTS:
        assert (await c.post(path, json=body)).status_code == 403, path
        r = await c.post(path, json=body, headers={"X-CSRF-Token": "wrong" + good})
        assert r.status_code == 403, path
    # logout by a cross-site form without the token does nothing
    assert (await c.post("/logout")).status_code == 403
    assert (await c.get("/api/me")).status_code == 200
    # the login form needs its double-submit token too
    anon = console.client()
    r = await anon.post("/login", data={"username": "admin", "password": PASSWORDS["admin"]})
    assert r.status_code == 403


async def test_lockout_after_five_failures(console: Console) -> None:
    users = await UserStore.open(
        console.hub.store, {"lakeside": "greenleaf-pm"}, hasher=FAST_ARGON2
    )
    await users.set_user("locky", "locky-password", ConsoleRole.GUARD, "lakeside", actor="test")
    c = console.client()

    async def attempt(password: str) -> httpx.Response:
        form = await c.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
        return await c.post(
            "/login", data={"username": "locky", "password": password, "csrf_token": csrf}
        )

    for n in range(4):
        assert (await attempt(f"wrong-{n}")).status_code == 401
    assert (await attempt("wrong-5")).status_code == 429  # the fifth locks
    r = await attempt("locky-password")  # now even the right password is refused
    assert r.status_code == 429 and "locked" in r.text
    # another user is not affected
    assert (await console.login("guard-a")).cookies.get("anju_session")
    actions = [
        a["action"] for a in await console.hub.store.audit_log(target_prefix="console/user/locky")
    ]
    assert actions.count("console.login.failed") == 5 and "console.login.locked" in actions


async def test_a_guard_sees_only_their_community(console: Console) -> None:
    edge = console.edge
    assert edge is not None
    mine = edge.plate_read("lakeside", "浙HA1234")
    theirs = edge.plate_read("hillside", "浙HB5678")
    await stored(console, mine)
    await stored(console, theirs)
    a = await console.login("guard-a")
    me = (await a.get("/api/me")).json()
    assert [s["id"] for s in me["sites"]] == ["lakeside"]
    assert "gate_command" in me["permissions"] and "view_audit" not in me["permissions"]
    ids = {e["id"] for e in (await a.get("/api/events")).json()["events"]}
    assert mine in ids and theirs not in ids
    for path in ["/api/events", "/api/events/stream", "/api/devices", "/api/gates",
                 "/api/carpark", "/api/lists", "/api/violations",
                 "/live", "/carpark", "/violations", "/lists"]:  # fmt: skip
        path += "?site=hillside"
        assert (await a.get(path)).status_code == 403, path
    assert (await a.get(f"/api/events/{theirs}/plate.jpg")).status_code == 404
    crop = await a.get(f"/api/events/{mine}/plate.jpg")
    assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"
    assert crop.content[:2] == b"\xff\xd8"
    r = await a.post(
        "/api/gates/hillside/north-vehicle/command", json={"action": "open", "reason": "x" * 5}
    )
    assert r.status_code == 403
    r = await a.post(
        "/api/passes", json={"site": "hillside", "plate": "浙HK2020", "host_unit": "1"}
    )
    assert r.status_code == 403
    assert (await a.get("/api/audit")).status_code == 403
    assert (await a.get("/audit")).status_code == 403
    # the regulator sees both communities; the company manager only its own
    reg = await console.login("regulator")
    ids = {e["id"] for e in (await reg.get("/api/events")).json()["events"]}
    assert {mine, theirs} <= ids
    man = await console.login("manager-a")
    assert [s["id"] for s in (await man.get("/api/me")).json()["sites"]] == ["lakeside"]
    assert (await man.get("/api/gates?site=hillside")).status_code == 403


async def test_face_alarm_shows_its_face_crop_to_its_community_only(console: Console) -> None:
    edge = console.edge
    assert edge is not None
    face = cv2.cvtColor(load_rgb(FACES_DIR / "biden.jpg"), cv2.COLOR_RGB2BGR)
    crop = face_evidence(cv2.cvtColor(face[40:260, 60:260], cv2.COLOR_BGR2RGB))
    assert crop is not None and len(crop) < 20_000  # a thumbnail, not a photo
    alarm = edge.face_alarm("lakeside", crop)
    plain = edge.face_alarm("lakeside", None, alarm="unknown_face_repeated")
    purged = edge.face_alarm("lakeside", crop)
    for event in (alarm, plain, purged):
        await stored(console, event)
    await console.hub.store.ensure_retention_schema()  # what the retention job purges
    await console.hub.store.db.execute(
        "UPDATE events SET payload = json_remove(payload, '$.crop_jpeg_b64'),"
        " evidence_purged_at = ? WHERE id = ?",
        (now().isoformat(), purged),
    )
    await console.hub.store.db.commit()
    a = await console.login("guard-a")
    views = {e["id"]: e for e in (await a.get("/api/events?kind=alarm")).json()["events"]}
    assert views[alarm]["thumb"] == f"/api/events/{alarm}/face.jpg"
    assert views[plain]["thumb"] is None
    image = await a.get(f"/api/events/{alarm}/face.jpg")
    assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"
    decoded = cv2.imdecode(np.frombuffer(image.content, np.uint8), cv2.IMREAD_COLOR)
    assert max(decoded.shape[:2]) <= 160
    assert (await a.get(f"/api/events/{plain}/face.jpg")).status_code == 404
    gone = await a.get(f"/api/events/{purged}/face.jpg")
    assert gone.status_code == 410 and "retention" in gone.json()["detail"]
    assert (await a.get(f"/api/events/{alarm}/plate.jpg")).status_code == 404  # not a plate
    b = await console.login("guard-b")
    assert (await b.get(f"/api/events/{alarm}/face.jpg")).status_code == 404


async def test_live_stream_delivers_new_events(console: Console) -> None:
    a = await console.login("guard-a")
    edge = console.edge
    assert edge is not None
    received: list[dict] = []

    async def listen() -> None:
        async with a.stream("GET", "/api/events/stream?site=lakeside") as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            buffer = ""
            async for chunk in r.aiter_text():
                buffer += chunk
                received.extend(sse_events(buffer))
                buffer = buffer[buffer.rfind("\n\n") + 2 :] if "\n\n" in buffer else buffer
                if any(e["subject"] == "浙HC2468" for e in received):
                    return

    task = asyncio.create_task(listen())
    await asyncio.sleep(0.5)
    edge.plate_read("hillside", "浙HF13579")  # another community's: not delivered
    edge.plate_read("lakeside", "浙HC2468")
    await asyncio.wait_for(task, 10)
    views = [e for e in received if e["subject"] == "浙HC2468"]
    assert views[0]["kind"] == "plate_read" and views[0]["thumb"].endswith("/plate.jpg")
    assert all(e["site"] == "lakeside" for e in received)
    seq = views[0]["seq"]
    r = await a.get("/api/events?site=lakeside&kind=plate_read")
    assert max(e["seq"] for e in r.json()["events"]) == seq

    # a browser that reconnects sends Last-Event-ID and gets what it missed
    async def resumed() -> list[dict]:
        got: list[dict] = []
        headers = {"Last-Event-ID": str(seq - 1)}
        async with a.stream("GET", "/api/events/stream", headers=headers) as r:
            buffer = ""
            async for chunk in r.aiter_text():
                buffer += chunk
                got = sse_events(buffer)
                if got:
                    return got
        return got

    replay = await asyncio.wait_for(resumed(), 10)
    assert replay[0]["seq"] == seq and replay[0]["subject"] == "浙HC2468"


async def test_gate_command_roles_reason_and_timeout(console: Console) -> None:
    reg = await console.login("regulator")
    body = {"action": "open", "reason": "delivery van"}
    assert (
        await reg.post("/api/gates/lakeside/north-vehicle/command", json=body)
    ).status_code == 403
    a = await console.login("guard-a")
    short = {"action": "open", "reason": " "}
    assert (
        await a.post("/api/gates/lakeside/north-vehicle/command", json=short)
    ).status_code == 422
    assert (await a.post("/api/gates/lakeside/nowhere/command", json=body)).status_code == 404
    # no edge is listening: sent, then failed after the (1 s) timeout, all audited
    r = await a.post("/api/gates/lakeside/north-vehicle/command", json=body)
    out = r.json()
    assert r.status_code == 200 and out["status"] == "timeout" and out["display"] == "failed"
    row = (await a.get(f"/api/commands/{out['command_id']}")).json()
    assert row["operator"] == "guard-a" and row["reason"] == "delivery van"
    assert (
        await (await console.login("guard-b")).get(f"/api/commands/{out['command_id']}")
    ).status_code == 404
    trail = await console.hub.store.audit_log(target_prefix="gate/lakeside/north-vehicle")
    assert [t["action"] for t in trail] == ["gate_command.sent", "gate_command.timeout"]
    assert trail[0]["actor"] == "guard-a"
    gates = (await a.get("/api/gates")).json()["gates"]
    north = next(g for g in gates if g["id"] == "north-vehicle")
    assert north["last_command"]["status"] == "timeout" and north["device"] == "edge-north"


async def test_devices_and_car_park(console: Console) -> None:
    edge = console.edge
    assert edge is not None
    t0 = now() - timedelta(minutes=20)
    ids = [
        edge.slot("lakeside", "A01", True, t0, plate="浙HB5678"),
        edge.slot("lakeside", "A02", True, t0 + timedelta(minutes=1)),
        edge.slot("lakeside", "A02", False, t0 + timedelta(minutes=10)),
        edge.slot("lakeside", "F01", True, t0 + timedelta(minutes=2)),
    ]
    for event_id in ids:
        await stored(console, event_id)
    a = await console.login("guard-a")
    park = (await a.get("/api/carpark")).json()
    slots = {s["id"]: s for s in park["slots"]}
    assert slots["A01"]["occupied"] is True and slots["A01"]["plate"] == "浙HB5678"
    assert slots["A02"]["occupied"] is False and slots["B01"]["occupied"] is None
    zones = {z["zone"]: z for z in park["zones"]}
    assert zones["general"]["occupied"] == 1 and zones["fire-lane"]["occupied"] == 1
    assert zones["general"]["unknown"] == 14 and park["occupied"] == 2 and park["has_data"]
    assert park["series"][-1][1] == 2
    page = await a.get("/carpark")
    assert page.status_code == 200 and 'data-slot="A01"' in page.text and "<svg" in page.text
    devices = (await a.get("/api/devices")).json()["devices"]
    carpark = next(d for d in devices if d["device"] == "edge-carpark")
    assert carpark["state"] == "online" and carpark["tamper"] is False
    assert {d["site"] for d in devices} == {"lakeside"}


async def test_violation_workflow_through_the_console(console: Console) -> None:
    edge = console.edge
    assert edge is not None
    read = edge.plate_read("lakeside", "浙HX9999")
    decision = edge.publish(
        Kind.GATE_DECISION, "lakeside", "edge-north",
        {"gate": "north-vehicle", "credential": "plate", "subject": "浙HX9999",
         "decision": "refuse", "reason": "blacklisted", "source_event": read},
    )  # fmt: skip
    await stored(console, decision)
    await until(lambda: console.hub.store.violations(type="blacklisted_vehicle"), what="violation")
    a = await console.login("guard-a")
    cases = (await a.get("/api/violations")).json()["violations"]
    case = next(c for c in cases if c["type"] == "blacklisted_vehicle")
    assert case["status"] == "new"
    vid = case["id"]
    assert (await (await console.login("guard-b")).get(f"/api/violations/{vid}")).status_code == 404
    # a guard may not triage: that is the regulator's
    r = await a.post(
        f"/api/violations/{vid}/act", json={"action": "triage", "decision": "order_fix"}
    )
    assert r.status_code == 403
    reg = await console.login("regulator")
    deadline = (now() + timedelta(hours=6)).isoformat()
    r = await reg.post(
        f"/api/violations/{vid}/act",
        json={"action": "triage", "decision": "order_fix", "deadline": deadline, "note": "fix it"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["violation"]["status"] == "assigned"
    queue = (await a.get("/api/violations")).json()["violations"]
    assert next(c for c in queue if c["id"] == vid)["deadline_state"] == "due_soon"
    r = await a.post(
        f"/api/violations/{vid}/act", json={"action": "rectify", "note": "barrier fixed"}
    )
    assert r.status_code == 200 and r.json()["violation"]["status"] == "rectified"
    r = await a.post(f"/api/violations/{vid}/act", json={"action": "rectify"})
    assert r.status_code == 409  # not from 'rectified'
    detail = (await a.get(f"/api/violations/{vid}")).json()
    evidence = {e["kind"]: e for e in detail["evidence"]}
    assert evidence["gate_decision"]["thumb"] == f"/api/events/{read}/plate.jpg"
    assert evidence["plate_read"]["id"] == read
    actors = {h["actor"] for h in detail["history"]}
    assert {"regulator", "guard-a"} <= actors
    page = await a.get(f"/violations/{vid}")
    assert page.status_code == 200 and "浙HX9999" in page.text
    assert "dl-due_soon" not in (await a.get("/violations")).text  # rectified: no longer late


async def test_visitor_pass_with_qr_and_lists(console: Console) -> None:
    a = await console.login("guard-a")
    before = await console.hub.store.sync_list("lakeside", "vehicles")
    r = await a.post(
        "/api/passes",
        json={"site": "lakeside", "plate": "浙A12345", "host_unit": "3-1-501", "hours": 2},
    )
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["qr_svg"].startswith("<svg") and p["qr_text"].startswith(
        f"anju-pass:lakeside:{p['id']}:"
    )
    assert "token" not in p and p["created_by"] == "guard-a"
    # The pass reaches the gates: the synced vehicle list got a new version with it.
    after = await console.hub.store.sync_list("lakeside", "vehicles")
    assert before is not None and after is not None
    assert p["list_version"] == after["version"] > before["version"]
    bad = await a.post(
        "/api/passes", json={"site": "lakeside", "plate": "NOTAPLATE", "host_unit": "1"}
    )
    assert bad.status_code == 422
    lists = (await a.get("/api/lists")).json()
    assert p["id"] in {x["id"] for x in lists["passes"]}
    assert {"浙HA1234", "浙HD12345"} <= {x["plate"] for x in lists["residents"]}
    assert "浙HX9999" in {x["plate"] for x in lists["blacklist"]}
    reg = await console.login("regulator")
    r = await reg.post(
        "/api/passes", json={"site": "lakeside", "plate": "浙A12345", "host_unit": "1"}
    )
    assert r.status_code == 403  # read + orders only
    trail = await console.hub.store.audit_log(target_prefix=f"pass/lakeside/{p['id']}")
    assert trail[0]["actor"] == "guard-a" and trail[0]["action"] == "visitor_pass.create"


async def test_supervision_ratings_report_and_audit(console: Console) -> None:
    reg = await console.login("regulator")
    ratings = (await reg.get("/api/ratings")).json()
    assert {r["company"] for r in ratings["ranking"]} == {"greenleaf-pm", "bluesky-pm"}
    assert len(ratings["periods"]) == 4
    man = await console.login("manager-a")
    assert {r["company"] for r in (await man.get("/api/ratings")).json()["ranking"]} == {
        "greenleaf-pm"
    }
    report = await reg.get(f"/reports/{ratings['period']}.html")
    assert report.status_code == 200 and "inline" in report.headers["content-disposition"]
    assert "绿叶物业" in report.text
    audit = (await reg.get("/api/audit")).json()["audit"]
    assert any(r["action"] == "report.download" and r["actor"] == "regulator" for r in audit)


async def test_every_page_renders_for_every_role(console: Console) -> None:
    for user in PASSWORDS:
        c = await console.login(user)
        for path in PAGES:
            r = await c.get(path)
            expected = 200
            if path == "/audit" and user not in ("regulator", "admin"):
                expected = 403
            if path == "/users" and user != "admin":
                expected = 403
            assert r.status_code == expected, (user, path, r.text[:300])
            if expected == 200:
                assert "Content-Security-Policy" in r.headers


async def test_face_enrolment_status_without_photos(console: Console) -> None:
    a = await console.login("guard-a")
    faces_store = pytest.importorskip("hub.pedestrian_gate.store")
    crypto = pytest.importorskip("models.face_bundle")
    import numpy as np

    store = faces_store.FaceStore(console.hub.store.path, crypto.FaceCipher(bytes(range(32))))
    try:
        store.enroll(
            site="lakeside", person="res-0001", role="resident",
            encodings=[np.random.default_rng(1).normal(size=128).astype(np.float32)],
            consent_by="张伟", purpose="gate access", expires_at=now() + timedelta(days=365),
        )  # fmt: skip
    finally:
        store.close()
    faces = (await a.get("/api/lists")).json()["faces"]
    assert [(f["person"], f["role"], f["encodings"]) for f in faces] == [
        ("res-0001", "resident", 1)
    ]
    assert faces[0]["consent_until"] > now().isoformat()
    assert not any("photo" in key or "sealed" in key for key in faces[0])
    b = await console.login("guard-b")
    assert (await b.get("/api/lists")).json()["faces"] == []
    page = await a.get("/lists")
    assert "res-0001" in page.text and "<img" not in page.text


async def test_supervision_router_runs_with_the_console_login(console: Console) -> None:
    anon = console.client()
    assert (await anon.get("/api/supervision/companies")).status_code == 401
    # the placeholder's header identity is not accepted in place of a session
    forged = {"X-Anju-User": "x", "X-Anju-Role": "admin"}
    assert (await anon.get("/api/supervision/companies", headers=forged)).status_code == 401
    a = await console.login("guard-a")
    communities = (await a.get("/api/supervision/communities")).json()
    assert {c["id"] for c in communities} == {"lakeside"}
    reg = await console.login("regulator")
    assert {c["id"] for c in (await reg.get("/api/supervision/communities")).json()} == {
        "lakeside",
        "hillside",
    }
    complaint = {
        "site": "hillside", "category": "parking", "what": "车辆堵塞消防通道",
        "occurred_at": now().isoformat(),
    }  # fmt: skip
    token = reg.headers.pop("X-CSRF-Token")
    assert (await reg.post("/api/supervision/complaints", json=complaint)).status_code == 403
    reg.headers["X-CSRF-Token"] = token
    r = await reg.post("/api/supervision/complaints", json=complaint)
    assert r.status_code == 201, r.text
    trail = await console.hub.store.audit_log(target_prefix="supervision/complaint/")
    assert trail and trail[-1]["actor"] == "regulator"
    page = await reg.get("/supervision")
    assert "/api/supervision/reports/" in page.text


async def test_admin_manages_accounts(console: Console) -> None:
    a = await console.login("guard-a")
    assert (await a.get("/api/users")).status_code == 403
    assert (await a.get("/users")).status_code == 403
    new = {"username": "guard-c", "password": "guard-c-password", "role": "guard", "scope": "x"}
    assert (await a.post("/api/users", json=new)).status_code == 403
    admin = await console.login("admin")
    assert (await admin.post("/api/users", json=new)).status_code == 422  # unknown community
    new["scope"] = "hillside"
    r = await admin.post("/api/users", json=new)
    assert r.status_code == 200 and r.json()["sites"] == ["hillside"]
    listed = (await admin.get("/api/users")).json()["users"]
    assert "guard-c" in {u["username"] for u in listed}
    assert not any("password" in key for u in listed for key in u)
    c = await console.login("guard-c", "guard-c-password")
    assert (await c.get("/api/me")).json()["sites"][0]["id"] == "hillside"
    assert (await admin.post("/api/users/guard-c/disable")).status_code == 200
    assert (await c.get("/api/me")).status_code == 401  # its session ended
    assert (await admin.post("/api/users/admin/disable")).status_code == 409
    actions = [
        x["action"] for x in await console.hub.store.audit_log(target_prefix="console/user/guard-c")
    ]
    assert actions[:1] == ["console.user.set"] and "console.user.disable" in actions
    assert (await admin.get("/users")).status_code == 200


async def test_one_client_guessing_many_names_is_locked_out(console: Console) -> None:
    users = await UserStore.open(
        console.hub.store, {"lakeside": "greenleaf-pm"}, hasher=FAST_ARGON2
    )
    await users.set_user("shifty", "shifty-password", ConsoleRole.GUARD, "lakeside", actor="t")
    attacker = "203.0.113.7"  # a client label only: no traffic goes anywhere
    for n in range(20):
        with pytest.raises(LoginError):
            await users.login(f"name-{n}", "guess", client=attacker)
    with pytest.raises(LoginError) as refused:
        await users.login("shifty", "shifty-password", client=attacker)
    assert refused.value.locked_until is not None
    # the account itself is not locked: the owner logs in from the guard room
    assert (await users.login("shifty", "shifty-password", client="192.0.2.10")).user


async def test_password_reset_unlocks_an_account(console: Console) -> None:
    users = await UserStore.open(
        console.hub.store, {"lakeside": "greenleaf-pm"}, hasher=FAST_ARGON2
    )
    await users.set_user(
        "forgetful", "forgetful-password", ConsoleRole.GUARD, "lakeside", actor="t"
    )
    for _ in range(5):
        with pytest.raises(LoginError):
            await users.login("forgetful", "wrong", client="192.0.2.20")
    with pytest.raises(LoginError):
        await users.login("forgetful", "forgetful-password", client="192.0.2.20")
    await users.set_user(
        "forgetful", "new-forgetful-pw", ConsoleRole.GUARD, "lakeside", actor="admin"
    )
    assert (await users.login("forgetful", "new-forgetful-pw", client="192.0.2.20")).user


async def test_openapi_is_published_for_integrators(console: Console) -> None:
    assert (await console.client().get("/api/openapi.json")).status_code == 401
    spec = (await (await console.login("regulator")).get("/api/openapi.json")).json()
    paths = set(spec["paths"])
    assert "/api/passes" in paths
    assert any(p.startswith("/api/supervision/") for p in paths)


async def test_rejects_per_device_and_health_without_login(console: Console) -> None:
    edge = console.edge
    assert edge is not None
    topic = "anju/lakeside/edge-north/events/plate_read"
    for _ in range(3):
        edge.client.publish(topic, b"\x00 not json", qos=1).wait_for_publish(5)
    edge.client.publish(topic, b'{"schema": "1"}', qos=1).wait_for_publish(5)
    a = await console.login("guard-a")

    async def counted() -> bool:
        rows = (await a.get("/api/devices")).json()["devices"]
        north = next(d for d in rows if d["device"] == "edge-north")
        return north["rejected_24h"] >= 4

    await until(counted, what="rejects counted")
    data = (await a.get("/api/devices")).json()
    north = next(d for d in data["devices"] if d["device"] == "edge-north")
    assert north["rejected_reasons"]["not_json"] >= 3
    assert north["rejected_reasons"]["unknown_kind"] >= 1  # no kind to tell it by
    assert data["hub"]["status"] == "ready"
    assert any(r["device"] == "edge-north" for r in data["rejects_24h"])
    page = await a.get("/live")
    assert 'class="rejects"' in page.text and "hub-storage-fault" not in page.text
    anonymous = console.client()
    assert (await anonymous.get("/healthz")).json() == {"status": "alive"}
    ready = await anonymous.get("/readyz")
    assert ready.status_code == 200 and ready.json()["broker"] == "connected"


async def test_a_storage_fault_shows_on_the_live_page_and_readyz(console: Console) -> None:
    from hub.storage_fault import StorageFault

    a = await console.login("guard-a")
    console.hub.health.storage_failed(StorageFault("disk_full", "database or disk is full"), now())
    try:
        page = await a.get("/live")
        assert 'id="hub-storage-fault"' in page.text and "disk_full" in page.text
        ready = await console.client().get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["storage_fault"]["code"] == "hub_storage_fault"
        assert (await a.get("/api/devices")).json()["hub"]["storage"] == "fault"
    finally:
        console.hub.health.storage_recovered()
    assert (await console.client().get("/readyz")).status_code == 200


# ---------------------------------------------------------------------- issue 17

# Codes that must never reach a page as they are: violation types, event kinds, statuses.
RAW_CODES = re.compile(
    r"\b(fire_lane_parking|outside_marked_slots|door_forced|door_held|unknown_vehicle|"
    r"blacklisted_vehicle|unknown_face_repeated|camera_tamper|gate_fault|device_offline|"
    r"kind\.[a-z_]+|vtype\.[a-z_]+|status\.[a-z_]+|order_fix|solve_now|plate_read|"
    r"gate_decision|carpark_snapshot)\b"
)


def visible_text(html: str) -> str:
    """What a person reads: no scripts, styles, tags or attribute values."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


async def _unknown_vehicle_case(console: Console, plate: str) -> str:
    edge = console.edge
    assert edge is not None
    decision = edge.publish(
        Kind.GATE_DECISION, "lakeside", "edge-north",
        {"gate": "north-vehicle", "credential": "plate", "subject": plate,
         "decision": "refuse", "reason": "unknown"},
    )  # fmt: skip
    await stored(console, decision)

    async def found() -> list:
        return [v for v in await console.hub.store.violations() if v["subject"] == plate]

    return (await until(found, what="unknown_vehicle violation"))[0]["id"]


async def test_order_rectify_with_photo_and_verify_through_the_pages(console: Console) -> None:
    """Regulator orders a fix on the detail page, the manager uploads a photo, the
    regulator verifies; the history reads in words, the photo is served to who may see it."""
    vid = await _unknown_vehicle_case(console, "皖B77777")
    reg, man = await console.login("regulator"), await console.login("manager-a")
    r = await reg.post(f"/violations/{vid}/act", data={"action": "triage",
                       "decision": "order_fix", "note": "限期整改"})  # fmt: skip
    assert r.status_code == 303 and "msg=" in r.headers["location"], r.headers["location"]
    page = (await man.get(f"/violations/{vid}")).text
    assert 'name="photo"' in page and "整改中" in page
    no_photo = await man.post(f"/violations/{vid}/act", data={"action": "rectify"})
    assert "error=" in no_photo.headers["location"]  # a fix needs its photo
    bad = await man.post(
        f"/violations/{vid}/act",
        data={"action": "rectify"},
        files={"photo": ("x.jpg", b"not a picture", "image/jpeg")},
    )
    assert "error=" in bad.headers["location"]
    jpeg = (FACES_DIR / sorted(p.name for p in FACES_DIR.glob("*.jpg"))[0]).read_bytes()
    ok = await man.post(
        f"/violations/{vid}/act",
        data={"action": "rectify", "note": "已加装识别"},
        files={"photo": ("fix.jpg", jpeg, "image/jpeg")},
    )
    assert "msg=" in ok.headers["location"], ok.headers["location"]
    verify = await reg.post(f"/violations/{vid}/act", data={"action": "verify"})
    assert "msg=" in verify.headers["location"]
    detail = (await reg.get(f"/violations/{vid}")).text
    assert "已核查办结" in detail and "{" not in visible_text(detail)  # no raw JSON
    photo = re.search(r'src="(/photos/lakeside/[0-9a-f]{64}\.jpg)"', detail)
    assert photo is not None
    assert (await man.get(photo.group(1))).content == jpeg
    other = await console.login("guard-b")  # the other community's guard
    assert (await other.get(photo.group(1))).status_code == 404


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_no_page_shows_an_untranslated_code(console: Console, lang: str) -> None:
    await _unknown_vehicle_case(console, f"皖C{1 if lang == 'zh' else 2}2222")
    for user in ("regulator", "manager-a", "guard-a", "admin"):
        c = await console.login(user)
        assert (await c.get(f"/live?lang={lang}")).cookies.get("lang") == lang
        cases = (await c.get("/api/violations")).json()["violations"]
        paths = [*PAGES, *(f"/violations/{v['id']}" for v in cases[:3])]
        for path in paths:
            r = await c.get(path)
            if r.status_code == 403:
                continue
            text = visible_text(r.text)
            assert not RAW_CODES.search(text), (user, path, RAW_CODES.search(text))
            if lang == "en":
                assert "违规整改" not in text, (user, path)  # nav is in English
            else:
                assert "Violations" not in text, (user, path)
