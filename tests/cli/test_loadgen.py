"""``anju loadgen``: the synthetic site is a valid site config, and the mix is valid on the
wire (strict parsing) with plate reads carrying a real JPEG crop."""

from __future__ import annotations

import base64
import random
from pathlib import Path

import cv2
import numpy as np
from typer.testing import CliRunner

from anju_cli.loadgen import LoadPlan, MixGenerator, plate_crop_b64, plates, worker_plans
from anju_cli.main import app
from hub.validate import Accepted, Validator
from models.messages import utcnow
from models.site import load_site_config


def test_write_site_gives_a_valid_config_with_one_gate_per_device(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    result = CliRunner().invoke(app, ["loadgen", "--write-site", str(path), "--devices", "7"])
    assert result.exit_code == 0, result.output
    site = load_site_config(path)
    assert len(site.edges) == 7 and all(len(e.gates) == 1 for e in site.edges)
    plans = worker_plans(LoadPlan("mqtt://x:1", site, 7, 700.0, 1.0, tmp_path, processes=3))
    assert sorted(d for p in plans for d, _g in p.devices) == [e.id for e in site.edges]
    assert all(p.rate_per_device == 100.0 for p in plans)


def test_the_mix_passes_the_hubs_validator(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    CliRunner().invoke(app, ["loadgen", "--write-site", str(path), "--devices", "1"])
    site = load_site_config(path)
    rng = random.Random(3)
    crop = plate_crop_b64()
    jpeg = cv2.imdecode(np.frombuffer(base64.b64decode(crop), np.uint8), cv2.IMREAD_COLOR)
    assert jpeg.shape == (56, 180, 3)  # a real JPEG
    gen = MixGenerator("loadtest", "lg-0000", "lg-0000-gate", crop, rng, plates(rng, 5))
    validator = Validator([site])
    kinds = set()
    for _ in range(200):
        topic, message, droppable = gen.next()
        checked = validator.check(topic, message.to_json(), utcnow())
        assert isinstance(checked, Accepted), checked
        kinds.add(message.kind)  # type: ignore[attr-defined]
        assert droppable == (message.kind == "heartbeat")  # type: ignore[attr-defined]
    assert kinds == {"plate_read", "gate_decision", "slot_state", "heartbeat"}
