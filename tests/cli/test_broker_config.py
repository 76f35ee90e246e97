"""`anju broker-config` on the command line, then the real `anju hub` and `anju edge
--simulate` processes logging in to a mosquitto running the generated config with nothing
but the env file each was handed (password from a file or the environment, TLS files);
a wrong password makes `anju hub` exit with the broker's reason instead of hanging."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from models.site import EXAMPLE_SITE
from tests.mosquitto import GeneratedBroker, free_port

pytestmark = pytest.mark.e2e

ANJU = [sys.executable, "-m", "anju_cli.main"]


def env_file(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def wait_log(
    broker: GeneratedBroker, text: str, proc: subprocess.Popen[str], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while text not in broker.log():
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode}: {proc.communicate()[1][-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not in the broker log: {broker.log()[-2000:]}")
        time.sleep(0.2)


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def test_generated_config_serves_anju_hub_and_anju_edge(tmp_path: Path) -> None:
    out = tmp_path / "layout"
    port = free_port()
    done = subprocess.run(
        [*ANJU, "broker-config", "--site", str(EXAMPLE_SITE), "--out", str(out),
         "--port", str(port), "--bind", "127.0.0.1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "client edge-east@lakeside" in done.stdout
    broker = GeneratedBroker(out / "brokers" / "community", port)
    broker.start()
    url = f"mqtts://127.0.0.1:{port}"
    base = {k: v for k, v in os.environ.items() if not k.startswith("ANJU_")}
    hub_env = {**base, **env_file(out / "clients" / "anju-hub" / "env")}
    edge_env = {**base, **env_file(out / "clients" / "edge-east@lakeside" / "env")}
    assert "ANJU_HUB_PASSWORD_FILE" in hub_env and "ANJU_EDGE_EAST_PASSWORD" in edge_env
    procs = []
    try:
        hub = subprocess.Popen(
            [*ANJU, "hub", "--site", str(EXAMPLE_SITE), "--broker", url, "--data",
             str(tmp_path / "hub"), "--no-console", "--no-ops"],
            env=hub_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        procs.append(hub)
        wait_log(broker, "as anju-hub (", hub, 60)
        edge = subprocess.Popen(
            [*ANJU, "edge", "--simulate", "--device", "edge-east", "--site", str(EXAMPLE_SITE),
             "--broker", url, "--data", str(tmp_path / "edges")],
            env=edge_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        procs.append(edge)
        wait_log(broker, "as edge-east@lakeside (", edge, 60)
    finally:
        for proc in procs:
            stop(proc)

    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-it\n")
    started = time.monotonic()
    refused = subprocess.run(
        [*ANJU, "hub", "--site", str(EXAMPLE_SITE), "--broker", url, "--data",
         str(tmp_path / "hub2"), "--no-console", "--no-ops", "--password-file", str(wrong)],
        env=hub_env, capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    broker.stop()
    assert refused.returncode != 0
    assert "Not authorized" in refused.stderr, refused.stderr[-2000:]
    assert time.monotonic() - started < 60


def test_anju_sim_and_loadgen_log_in_to_the_generated_broker(tmp_path: Path) -> None:
    """Every edge `anju sim` plays logs in as its own DEVICE@SITE user with the password
    its env file gives, over TLS (one client certificate for the simulator); `anju loadgen
    --site` likewise."""
    out = tmp_path / "layout"
    port = free_port()
    done = subprocess.run(
        [*ANJU, "broker-config", "--site", str(EXAMPLE_SITE), "--out", str(out),
         "--port", str(port), "--bind", "127.0.0.1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    broker = GeneratedBroker(out / "brokers" / "community", port)
    broker.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANJU_")}
    users = [d.name for d in (out / "clients").iterdir() if d.name.startswith("edge-")]
    for user in users:
        env |= {k: v for k, v in env_file(out / "clients" / user / "env").items() if "PASS" in k}
    cert = out / "clients" / "edge-north@lakeside"
    tls = ["--ca-file", str(cert / "ca.crt"), "--cert", str(cert / "client.crt"),
           "--key", str(cert / "client.key")]  # fmt: skip
    url = f"mqtts://127.0.0.1:{port}"
    try:
        sim = subprocess.run(
            [*ANJU, "sim", "--duration", "2", "--broker", url, "--data", str(tmp_path / "sim"),
             *tls],
            env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert sim.returncode == 0, sim.stderr[-2000:]
        log = broker.log()
        assert sorted(users) == sorted(u for u in users if f"as {u} (" in log), log[-2000:]
        loadgen = subprocess.run(
            [*ANJU, "loadgen", "--site", str(EXAMPLE_SITE), "--devices", "2", "--rate", "10",
             "--duration", "1", "--processes", "1", "--broker", url, "--data",
             str(tmp_path / "lg"), "--drain-timeout", "20", *tls],
            env=env, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert loadgen.returncode == 0, loadgen.stderr[-2000:]
        assert '"undelivered": 0' in loadgen.stdout
        assert broker.log().count("as edge-south@lakeside (") == 2  # sim, then loadgen
    finally:
        broker.stop()
