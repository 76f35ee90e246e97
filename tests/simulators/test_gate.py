"""The simulated vehicle gate (a fake clock drives it) and the real drivers that can run here."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.drivers.gpio_input import SysfsGpioDoorContact, SysfsGpioLoopDetector
from edge.drivers.gpio_relay import SysfsGpioRelay, chip_base
from edge.drivers.opencv_camera import OpenCVCamera, parse_source
from models.messages import GatePosition
from models.site import GateConfig
from simulators.gate import SimRelay, SimulatedVehicleGate
from simulators.pedestrian_gate import SimDoorContact


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_car_drives_through_after_the_barrier_opens() -> None:
    clock = Clock()
    gate = SimulatedVehicleGate("g", drive_through_s=2, give_up_s=10, clock=clock)
    assert not gate.sensor.present() and not gate.occupied
    gate.arrive("浙HA1234")
    assert gate.sensor.present()
    clock.t += 1
    gate.relay.open(5)
    assert gate.relay.position is GatePosition.OPEN
    clock.t += 1.9
    assert gate.sensor.present()
    clock.t += 0.2
    assert not gate.sensor.present()
    (visit,) = gate.history
    assert (visit.plate, visit.opened_at, visit.departed) == ("浙HA1234", 101.0, 103.0)


def test_refused_car_gives_up_and_the_loop_drops_between_cars() -> None:
    clock = Clock()
    gate = SimulatedVehicleGate("g", give_up_s=3, loop_gap_s=0.5, clock=clock)
    gate.relay.open(1)  # an open before the car arrived does not let it through
    gate.relay.close()
    clock.t += 1
    gate.arrive("浙HX9999")
    clock.t += 2.9
    assert gate.occupied
    clock.t += 0.2
    assert not gate.occupied
    assert gate.history[0].opened_at is None and gate.history[0].departed == 104.0
    gate.arrive("京A12345")  # right behind: the camera sees it, the loop not yet
    assert gate.occupied and not gate.sensor.present()
    clock.t += 0.5
    assert gate.sensor.present()
    gate.depart()
    assert not gate.occupied and len(gate.history) == 2


def test_a_follower_drives_through_a_barrier_that_is_still_up() -> None:
    clock = Clock()
    gate = SimulatedVehicleGate("g", drive_through_s=2, give_up_s=10, clock=clock)
    gate.arrive("浙HA1234")
    gate.relay.open(30)
    clock.t += 0.5
    gate.tailgate("京A12345")  # no loop gap: the sensor never reads absent
    assert gate.sensor.present()
    clock.t += 2.0
    assert not gate.sensor.present()  # gone through, without an open of its own
    assert [(v.plate, v.opened_at) for v in gate.history] == [
        ("浙HA1234", 100.0),
        ("京A12345", 100.5),
    ]
    gate.relay.close()
    gate.tailgate("沪B2Q789")  # with the barrier down a follower just waits
    clock.t += 5
    assert gate.occupied


def test_camera_renders_the_car_with_fresh_noise_per_frame() -> None:
    gate = SimulatedVehicleGate("g", size=(640, 360))
    empty = gate.camera.read()
    assert empty is not None and empty.shape == (360, 640, 3)
    gate.arrive("浙HA1234")
    first, second = gate.camera.read(), gate.camera.read()
    assert first is not None and second is not None and first.shape == (360, 640, 3)
    assert not np.array_equal(first, second)  # sensor noise differs
    assert np.abs(first.astype(int) - second.astype(int)).mean() < 8  # same scene
    assert np.abs(first.astype(int) - empty.astype(int)).mean() > 8  # a car is there


def test_opencv_camera_reads_and_loops_a_video_file(tmp_path: Path) -> None:
    path = tmp_path / "gate.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (320, 240))
    for i in range(3):
        writer.write(np.full((240, 320, 3), 60 * (i + 1), np.uint8))
    writer.release()
    camera = OpenCVCamera(str(path))
    levels = []
    for _ in range(5):
        frame = camera.read()
        assert frame is not None and frame.shape == (240, 320, 3)
        levels.append(round(float(frame.mean()) / 60))
    assert levels == [1, 2, 3, 1, 2]  # loops at the end of the file
    camera.close()


def test_opencv_camera_without_a_source_returns_none_and_backs_off(tmp_path: Path) -> None:
    camera = OpenCVCamera(str(tmp_path / "missing.mp4"), reopen_s=60)
    assert camera.read() is None
    assert camera.read() is None  # no second open attempt within reopen_s
    assert parse_source("0") == 0 and parse_source("rtsp://cam/1") == "rtsp://cam/1"
    with pytest.raises(ValueError, match="simulator"):
        OpenCVCamera("sim:north-vehicle")


def fake_sysfs(root: Path, base: int, label: str) -> None:
    chip = root / f"gpiochip{base}"
    chip.mkdir(parents=True)
    (chip / "base").write_text(f"{base}\n")
    (chip / "label").write_text(f"{label}\n")
    (root / "export").write_text("")
    (root / "unexport").write_text("")


def test_gpio_relay_drives_the_line_through_sysfs_files(tmp_path: Path) -> None:
    """Only the file protocol can be checked here: there is no GPIO on this machine."""
    fake_sysfs(tmp_path, 512, "pinctrl-bcm2711")
    fake_sysfs(tmp_path, 570, "raspberrypi-exp-gpio")
    assert chip_base(tmp_path) == 512
    line = tmp_path / "gpio529"
    line.mkdir()  # what the kernel creates on export
    (line / "direction").write_text("in")
    (line / "value").write_text("0")
    relay = SysfsGpioRelay(17, active_high=False, root=tmp_path)
    assert (line / "direction").read_text() == "high"  # output, de-energised (active low)
    assert (line / "value").read_text() == "1"
    relay.open(8)
    assert (line / "value").read_text() == "0" and relay.position is GatePosition.OPEN
    relay.close()
    assert (line / "value").read_text() == "1" and relay.position is GatePosition.CLOSED
    relay.release()
    assert (tmp_path / "unexport").read_text() == "529"


class MjpegServer:
    """A live HTTP MJPEG stream (what many IP cameras serve), frames numbered by brightness."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.frames_sent = 0
        self.running = True
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                while server.running:
                    level = 40 + (server.frames_sent * 4) % 200  # period: 50 frames
                    ok, jpeg = cv2.imencode(".jpg", np.full((120, 160, 3), level, np.uint8))
                    assert ok
                    try:
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\n")
                        self.wfile.write(f"Content-Length: {len(jpeg)}\r\n\r\n".encode())
                        self.wfile.write(jpeg.tobytes() + b"\r\n")
                    except OSError:
                        return
                    server.frames_sent += 1
                    time.sleep(0.05)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/stream.mjpg"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.running = False
        self.httpd.shutdown()
        self.httpd.server_close()


def test_opencv_camera_keeps_the_newest_frame_of_a_live_stream() -> None:
    server = MjpegServer()
    camera = OpenCVCamera(server.url, max_age_s=0.5)
    try:
        deadline = time.monotonic() + 10
        while camera.read() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        first = camera.read()
        assert first is not None and first.shape == (120, 160, 3)
        time.sleep(0.5)  # a reader that looks only now and then still gets a fresh frame
        later = camera.read()
        assert later is not None and abs(float(later.mean()) - float(first.mean())) > 5
        server.stop()
        time.sleep(1.0)
        assert camera.read() is None  # the stream is gone: no stale frame is served
    finally:
        if server.running:
            server.stop()
        camera.close()


def fake_line(root: Path, base: int, pin: int, value: str) -> Path:
    """A chip at ``base`` and the line the kernel would create on exporting ``pin``."""
    fake_sysfs(root, base, "pinctrl-bcm2711")
    line = root / f"gpio{base + pin}"
    line.mkdir()
    (line / "direction").write_text("out")
    (line / "value").write_text(f"{value}\n")
    return line


def test_gpio_door_contact_reads_the_input_line(tmp_path: Path) -> None:
    line = fake_line(tmp_path, 512, 5, "0")
    door = SysfsGpioDoorContact(5, open_level=1, root=tmp_path)
    assert (line / "direction").read_text() == "in"
    assert not door.is_open()
    (line / "value").write_text("1\n")
    assert door.is_open()
    assert not SysfsGpioDoorContact(5, open_level=0, root=tmp_path).is_open()


def test_gpio_loop_detector_reports_a_vehicle_and_holds_the_barrier(tmp_path: Path) -> None:
    line = fake_line(tmp_path, 0, 22, "1")
    loop = SysfsGpioLoopDetector(22, active_level=0, root=tmp_path)  # pulled low on a car
    assert loop.is_vehicle_detector and not loop.present()
    (line / "value").write_text("0\n")
    assert loop.present()


def test_simulated_door_opens_for_a_walk_through_and_when_forced() -> None:
    clock = [100.0]
    relay = SimRelay(clock=lambda: clock[0])
    door = SimDoorContact(relay, clock=lambda: clock[0])
    assert not door.is_open()
    relay.open(5)
    clock[0] += 0.2
    assert not door.is_open()  # the person has not pushed it yet
    clock[0] += 0.5
    assert door.is_open()
    clock[0] += 2.0
    assert not door.is_open()  # swung shut behind them
    door.open_for(1.0)
    assert door.is_open()
    clock[0] += 1.1
    assert not door.is_open()


@pytest.mark.parametrize(
    ("gate", "message"),
    [
        ({"type": "vehicle", "door": {}}, "only a pedestrian gate"),
        ({"type": "pedestrian", "door": {"driver": "gpio"}}, "needs a pin"),
        ({"type": "pedestrian", "loop": {"pin": 5}}, "only a vehicle gate"),
    ],
)
def test_door_contact_config_errors(gate: dict, message: str) -> None:
    base = {"id": "g1", "camera": {"source": "sim:g1"}}
    with pytest.raises(ValueError, match=message):
        GateConfig.model_validate(base | gate)
