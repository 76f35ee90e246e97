"""The console against the attacks it was tried with: a disabled user's open event stream,
spoofed X-Forwarded-For from the loopback, locking someone else's account, other companies'
ratings and reports, audit trails by prefix, big bodies, formulas in CSV cells. Real hub,
real mosquitto, real HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio

from anju_cli.demo.supervision import simulate_device_faults
from hub.console.lockout import ACCOUNT
from hub.console.roles import ConsoleRole
from hub.console.users import LoginError, UserStore
from hub.service import Hub
from hub.supervision.periods import TZ, Period
from hub.supervision.repo import SupervisionRepo
from tests.browser.support import (
    FAST_ARGON2,
    Console,
    add_users,
    start_console,
    two_sites,
)
from tests.mosquitto import MosquittoBroker

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

PERIOD = str(Period.of(datetime.now(TZ)))
T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def console(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Console]:
    tmp = tmp_path_factory.mktemp("console-hardening")
    (tmp / "broker").mkdir()
    mosquitto = MosquittoBroker(tmp / "broker")
    mosquitto.start()
    sites = list(two_sites())
    hub = Hub(sites, broker_url=mosquitto.url, data_dir=tmp / "hub")
    await hub.start()
    await add_users(hub.store, sites)
    repo = await SupervisionRepo.open(hub.store)
    await repo.sync_sites(sites)
    for site in sites:  # records for both companies, so that scoping has something to hide
        await simulate_device_faults(repo, site, Period.parse(PERIOD))
    c = await start_console(hub, sites)
    yield c
    await c.close()
    await hub.stop()
    mosquitto.stop()


async def users_of(console: Console) -> UserStore:
    companies = {s.site.id: s.site.company.id for s in console.sites}
    return await UserStore.open(console.hub.store, companies, hasher=FAST_ARGON2)


# ---------------------------------------------------------------------- the event stream


async def test_a_disabled_users_open_stream_ends_within_seconds(console: Console) -> None:
    users = await users_of(console)
    await users.set_user("guard-x", "guard-x-password", ConsoleRole.GUARD, "lakeside", actor="t")
    guard = await console.login("guard-x", "guard-x-password")
    received: list[str] = []

    async def read_stream() -> None:
        async with guard.stream("GET", "/api/events/stream") as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                received.append(line)

    reader = asyncio.create_task(read_stream())
    deadline = time.monotonic() + 10
    while "event: hello" not in received and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert "event: hello" in received
    disabled_at = time.monotonic()
    assert await users.disable("guard-x", actor="admin")
    await asyncio.wait_for(reader, 10)  # the server ends the stream: the task returns
    assert "event: logout" in received
    assert time.monotonic() - disabled_at < 6
    assert (await guard.get("/api/events/stream")).status_code == 401


# ---------------------------------------------------------------------- login throttling


async def test_forwarded_for_from_the_loopback_is_not_believed(console: Console) -> None:
    """25 wrong passwords, each claiming another address: the hub counts the real peer (no
    proxy is configured) and writes it, not the claims, to the audit log."""
    users = await users_of(console)
    await users.set_user("target-1", "target-1-password", ConsoleRole.GUARD, "lakeside", actor="t")
    c = console.client()
    statuses = []
    for n in range(25):
        form = await c.get("/login")
        csrf = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        r = await c.post(
            "/login",
            data={"username": "target-1", "password": f"guess-{n}", "csrf_token": csrf},
            headers={"X-Forwarded-For": f"198.51.100.{n + 1}"},
        )
        statuses.append(r.status_code)
    assert statuses[:4] == [401] * 4
    assert set(statuses[4:]) == {429}  # locked for this client at the 5th, whatever it claims
    rows = await console.hub.store.audit_log(target_prefix="console/user/target-1")
    clients = {r["after"]["client"] for r in rows if r["after"] and "client" in r["after"]}
    assert clients == {"127.0.0.1"}


async def test_nobody_can_lock_someone_else_out(console: Console) -> None:
    users = await users_of(console)
    await users.set_user("boss", "boss-password-1", ConsoleRole.ADMIN, actor="t")
    for _ in range(8):
        with pytest.raises(LoginError):
            await users.login("boss", "wrong", client="203.0.113.9")
    with pytest.raises(LoginError) as refused:  # the guessing client is locked out ...
        await users.login("boss", "boss-password-1", client="203.0.113.9")
    assert refused.value.locked_until is not None
    # ... the owner at their own desk is not
    assert (await users.login("boss", "boss-password-1", client="192.0.2.44")).user


async def test_an_account_guessed_from_many_clients_is_slowed_not_locked(console: Console) -> None:
    users = await users_of(console)
    await users.set_user("much-wanted", "much-wanted-pw", ConsoleRole.GUARD, "lakeside", actor="t")
    for n in range(ACCOUNT.after):
        with pytest.raises(LoginError):
            await users.login("much-wanted", "wrong", client=f"203.0.113.{n + 20}")
    with pytest.raises(LoginError) as refused:
        await users.login("much-wanted", "much-wanted-pw", client="192.0.2.50")
    until = refused.value.locked_until
    assert until is not None and until - datetime.now(UTC) <= ACCOUNT.first_delay
    await asyncio.sleep((until - datetime.now(UTC)).total_seconds() + 0.2)
    assert (await users.login("much-wanted", "much-wanted-pw", client="192.0.2.50")).user


async def test_password_checks_leave_the_event_loop_free(console: Console) -> None:
    """argon2id with its real parameters (64 MiB) runs in worker threads: while several
    logins hash, the loop keeps ticking."""
    companies = {s.site.id: s.site.company.id for s in console.sites}
    users = await UserStore.open(console.hub.store, companies)  # the default, real hasher
    await users.set_user("slow-hash", "slow-hash-password", ConsoleRole.GUARD, "lakeside",
                         actor="t")  # fmt: skip
    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            t = time.monotonic()
            await asyncio.sleep(0.01)
            lags.append(time.monotonic() - t - 0.01)

    tick = asyncio.create_task(ticker())
    started = time.monotonic()
    await asyncio.gather(
        *(users.login("slow-hash", "slow-hash-password", client=f"192.0.2.{i}") for i in range(3))
    )
    took = time.monotonic() - started
    stop.set()
    await tick
    assert took > 0.1  # real argon2 work was done ...
    assert max(lags) < took / 3  # ... and the loop was never blocked for it


# ---------------------------------------------------------------------- supervision API scope


async def test_a_manager_sees_only_their_own_company(console: Console) -> None:
    manager = await console.login("manager-a")  # greenleaf-pm: lakeside
    companies = (await manager.get("/api/supervision/companies")).json()
    assert [c["id"] for c in companies] == ["greenleaf-pm"]
    ranking = (await manager.get(f"/api/supervision/ratings/{PERIOD}")).json()["ranking"]
    assert {r["company"] for r in ranking} == {"greenleaf-pm"}
    own = await manager.get(f"/api/supervision/ratings/{PERIOD}/greenleaf-pm")
    assert own.status_code == 200
    other = await manager.get(f"/api/supervision/ratings/{PERIOD}/bluesky-pm")
    assert other.status_code == 404
    for fmt in ("html", "pdf", "csv"):
        assert (await manager.get(f"/api/supervision/reports/{PERIOD}.{fmt}")).status_code == 403
    regulator = await console.login("regulator")
    ranking = (await regulator.get(f"/api/supervision/ratings/{PERIOD}")).json()["ranking"]
    assert {r["company"] for r in ranking} == {"greenleaf-pm", "bluesky-pm"}
    assert (await regulator.get(f"/api/supervision/ratings/{PERIOD}/bluesky-pm")).status_code == 200


async def test_the_standard_and_the_api_description_need_a_login(console: Console) -> None:
    anon = console.client()
    assert (await anon.get("/api/supervision/standard")).status_code == 401
    assert (await anon.get("/api/openapi.json")).status_code == 401
    guard = await console.login("guard-a")
    assert (await guard.get("/api/supervision/standard")).status_code == 200


async def test_an_audit_trail_is_the_records_own(console: Console) -> None:
    store = console.hub.store
    async with store.transaction():
        for ref in ("1", "10", "12", "100"):
            await store.audit("t", "test.touch", f"supervision/complaint/{ref}", None, {}, T0)
    rows = await store.audit_log(target="supervision/complaint/1")
    assert {r["target"] for r in rows} == {"supervision/complaint/1"}
    regulator = await console.login("regulator")
    trail = (await regulator.get("/api/supervision/audit/complaint/1")).json()
    assert {r["target"] for r in trail} == {"supervision/complaint/1"}


# ---------------------------------------------------------------------- bodies and CSV


async def test_request_bodies_are_capped(console: Console) -> None:
    guard = await console.login("guard-a")
    big = b"x" * (2 * 1024 * 1024)
    r = await guard.post("/api/passes", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: cut off while streaming
        for _ in range(40):
            yield b"y" * 65536

    r = await guard.post(
        "/api/passes", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert (await guard.get("/api/me")).status_code == 200  # the server is fine
