"""Site configuration: one community, its gates, car park, lists and rules.

Loaded from YAML and validated by pydantic; unknown keys and bad values are
rejected with the file, the key path and the reason (``ConfigError``).
"""

from __future__ import annotations

import os
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from models.plate import normalize_plate, plate_error, province

ModelT = TypeVar("ModelT", bound=BaseModel)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_SITE = PROJECT_ROOT / "config" / "lakeside.yaml"

Identifier = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
]


class ConfigError(ValueError):
    """A config file that cannot be used; the message names file, key path and reason."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _plate(value: str) -> str:
    plate = normalize_plate(value)
    if reason := plate_error(plate):
        raise ValueError(f"{value!r} is not a plate: {reason}")
    return plate


class Company(Section):
    id: Identifier
    name: str = Field(min_length=1)


class SiteInfo(Section):
    id: Identifier
    name: str = Field(min_length=1)
    name_en: str = ""
    company: Company
    timezone: str = "Asia/Shanghai"
    # Where most cars here are registered (浙 for a community in Zhejiang): a plate whose
    # province character is illegible is read as this one when it is among the likely
    # few. A clearly read province is never changed.
    home_province: str | None = None

    @field_validator("home_province")
    @classmethod
    def _province(cls, value: str | None) -> str | None:
        return None if value is None else province(value)


class Credentials(Section):
    """MQTT credentials. Secrets come from the environment or a file, never the YAML."""

    username: str = Field(min_length=1)
    password_env: str | None = None
    password_file: Path | None = None

    @model_validator(mode="after")
    def _one_secret(self) -> Credentials:
        if (self.password_env is None) == (self.password_file is None):
            raise ValueError("give exactly one of password_env or password_file")
        return self

    def password(self) -> str:
        if self.password_env is not None:
            value = os.environ.get(self.password_env)
            if value is None:
                raise ConfigError(f"environment variable {self.password_env} is not set")
            return value
        assert self.password_file is not None
        return self.password_file.read_text().strip()


class CameraConfig(Section):
    """``source``: ``sim:NAME`` for the simulator, an RTSP/HTTP URL, a file, or a device index."""

    source: str | int
    width: int = Field(default=1280, ge=160, le=3840)
    height: int = Field(default=720, ge=120, le=2160)
    fps: float = Field(default=5.0, gt=0, le=60)


class RelayConfig(Section):
    driver: Literal["sim", "gpio"] = "sim"
    pin: int | None = Field(default=None, ge=0, le=40)
    active_high: bool = True

    @model_validator(mode="after")
    def _gpio_needs_pin(self) -> RelayConfig:
        if self.driver == "gpio" and self.pin is None:
            raise ValueError("a gpio relay needs a pin")
        return self


class DoorContactConfig(Section):
    """A pedestrian gate's door contact (reed switch): raises door-forced and door-held alarms.

    ``driver: sim`` reads the simulator's door; ``gpio`` reads a sysfs GPIO input.
    ``open_level``: the pin level (1 or 0) that means the door is open.
    """

    driver: Literal["sim", "gpio"] = "sim"
    pin: int | None = Field(default=None, ge=0, le=40)
    open_level: Literal[0, 1] = 1
    held_open_s: float = Field(default=15.0, gt=0, le=3600, description="door_held alarm after")

    @model_validator(mode="after")
    def _gpio_needs_pin(self) -> DoorContactConfig:
        if self.driver == "gpio" and self.pin is None:
            raise ValueError("a gpio door contact needs a pin")
        return self


class LoopDetectorConfig(Section):
    """A vehicle gate's inductive loop detector (its relay output on a GPIO input): the
    gate recognises plates only while a vehicle is on the loop, and never lowers the barrier
    onto one. Without it a real-hardware gate recognises continuously."""

    driver: Literal["gpio"] = "gpio"
    pin: int = Field(ge=0, le=40)
    active_level: Literal[0, 1] = 1


class GateType(StrEnum):
    VEHICLE = "vehicle"
    PEDESTRIAN = "pedestrian"


class GateConfig(Section):
    id: Identifier
    name: str = ""
    type: GateType
    direction: Literal["in", "out", "both"] = "both"
    camera: CameraConfig
    relay: RelayConfig = RelayConfig()
    open_seconds: float = Field(default=8.0, gt=0, le=120)
    min_plate_confidence: float = Field(default=0.80, ge=0, le=1)
    door: DoorContactConfig | None = None  # pedestrian gates with a door contact
    loop: LoopDetectorConfig | None = None  # vehicle gates on real hardware
    # Where the plate of a car standing on the loop shows in the frame, as fractions of the
    # frame [x, y, width, height]: only that region is read (faster, and no plate of a car
    # behind or on a sign outside it). None: the whole frame.
    plate_region: tuple[float, float, float, float] | None = None

    @field_validator("plate_region")
    @classmethod
    def _region_inside_frame(
        cls, v: tuple[float, float, float, float] | None
    ) -> tuple[float, float, float, float] | None:
        if v is None:
            return v
        x, y, w, h = v
        if not (0 <= x < 1 and 0 <= y < 1 and 0 < w <= 1 - x + 1e-9 and 0 < h <= 1 - y + 1e-9):
            raise ValueError(
                "plate_region: [x, y, width, height] as fractions of the frame, inside it"
            )
        return v

    def plate_region_px(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The plate region in pixels of a ``width`` x ``height`` frame: x0, y0, x1, y1."""
        if self.plate_region is None:
            return 0, 0, width, height
        x, y, w, h = self.plate_region
        x0, y0 = round(x * width), round(y * height)
        return x0, y0, min(width, round((x + w) * width)), min(height, round((y + h) * height))

    @model_validator(mode="after")
    def _door_on_pedestrian_gate(self) -> GateConfig:
        if self.door is not None and self.type is not GateType.PEDESTRIAN:
            raise ValueError("door: only a pedestrian gate has a door contact")
        if self.loop is not None and self.type is not GateType.VEHICLE:
            raise ValueError("loop: only a vehicle gate has a loop detector")
        return self


class EdgeConfig(Section):
    id: Identifier
    gates: list[Identifier] = Field(default_factory=list)
    car_park: bool = False
    credentials: Credentials | None = None
    heartbeat_s: float = Field(default=15.0, gt=0, le=3600)
    # Undelivered outbox payloads kept while the hub or broker is unreachable: past it the
    # oldest heartbeats go first; events are never dropped (docs/mqtt.md, "Edge outbox").
    outbox_max_mb: float = Field(default=512.0, gt=0, le=1024 * 1024)


class ZoneKind(StrEnum):
    GENERAL = "general"
    RESERVED = "reserved"
    VISITOR = "visitor"
    FIRE_LANE = "fire_lane"
    NO_PARKING = "no_parking"
    UNMARKED = "unmarked"  # aisle/driveway regions watched for cars parked outside marked bays


class Zone(Section):
    id: Identifier
    kind: ZoneKind
    max_minutes: float | None = Field(
        default=None, gt=0, description="fire lane / no-parking: violation after this long"
    )


Point = tuple[int, int]


class Slot(Section):
    id: Identifier
    zone: Identifier
    polygon: list[Point] = Field(min_length=3)
    reserved_for: list[str] = Field(default_factory=list)

    _check_plates = field_validator("reserved_for")(lambda cls, v: [_plate(p) for p in v])


class CarPark(Section):
    camera: CameraConfig | None = None
    capacity: int = Field(ge=1)
    visitor_quota: int = Field(ge=0)
    zones: list[Zone]
    slots: list[Slot] = Field(min_length=1)

    @model_validator(mode="after")
    def _zones_exist(self) -> CarPark:
        zone_ids = {z.id for z in self.zones}
        for i, slot in enumerate(self.slots):
            if slot.zone not in zone_ids:
                raise ValueError(f"slots[{i}] ({slot.id}) names unknown zone {slot.zone!r}")
        _unique("slots", [s.id for s in self.slots])
        _unique("zones", [z.id for z in self.zones])
        return self


class Resident(Section):
    plate: str
    owner: str = ""
    unit: str = ""

    _check_plate = field_validator("plate")(lambda cls, v: _plate(v))


class Blacklisted(Section):
    plate: str
    reason: str = Field(min_length=1)

    _check_plate = field_validator("plate")(lambda cls, v: _plate(v))


class VisitorPass(Section):
    id: Identifier
    plate: str
    host_unit: str = ""
    valid_from: AwareDatetime
    valid_until: AwareDatetime

    _check_plate = field_validator("plate")(lambda cls, v: _plate(v))

    @model_validator(mode="after")
    def _ordered(self) -> VisitorPass:
        if self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self

    def valid_at(self, when: datetime) -> bool:
        return self.valid_from <= when < self.valid_until


class Vehicles(Section):
    residents: list[Resident] = Field(default_factory=list)
    blacklist: list[Blacklisted] = Field(default_factory=list)
    visitor_passes: list[VisitorPass] = Field(default_factory=list)


class Rules(Section):
    device_offline_after_s: float = Field(default=90.0, gt=0)
    unknown_vehicle_is_violation: bool = True
    # Device timestamps the hub accepts, relative to its own receive time (docs/mqtt.md):
    # a little ahead (clock skew), and behind by at most the longest outage an edge's
    # outbox is expected to bridge (events delivered late keep their own time).
    max_clock_ahead_s: float = Field(default=300.0, gt=0, le=86400)
    max_event_age_s: float = Field(default=14 * 86400.0, gt=0, le=400 * 86400)


class Retention(Section):
    """How long the hub keeps what it stores, in whole days (hub/retention/, docs/retention.md).

    Violations, supervision records and the audit log are never purged by age.
    """

    evidence_days: int = Field(
        default=30, ge=1, le=3660, description="evidence snapshots (*_jpeg_b64) kept this long"
    )
    evidence_days_violation: int = Field(
        default=180, ge=1, le=3660, description="snapshots of a violation's evidence events"
    )
    events_days: int = Field(
        default=400, ge=1, le=3660, description="events deleted after, except violation evidence"
    )
    rejected_days: int = Field(default=30, ge=1, le=3660, description="rejected messages")
    face_consent_grace_days: int = Field(
        default=0, ge=0, le=3660, description="erase a person this long after every consent lapsed"
    )

    @model_validator(mode="after")
    def _ordered(self) -> Retention:
        # A violation's evidence outlives ordinary snapshots; a row outlives its snapshot.
        if self.evidence_days_violation < self.evidence_days:
            raise ValueError(
                f"evidence_days_violation ({self.evidence_days_violation}) must be at least "
                f"evidence_days ({self.evidence_days})"
            )
        if self.events_days < self.evidence_days_violation:
            raise ValueError(
                f"events_days ({self.events_days}) must be at least "
                f"evidence_days_violation ({self.evidence_days_violation})"
            )
        return self


class SiteConfig(Section):
    site: SiteInfo
    edges: list[EdgeConfig] = Field(min_length=1)
    gates: list[GateConfig] = Field(min_length=1)
    car_park: CarPark | None = None
    vehicles: Vehicles = Vehicles()
    rules: Rules = Rules()
    retention: Retention = Retention()

    @model_validator(mode="after")
    def _references(self) -> SiteConfig:
        _unique("edges", [e.id for e in self.edges])
        _unique("gates", [g.id for g in self.gates])
        gate_ids = {g.id for g in self.gates}
        owner: dict[str, str] = {}
        for i, edge in enumerate(self.edges):
            for gate in edge.gates:
                if gate not in gate_ids:
                    raise ValueError(f"edges[{i}] ({edge.id}) names unknown gate {gate!r}")
                if gate in owner:
                    raise ValueError(f"gate {gate!r} belongs to both {owner[gate]} and {edge.id}")
                owner[gate] = edge.id
        if orphans := gate_ids - owner.keys():
            raise ValueError(f"gates {sorted(orphans)} are not assigned to any edge")
        return self

    def edge(self, edge_id: str) -> EdgeConfig:
        for edge in self.edges:
            if edge.id == edge_id:
                return edge
        raise ConfigError(f"no edge {edge_id!r} in site {self.site.id} (have {self.edge_ids()})")

    def edge_ids(self) -> list[str]:
        return [e.id for e in self.edges]

    def gate(self, gate_id: str) -> GateConfig:
        for gate in self.gates:
            if gate.id == gate_id:
                return gate
        raise ConfigError(f"no gate {gate_id!r} in site {self.site.id}")

    def gates_of(self, edge_id: str) -> list[GateConfig]:
        return [self.gate(g) for g in self.edge(edge_id).gates]


def _unique(what: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for value in ids:
        if value in seen:
            raise ValueError(f"duplicate id {value!r} in {what}")
        seen.add(value)


def _format_error(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: {exc.error_count()} error(s)"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        lines.append(f"  {path}: {where}: {msg}")
    return "\n".join(lines)


def load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None


def parse_config(model: type[ModelT], data: Any, path: Path) -> ModelT:
    """Validate ``data`` against ``model``; errors name ``path``, the key path and the reason."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: (top level): expected a mapping of keys")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(path, exc)) from None


def load_site_config(path: Path | str = EXAMPLE_SITE) -> SiteConfig:
    path = Path(path)
    return parse_config(SiteConfig, load_yaml(path), path)
