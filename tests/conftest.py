from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mosquitto import MosquittoBroker


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A private, anonymous mosquitto on a free port (see tests/mosquitto.py)."""
    broker_dir = tmp_path / "broker"
    broker_dir.mkdir()
    broker = MosquittoBroker(broker_dir)
    broker.start()
    yield broker
    broker.stop()
