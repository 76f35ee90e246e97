"""uvicorn inside the hub's running event loop, for the console and the ops listener:
``await start()`` (returns once it listens, with the bound port), ``url``, ``await stop()``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the hub (or the demo) owns SIGINT/SIGTERM, not its HTTP listeners


class EmbeddedServer:
    """One uvicorn server run as a task of the current loop."""

    def __init__(self, config: uvicorn.Config, *, name: str, scheme: str = "http") -> None:
        self.server = _Server(config)
        self.name = name
        self.scheme = scheme
        self.host = config.host
        self.port = config.port  # the bound port once started (port 0: a free one)
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    async def start(self) -> None:
        self._task = asyncio.create_task(self.server.serve(), name=f"{self.name}-http")
        while not self.server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it (e.g. port in use)
                raise RuntimeError(f"the {self.name} server stopped while starting")
            await asyncio.sleep(0.02)
        for server in self.server.servers:
            for sock in server.sockets:
                self.port = sock.getsockname()[1]

    async def wait(self) -> None:
        assert self._task is not None
        await self._task

    async def stop(self) -> None:
        if self._task is None:
            return
        self.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
