"""Shared by the generated-broker tests (no tests here): two communities, a layout written
by ``anju broker-config``'s own code, TLS paho clients that log in as its users."""

from __future__ import annotations

import json
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from models.site import SiteConfig, load_site_config
from transport import Credentials, TlsSettings


def community(site_id: str) -> SiteConfig:
    """The example site under another id, its edges' broker users renamed to match."""
    site = load_site_config()
    edges = []
    for edge in site.edges:
        login = edge.credentials
        if login is not None:
            login = login.model_copy(update={"username": f"{edge.id}@{site_id}"})
        edges.append(edge.model_copy(update={"credentials": login}))
    return site.model_copy(
        update={"site": site.site.model_copy(update={"id": site_id}), "edges": edges}
    )


@dataclass
class Layout:
    out: Path

    @property
    def passwords(self) -> dict[str, str]:
        return json.loads((self.out / "secrets.json").read_text())

    def client_dir(self, user: str) -> Path:
        return self.out / "clients" / user

    def broker_dir(self, name: str) -> Path:
        return self.out / "brokers" / name

    def tls(self, user: str) -> TlsSettings:
        d = self.client_dir(user)
        return TlsSettings(
            ca_file=d / "ca.crt", cert_file=d / "client.crt", key_file=d / "client.key"
        )

    def login(self, user: str) -> Credentials:
        return Credentials(user, self.passwords[user])


class TlsClient:
    """A plain paho client over TLS with a generated user's certificate (or none)."""

    def __init__(
        self,
        port: int,
        layout: Layout,
        user: str | None,
        password: str | None = None,
        *,
        cert_of: str | None = "",
        client_id: str | None = None,
    ) -> None:
        self.received: list[mqtt.MQTTMessage] = []
        self.granted: list[Any] = []
        self._cond = threading.Condition()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"t{time.time_ns()}"
        )
        cert_user = user if cert_of == "" else cert_of
        ca = layout.out / "ca" / "ca.crt"
        if cert_user:
            d = layout.client_dir(cert_user)
            self.client.tls_set(str(ca), str(d / "client.crt"), str(d / "client.key"))
        else:
            self.client.tls_set(str(ca), cert_reqs=ssl.CERT_REQUIRED)
        if user:
            pw = layout.passwords[user] if password is None else password
            self.client.username_pw_set(user, pw)
        self.reason: Any = None
        connected = threading.Event()

        def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            self.reason = reason
            connected.set()

        self.client.on_connect = on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda _c, _u, _m, codes, _p: self.granted.extend(codes)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        connected.wait(5)  # no CONNACK at all: refused during the TLS handshake

    @property
    def refused(self) -> bool:
        return self.reason is None or self.reason.is_failure

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.received.append(msg)
            self._cond.notify_all()

    def topics(self) -> list[str]:
        with self._cond:
            return [m.topic for m in self.received]

    def wait_for(self, predicate: Any, timeout: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
