"""Shared pieces for the console tests: a running hub + console, users, a simulated edge
that publishes real messages over MQTT, and small waiting helpers."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import paho.mqtt.client as mqtt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from hub.console import ConsoleServer, create_app
from hub.console.roles import ConsoleRole
from hub.console.users import UserStore
from hub.service import Hub
from models import topics
from models.messages import Kind, make_message
from models.site import Company, SiteConfig, load_site_config

PASSWORDS = {
    "guard-a": "guard-a-password",
    "guard-b": "guard-b-password",
    "manager-a": "manager-a-password",
    "regulator": "regulator-password",
    "admin": "admin-password-1",
}


def two_sites() -> tuple[SiteConfig, SiteConfig]:
    """Lakeside (config/lakeside.yaml) and a copy of it run by another company."""
    a = load_site_config()
    info = a.site.model_copy(
        update={"id": "hillside", "name": "山景苑", "name_en": "Hillside",
                "company": Company(id="bluesky-pm", name="蓝天物业")}
    )  # fmt: skip
    b = a.model_copy(update={"site": info})
    return a, b


# Real argon2id with small parameters: the KDF is the same, the tests log in many times.
FAST_ARGON2 = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8 * 1024, parallelism=1),))


async def add_users(store: Any, sites: list[SiteConfig]) -> None:
    users = await UserStore.open(
        store, {s.site.id: s.site.company.id for s in sites}, hasher=FAST_ARGON2
    )
    await users.set_user(
        "guard-a", PASSWORDS["guard-a"], ConsoleRole.GUARD, "lakeside", actor="test"
    )
    await users.set_user(
        "guard-b", PASSWORDS["guard-b"], ConsoleRole.GUARD, "hillside", actor="test"
    )
    await users.set_user(
        "manager-a", PASSWORDS["manager-a"], ConsoleRole.MANAGER, "greenleaf-pm", actor="test"
    )
    await users.set_user("regulator", PASSWORDS["regulator"], ConsoleRole.REGULATOR, actor="test")
    await users.set_user("admin", PASSWORDS["admin"], ConsoleRole.ADMIN, actor="test")


def jpeg_b64(text: str = "A1234") -> str:
    """A real small JPEG (a drawn plate) as the edge would send it."""
    img = np.full((40, 140, 3), (200, 80, 20), np.uint8)
    cv2.putText(img, text, (6, 30), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return base64.b64encode(buf.tobytes()).decode()


class SimEdge:
    """A simulated edge device: publishes real Anju messages to the broker (QoS 1)."""

    def __init__(self, broker_url: str, client_id: str = "test-sim-edge") -> None:
        host, port = re.match(r"mqtt://([^:]+):(\d+)", broker_url).groups()  # type: ignore[union-attr]
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.connect(host, int(port))
        self.client.loop_start()

    def publish(self, kind: Kind, site: str, device: str, payload: dict, **env: Any) -> str:
        message = make_message(kind, site=site, device=device, payload=payload, **env)
        topic = str(topics.event(site, device, kind.value))
        self.client.publish(topic, message.to_json(), qos=1).wait_for_publish(5)
        return message.id

    def plate_read(self, site: str, plate: str, gate: str = "north-vehicle") -> str:
        return self.publish(
            Kind.PLATE_READ, site, "edge-north",
            {"gate": gate, "plate": plate, "color": "blue", "confidence": 0.95, "frames": 3,
             "crop_jpeg_b64": jpeg_b64(plate[-5:])},
        )  # fmt: skip

    def refused(self, site: str, plate: str, reason: str = "blacklisted") -> str:
        return self.publish(
            Kind.GATE_DECISION, site, "edge-north",
            {"gate": "north-vehicle", "credential": "plate", "subject": plate,
             "decision": "refuse", "reason": reason},
        )  # fmt: skip

    def face_alarm(self, site: str, crop_b64: str | None, alarm: str = "blacklist") -> str:
        return self.publish(
            Kind.ALARM, site, "edge-east",
            {"type": alarm, "gate": "east-pedestrian", "severity": "critical",
             "detail": "bl-1 tried face", "crop_jpeg_b64": crop_b64},
        )  # fmt: skip

    def slot(self, site: str, slot: str, occupied: bool, at: datetime, plate: str | None = None):
        return self.publish(
            Kind.SLOT_STATE, site, "edge-carpark",
            {"slot": slot, "occupied": occupied, "since": at.isoformat(), "source": "camera",
             "plate": plate},
        )  # fmt: skip

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


async def until(check: Callable[[], Awaitable[Any]], timeout: float = 10.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"not met within {timeout} s: {what}")


@dataclass
class Console:
    hub: Hub
    server: ConsoleServer
    sites: list[SiteConfig]
    edge: SimEdge | None = None
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def client(self) -> httpx.AsyncClient:
        c = httpx.AsyncClient(base_url=self.url, timeout=20.0, follow_redirects=False)
        self.clients.append(c)
        return c

    async def login(self, username: str, password: str | None = None) -> httpx.AsyncClient:
        """A client logged in as ``username``, with its CSRF token as a default header."""
        c = self.client()
        form = await c.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
        r = await c.post(
            "/login",
            data={"username": username, "password": password or PASSWORDS[username],
                  "csrf_token": csrf, "next": "/live"},
        )  # fmt: skip
        assert r.status_code == 303, r.text
        page = await c.get("/live")
        token = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        c.headers["X-CSRF-Token"] = token
        return c

    async def close(self) -> None:
        for c in self.clients:
            await c.aclose()
        if self.edge:
            self.edge.close()
        await self.server.stop()


async def start_console(
    hub: Hub,
    sites: list[SiteConfig],
    *,
    timeout_s: float = 10.0,
    secure: bool = False,
    trusted_proxies: tuple[str, ...] = (),
) -> Console:
    app = create_app(
        hub, sites, secure_cookies=secure, command_timeout_s=timeout_s, poll_s=0.1,
        password_hasher=FAST_ARGON2,
    )  # fmt: skip
    server = ConsoleServer(app, "127.0.0.1", 0, trusted_proxies=trusted_proxies)
    await server.start()
    return Console(hub, server, sites)


def now() -> datetime:
    return datetime.now(UTC)


def sse_events(text: str) -> list[dict[str, Any]]:
    out = []
    for block in text.split("\n\n"):
        lines = dict(
            line.split(": ", 1) for line in block.splitlines() if ": " in line and line[0] != ":"
        )
        if lines.get("event") == "event":
            out.append(json.loads(lines["data"]))
    return out


__all__ = ["Path"]
