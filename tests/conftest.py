from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from models.face_bundle import KEY_ENV, generate_key, parse_key
from tests.databases import ENGINES, database
from tests.mosquitto import MosquittoBroker, durable_mosquitto


@pytest.fixture
def face_key(monkeypatch: pytest.MonkeyPatch) -> bytes:
    """A fresh face key, also set as the hub's and the CLI's (ANJU_FACE_KEY)."""
    text = generate_key()
    monkeypatch.setenv(KEY_ENV, text)
    monkeypatch.delenv("ANJU_FACE_KEY_FILE", raising=False)
    return parse_key(text)


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A private, anonymous mosquitto on a free port (see tests/mosquitto.py)."""
    broker_dir = tmp_path / "broker"
    broker_dir.mkdir()
    broker = MosquittoBroker(broker_dir)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def durable_broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A private mosquitto that keeps sessions across a restart, like a production broker
    (``persistence true``): the hub's persistent session survives a broker restart."""
    broker = durable_mosquitto(tmp_path)
    yield broker
    broker.stop()


@pytest.fixture(params=ENGINES)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str | None]:
    """Each storage test once per engine: None (SQLite in the data dir) or a fresh
    PostgreSQL database's URL (tests/databases.py)."""
    async with database(request.param, tmp_path) as url:
        yield url
