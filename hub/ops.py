"""The hub's operations endpoints: ``/metrics`` (Prometheus text), ``/healthz``, ``/readyz``.

Served by a small listener of its own (``anju hub --ops-port``, default 127.0.0.1:9108),
apart from the console: probes and scrapes keep working with the console off, and they
never meet the console's login, CSRF checks or login throttling. Bound to loopback by
default because the metrics name every device; expose it to a Prometheus elsewhere with
``--ops-host`` behind a firewall. The console also answers ``/healthz`` and ``/readyz``
(status only), for a load balancer in front of it.

- ``/healthz``: 200 while the process answers (liveness: restart it if this fails).
- ``/readyz``: 200 when the hub stores and acknowledges; 503 during a storage fault
  (``hub_storage_fault``: nothing acknowledged, the broker keeps the messages) or while
  the broker connection is down; the JSON body says why.
"""

from __future__ import annotations

import logging
from typing import Protocol

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.health import HubHealth
from hub.http_server import EmbeddedServer
from hub.metrics import CONTENT_TYPE, HubMetrics
from models.messages import utcnow

log = logging.getLogger(__name__)

DEFAULT_OPS_PORT = 9108


class Observable(Protocol):
    health: HubHealth
    metrics: HubMetrics


def healthz_response() -> Response:
    return JSONResponse({"status": "alive"})


def readyz_response(hub: Observable) -> Response:
    body = hub.health.report(utcnow())
    return JSONResponse(body, status_code=200 if hub.health.ready else 503)


def ops_app(hub: Observable) -> Starlette:
    async def metrics(_request: Request) -> Response:
        return Response(hub.metrics.text(), media_type=CONTENT_TYPE)

    async def healthz(_request: Request) -> Response:
        return healthz_response()

    async def readyz(_request: Request) -> Response:
        return readyz_response(hub)

    return Starlette(
        routes=[
            Route("/metrics", metrics),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ]
    )


class OpsServer(EmbeddedServer):
    """The ops listener in the hub's event loop: ``await start()``, ``url``, ``await stop()``."""

    def __init__(self, hub: Observable, host: str = "127.0.0.1", port: int = DEFAULT_OPS_PORT):
        config = uvicorn.Config(
            ops_app(hub),
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        super().__init__(config, name="ops")

    async def start(self) -> None:
        await super().start()
        log.info("metrics and health on %s (/metrics, /healthz, /readyz)", self.url)
