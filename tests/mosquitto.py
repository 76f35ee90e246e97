"""A real mosquitto broker per test, on a free port, with its own config.

Learned from mosquitto's own test/broker suite: every test gets a private
broker, so tests never see each other's retained messages or sessions.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MosquittoBroker:
    """Start/stop/restart a mosquitto process on one port (the port survives restarts)."""

    def __init__(self, workdir: Path, *, port: int | None = None, extra_config: str = "") -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.extra_config = extra_config
        self.proc: subprocess.Popen[bytes] | None = None
        self.config_path = workdir / "mosquitto.conf"
        self.log_path = workdir / "mosquitto.log"

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def write_config(self) -> None:
        # The default max_queued_messages (1000) silently drops QoS 1 messages to a slow
        # subscriber; as root mosquitto must not drop privileges (it could not write files).
        self.config_path.write_text(
            "\n".join(
                [
                    f"listener {self.port} 127.0.0.1",
                    "user root",
                    "persistence false",
                    "max_queued_messages 100000",
                    "max_inflight_messages 0",
                    "max_queued_bytes 0",
                    f"log_dest file {self.log_path}",
                    "log_type error",
                    "log_type warning",
                    "log_type notice",
                    "connection_messages true",
                    self.extra_config or "allow_anonymous true",
                    "",
                ]
            )
        )

    def start(self, timeout: float = 10.0) -> None:
        self.write_config()
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"mosquitto exited: {err} {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port}: {self.log()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


def durable_mosquitto(tmp_path: Path) -> MosquittoBroker:
    """mosquitto that keeps sessions and queued messages across a restart (persistence on),
    so a test's hub-side subscriber misses nothing while it reconnects."""
    workdir = tmp_path / "durable"
    workdir.mkdir()
    broker = MosquittoBroker(
        workdir,
        extra_config="\n".join(
            [
                "allow_anonymous true",
                "persistence true",
                f"persistence_location {workdir}/",
            ]
        ),
    )
    broker.start()
    return broker


class GeneratedBroker(MosquittoBroker):
    """mosquitto started on a config ``anju broker-config`` generated, unchanged but for
    what a test box needs: run as root without dropping privileges, log to a file."""

    def __init__(self, broker_dir: Path, port: int) -> None:
        super().__init__(broker_dir, port=port)
        self.broker_dir = broker_dir
        self.config_path = broker_dir / "test.conf"

    def write_config(self) -> None:
        generated = (self.broker_dir / "mosquitto.conf").read_text()
        test_lines = [
            "user root",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
        ]
        # the generated file's own include_dir (bridge) must stay after the global options
        self.config_path.write_text("\n".join([*test_lines, generated]))

    @property
    def url(self) -> str:
        return f"mqtts://127.0.0.1:{self.port}"
