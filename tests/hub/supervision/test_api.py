"""The supervision REST API through FastAPI's TestClient, on a real SQLite store."""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI, HTTPException, Request
from fastapi.testclient import TestClient

from anju_cli.demo.supervision import simulate_device_faults
from hub.store import Store
from hub.supervision.api import router
from hub.supervision.domain import Principal
from hub.supervision.periods import TZ, Period
from hub.supervision.repo import SupervisionRepo
from hub.supervision.workflow import Role
from models.site import load_site_config

# The console authenticates by session (tests/hub/console/test_api.py); here a test double maps a
# token to a principal, so the API's own rules are tested without the login pages.
PRINCIPALS = {
    "regulator": Principal("li.jian", Role.REGULATOR, None),
    "company": Principal("gl.manager", Role.COMPANY, frozenset({"lakeside"})),
    "stranger": Principal("x", Role.COMPANY, frozenset({"elsewhere"})),
}
REGULATOR = {"Authorization": "Test regulator"}
COMPANY = {"Authorization": "Test company"}
STRANGER = {"Authorization": "Test stranger"}


async def token_principal(request: Request) -> Principal:
    scheme, _, name = request.headers.get("authorization", "").partition(" ")
    if scheme != "Test" or name not in PRINCIPALS:
        raise HTTPException(401, "log in first")
    return PRINCIPALS[name]


PERIOD = Period.of(datetime.now(TZ))  # the API acts "now", so use the current half year


@pytest.fixture
def client(tmp_path: Path):
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        store = await Store.open(tmp_path)
        repo = await SupervisionRepo.open(store)
        site = load_site_config()
        await repo.sync_sites([site])
        await simulate_device_faults(repo, site, PERIOD)
        app.state.supervision_repo = repo
        yield
        await store.close()

    app = FastAPI(lifespan=lifespan)
    app.state.authenticate = token_principal
    app.include_router(router)
    with TestClient(app) as client:
        yield client


def test_openapi_lists_the_endpoints(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/supervision/communities",
        "/api/supervision/violations/{vid}/actions",
        "/api/supervision/complaints",
        "/api/supervision/inspections",
        "/api/supervision/orders/{oid}/actions",
        "/api/supervision/ratings/{period}/{company}",
        "/api/supervision/reports/{period}.{fmt}",
    ):
        assert path in paths


def test_identity_is_required_and_scoped(client: TestClient) -> None:
    assert client.get("/api/supervision/communities").status_code == 401
    assert client.get("/api/supervision/communities", headers=STRANGER).json() == []
    assert client.get("/api/supervision/communities", headers=COMPANY).json()[0]["id"] == "lakeside"
    assert client.get("/api/supervision/violations", headers=STRANGER).json() == []
    devices = client.get("/api/supervision/devices", headers=COMPANY).json()
    assert {d["device"] for d in devices} == {
        "edge-north",
        "edge-south",
        "edge-east",
        "edge-carpark",
    }
    assert [d["outages"] for d in devices if d["device"] == "edge-carpark"] == [1]


def test_complaint_to_order_to_rating_over_http(client: TestClient) -> None:
    now = datetime.now(TZ)
    body = {
        "site": "lakeside",
        "category": "repair",
        "severity": "critical",
        "what": "电梯停运三天 / lift out of service for three days",
        "location": "3 幢 / building 3",
        "reporter": "7-1 业主",
        "contact": "139****0001",
        "occurred_at": (now - timedelta(hours=5)).isoformat(),
    }
    created = client.post("/api/supervision/complaints", json=body, headers=REGULATOR)
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    bad = client.post("/api/supervision/complaints", json={**body, "what": ""}, headers=REGULATOR)
    assert bad.status_code == 422
    triage = {"action": "triage", "decision": "order_fix", "note": "修复电梯 / repair the lift"}
    denied = client.post(f"/api/supervision/complaints/{cid}/actions", json=triage, headers=COMPANY)
    # the company never learns who reported it
    seen = client.get(f"/api/supervision/complaints/{cid}", headers=COMPANY).json()
    listed = client.get("/api/supervision/complaints", headers=COMPANY).json()
    trail = client.get(f"/api/supervision/audit/complaint/{cid}", headers=COMPANY).json()
    assert seen["reporter"] == listed[0]["reporter"] == trail[0]["after"]["reporter"] != "7-1 业主"
    mine = client.get(f"/api/supervision/complaints/{cid}", headers=REGULATOR).json()
    assert mine["reporter"] == "7-1 业主" and mine["contact"] == "139****0001"
    assert denied.status_code == 403
    case = client.post(
        f"/api/supervision/complaints/{cid}/actions", json=triage, headers=REGULATOR
    ).json()
    assert case["status"] == "assigned" and case["order_id"]
    oid = case["order_id"]
    fix = {"action": "rectify", "evidence": ["photo:lift-ok.jpg"]}
    done = client.post(f"/api/supervision/orders/{oid}/actions", json=fix, headers=COMPANY)
    assert done.json()["status"] == "rectified"
    again = client.post(f"/api/supervision/orders/{oid}/actions", json=fix, headers=COMPANY)
    assert again.status_code == 409
    trail = client.get(f"/api/supervision/audit/order/{oid}", headers=REGULATOR).json()
    assert [t["action"] for t in trail] == ["order.issue", "order.rectify"]

    violations = client.get(
        "/api/supervision/violations", params={"type": "gate_fault"}, headers=COMPANY
    ).json()
    assert violations and violations[0]["evidence"]

    ranking = client.get(f"/api/supervision/ratings/{PERIOD}", headers=COMPANY).json()
    assert ranking["ranking"][0]["company"] == "greenleaf-pm"
    detail = client.get(f"/api/supervision/ratings/{PERIOD}/greenleaf-pm", headers=REGULATOR)
    score = detail.json()
    rules = {i["rule"] for i in score["items"]}
    assert "complaints.repair.critical" in rules
    for item in score["items"]:  # every item's records come with it
        assert all(rid in score["records"] for rid in item["record_ids"])
    assert client.get("/api/supervision/ratings/2026H9", headers=REGULATOR).status_code == 422


def test_report_download(client: TestClient) -> None:
    csv = client.get(f"/api/supervision/reports/{PERIOD}.csv", headers=REGULATOR)
    assert csv.status_code == 200 and "greenleaf-pm" in csv.content.decode("utf-8-sig")
    pdf = client.get(f"/api/supervision/reports/{PERIOD}.pdf", headers=REGULATOR)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    html = client.get(f"/api/supervision/reports/{PERIOD}.html", headers=REGULATOR)
    assert html.status_code == 200 and "<svg" in html.text and "绿叶物业" in html.text
    assert (
        client.get(f"/api/supervision/reports/{PERIOD}.doc", headers=REGULATOR).status_code == 404
    )
    # before it is published, the disclosure is the regulator's alone
    assert client.get(f"/api/supervision/reports/{PERIOD}.html", headers=COMPANY).status_code == 403
