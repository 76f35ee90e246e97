from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mosquitto import MosquittoBroker, durable_mosquitto


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
