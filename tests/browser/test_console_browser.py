"""The console in real headless Chromium (Debian's package, driven by Playwright), on the
whole simulated community: embedded edges reading plates from rendered frames, a real
mosquitto, the hub, and the console served in the same event loop.

Screenshots of each main page go to test-output/screenshots/.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from anju_cli.demo import Demo, DemoOptions, load_demo_site
from anju_cli.demo.users import ensure_demo_users
from edge.pedestrian_gate.pipeline import face_evidence
from hub.console import start_console
from models.plate import PlateColor
from recognition.face.detector import load_rgb
from simulators.faces import FACES_DIR
from tests.browser.support import Console, SimEdge, now
from tests.mosquitto import MosquittoBroker

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.e2e,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium: apt-get install -y chromium"
    ),
]


@pytest.fixture
async def community(
    mosquitto: MosquittoBroker, tmp_path: Path
) -> AsyncIterator[tuple[Demo, Console]]:
    options = DemoOptions(
        broker=mosquitto.url,
        data=tmp_path / "demo",
        arrivals=0,
        anonymous=True,
        car_park=False,  # the test plays the car-park edge itself
        pedestrians=False,
    )
    demo = Demo(options, load_demo_site(options))
    await demo.start()
    # what `anju demo` does: demo accounts, the console on a port of this loop
    accounts = await ensure_demo_users(demo.hub.store, [demo.site])
    server = await start_console(demo.hub, [demo.site], port=0)
    assert {a.username for a in accounts} == {"guard", "manager", "regulator", "admin"}
    console = Console(demo.hub, server, [demo.site], SimEdge(mosquitto.url, "test-carpark-edge"))
    yield demo, console
    await console.close()
    await demo.stop()


@pytest.fixture
async def browser() -> AsyncIterator:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        await chromium.close()


def gate(demo: Demo, gate_id: str):
    return next(g for g in demo.vehicle_gates if g.gate_id == gate_id)


async def login(page, base: str, username: str, password: str) -> None:
    await page.goto(f"{base}/login")
    await page.fill('input[name="username"]', username)
    await page.fill('input[name="password"]', password)
    await page.click('button[type="submit"]')
    await page.wait_for_url(f"{base}/live")


async def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"))


async def test_guard_watches_live_events_and_opens_a_gate(community, browser) -> None:
    demo, console = community
    base = console.url
    edge = console.edge
    assert edge is not None
    context = await browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # console errors include Content-Security-Policy violations
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    await page.goto(f"{base}/live")  # not logged in: sent to the login page
    assert "/login" in page.url
    await shot(page, "00-login")
    await login(page, base, "guard", "guard-demo-2026")
    await page.wait_for_selector("#stream-state.on", timeout=10_000)

    # a resident arrives at the north gate: the edge reads the plate from rendered frames,
    # decides, publishes over MQTT; the hub stores it and the page shows it live
    gate(demo, "north-vehicle").arrive("浙HA1234", PlateColor.BLUE)
    gate(demo, "south-vehicle").arrive("浙HX9999", PlateColor.BLUE)  # blacklisted: refused
    row = page.locator("#event-rows tr", has_text="浙HA1234").first
    await row.wait_for(timeout=45_000)
    decision = page.locator("#event-rows tr[data-kind='gate_decision']", has_text="浙HA1234")
    await decision.first.wait_for(timeout=20_000)
    # one row per passage: the decision row carries the read's plate crop
    assert await page.locator("#event-rows tr[data-kind='plate_read']").count() == 0
    thumb = page.locator("#event-rows tr[data-kind='gate_decision'] img.thumb").first
    await thumb.wait_for(timeout=10_000)
    assert await thumb.evaluate("img => img.complete && img.naturalWidth > 0")

    # a blacklisted person at the pedestrian gate: the alarm shows their face (alarms only)
    face = face_evidence(load_rgb(FACES_DIR / "biden.jpg")[30:270, 50:270])
    edge.face_alarm("lakeside", face)
    face_thumb = page.locator("#event-rows tr[data-kind='alarm'] img.thumb").first
    await face_thumb.wait_for(timeout=15_000)
    assert await face_thumb.evaluate("img => img.complete && img.naturalWidth > 0")

    # open the north gate remotely: the page shows sent, then the edge's acknowledgement
    card = page.locator(".gate[data-gate='north-vehicle']")
    await card.locator("input[name='reason']").fill("快递车 / delivery van, resident called")
    await card.locator("button[value='open']").click()
    status = card.locator("[data-role='cmd-status']")
    await page.wait_for_function(
        "el => el.classList.contains('acknowledged') || el.classList.contains('failed')",
        arg=await status.element_handle(),
        timeout=15_000,
    )
    assert "acknowledged" in (await status.get_attribute("class") or ""), await status.inner_text()
    assert "已确认" in await status.inner_text()
    # the command went over MQTT and was acknowledged by the edge, audited with the guard
    trail = await demo.hub.store.audit_log(target_prefix="gate/lakeside/north-vehicle")
    assert ("guard", "gate_command.sent") in {(t["actor"], t["action"]) for t in trail}
    assert "gate_command.acknowledged" in {t["action"] for t in trail}
    refused = page.locator("#event-rows tr[data-kind='gate_decision']", has_text="浙HX9999")
    await refused.first.wait_for(timeout=30_000)
    # "open this gate" from the refused row: it fills that gate's form, reason still required
    await refused.first.locator("button.open-from-row").click()
    south = page.locator(".gate[data-gate='south-vehicle'] input[name='reason']")
    assert "浙HX9999" in await south.input_value()
    await page.wait_for_timeout(600)  # let the row highlight fade a little
    await shot(page, "01-live")

    # the car park (slot states from a simulated car-park edge over the same broker)
    t0 = now() - timedelta(hours=3)
    for i, slot in enumerate(["A01", "A03", "A04", "A09", "B02", "B05", "B09", "F01"]):
        edge.slot("lakeside", slot, True, t0 + timedelta(minutes=17 * i), plate=None)
    edge.slot("lakeside", "A02", False, t0)
    edge.slot("lakeside", "A04", False, now() - timedelta(minutes=5))
    await page.wait_for_timeout(800)
    await page.click("a[data-nav='carpark']")
    await page.wait_for_selector(".slot.occ")
    assert await page.locator(".slot.occ").count() == 7
    # a car leaves B02 while the page is open: the map follows within seconds
    edge.slot("lakeside", "B02", False, now())
    await page.wait_for_selector("g[data-slot='B02'].free", timeout=12_000)
    assert await page.locator(".slot.occ").count() == 6
    await shot(page, "02-carpark")

    await page.click("a[data-nav='violations']")
    await page.locator("#cases tr.case", has_text="浙HX9999").first.wait_for(timeout=10_000)
    await shot(page, "03-violations")

    await page.click("a[data-nav='lists']")
    await page.fill("#new-pass input[name='plate']", "浙A12345")
    await page.fill("#new-pass input[name='host_unit']", "3-1-501")
    await page.click("#new-pass button[type='submit']")
    await page.wait_for_selector("#pass-result svg", timeout=10_000)
    await shot(page, "05-lists")

    await page.click("a[data-nav='supervision']")
    await page.wait_for_selector("#ranking")
    await shot(page, "04-supervision")
    assert not errors, errors
    await context.close()

    # the regulator: all communities, the audit log with the guard's actions
    context = await browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    page = await context.new_page()
    await login(page, base, "regulator", "regulator-demo-2026")
    assert await page.locator(".gate-cmd").count() == 0  # read + orders: no gate buttons
    await page.goto(f"{base}/violations")
    await page.locator("#cases tr.case", has_text="浙HX9999").first.locator("a").first.click()
    form = page.locator("form.case-act")
    await form.locator("select[name='action']").select_option("triage")
    await form.locator("select[name='decision']").select_option("order_fix")
    # the form's time is the community's (Asia/Shanghai), whatever the browser's zone
    local = (now() + timedelta(hours=8)).astimezone(ZoneInfo(demo.site.site.timezone))
    await form.locator("input[name='deadline']").fill(local.strftime("%Y-%m-%dT%H:%M"))
    await form.locator("input[name='note']").fill("修复道闸 / repair the barrier")
    await form.locator("button[type='submit']").click()
    await page.wait_for_selector(".act-result", timeout=10_000)
    result = await page.locator(".act-result").inner_text()
    assert await page.locator(".st-assigned").count() == 1, result
    case_url = page.url.split("?")[0]
    await shot(page, "06-violation-ordered")
    await context.close()

    # the manager, on a phone: the case is on top of the to-do list; rectify with a photo
    context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = await context.new_page()
    await login(page, base, "manager", "manager-demo-2026")
    await page.goto(f"{base}/violations")
    first = page.locator("#cases tr.case").first
    assert "todo" in (await first.get_attribute("class") or "")
    await page.goto(case_url)
    form = page.locator("form.case-act")
    await form.locator("select[name='action']").select_option("rectify")
    photo = sorted(FACES_DIR.glob("*.jpg"))[0]
    await form.locator("input[name='photo']").set_input_files(str(photo))
    await form.locator("input[name='note']").fill("道闸已修复 / barrier repaired")
    await form.locator("button[type='submit']").click()
    await page.wait_for_selector(".st-rectified", timeout=10_000)
    await page.wait_for_selector(".evidence img.big[src^='/photos/']")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px phone"
    await shot(page, "09-manager-phone-rectified")
    await context.close()

    # the regulator verifies the fix and finds it in the audit log
    context = await browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    page = await context.new_page()
    await login(page, base, "regulator", "regulator-demo-2026")
    await page.goto(case_url)
    await page.locator("form.case-act select[name='action']").select_option("verify")
    await page.locator("form.case-act button[type='submit']").click()
    await page.wait_for_selector(".st-closed", timeout=10_000)
    await shot(page, "10-regulator-verified")
    await page.click("a[data-nav='audit']")
    await page.locator("#audit tr", has_text="闸机指令 · 已确认").first.wait_for()
    await shot(page, "07-audit")
    await context.close()

    # the admin creates a guard account for the east gate shift
    context = await browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    page = await context.new_page()
    await login(page, base, "admin", "admin-demo-2026")
    await page.click("a[data-nav='users']")
    await page.fill("#user-form input[name='username']", "guard-east")
    await page.fill("#user-form input[name='password']", "east-gate-2026!")
    await page.select_option("#user-form select[name='scope']", "lakeside")
    await page.click("#user-form button[type='submit']")
    await page.locator("#accounts tr", has_text="guard-east").wait_for(timeout=10_000)
    await shot(page, "08-accounts")
    await context.close()


def test_chromium_is_debian_package() -> None:
    """The browser under test is the system one (no test-tool download)."""
    assert shutil.which("chromium") == str(CHROMIUM) or CHROMIUM.exists()
