"""Message contracts shared by edge, hub and simulators (pydantic v2).

Every MQTT payload is one JSON *envelope*: schema version, unique id, site,
device, timestamp, kind and a kind-specific payload. ``parse_message`` turns
bytes into the right typed message or raises ``MessageError`` with a reason.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from models.plate import PlateColor, normalize_plate, plate_error
from models.topics import check_segment

SCHEMA_VERSION = 1
MAX_PAYLOAD_BYTES = 256 * 1024  # evidence crops are small JPEGs; anything bigger is refused
# Hub -> edge sync messages may be larger: a face bundle holds every enrolled encoding of a
# site, about 0.9 KB each sealed (10,000 residents with two photos each: about 18 MB).
MAX_SYNC_BYTES = 48 * 1024 * 1024


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class Strict(BaseModel):
    """Base for contracts: unknown fields are an error, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Identifier = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
]
Box = tuple[int, int, int, int]  # x, y, w, h in frame pixels
Score = Annotated[float, Field(ge=0.0, le=1.0)]


class Kind(StrEnum):
    PLATE_READ = "plate_read"
    FACE_MATCH = "face_match"
    GATE_DECISION = "gate_decision"
    GATE_STATE = "gate_state"
    SLOT_STATE = "slot_state"
    HEARTBEAT = "heartbeat"
    DEVICE_STATUS = "device_status"
    ALARM = "alarm"
    GATE_COMMAND = "gate_command"
    COMMAND_ACK = "command_ack"
    VEHICLE_LIST = "vehicle_list"
    CARPARK_SNAPSHOT = "carpark_snapshot"
    FACE_BUNDLE = "face_bundle"


# --------------------------------------------------------------------------- payloads


class PlateRead(Strict):
    """One vehicle's plate, voted over several frames at the barrier."""

    gate: Identifier
    plate: str
    color: PlateColor
    confidence: Score
    frames: int = Field(ge=1, description="frames that voted for this read")
    box: Box | None = None
    crop_jpeg_b64: str | None = Field(
        default=None, max_length=64 * 1024, description="small JPEG of the plate crop, base64"
    )

    @field_validator("plate")
    @classmethod
    def _plate(cls, value: str) -> str:
        plate = normalize_plate(value)
        if reason := plate_error(plate):
            raise ValueError(reason)
        return plate


class FaceMatch(Strict):
    """A face seen at a pedestrian gate. Never carries the template, only who and how close."""

    gate: Identifier
    person: Identifier | None = Field(description="enrolled person id, None when unknown")
    distance: float | None = Field(default=None, ge=0.0)
    live: bool | None = Field(default=None, description="liveness verdict across frames")
    box: Box | None = None


class Credential(StrEnum):
    PLATE = "plate"
    FACE = "face"
    QR = "qr"
    PIN = "pin"
    CARD = "card"
    REMOTE = "remote"


class Decision(StrEnum):
    OPEN = "open"
    REFUSE = "refuse"


class DecisionReason(StrEnum):
    RESIDENT = "resident"
    VISITOR_PASS = "visitor_pass"
    REMOTE_COMMAND = "remote_command"
    BLACKLISTED = "blacklisted"
    UNKNOWN = "unknown"
    PASS_EXPIRED = "pass_expired"
    PASS_NOT_YET_VALID = "pass_not_yet_valid"
    CAPACITY_FULL = "capacity_full"
    NOT_LIVE = "not_live"
    LOW_CONFIDENCE = "low_confidence"
    EXIT = "exit"  # an exit-only gate lets every vehicle out
    KEYPAD_LOCKED = "keypad_locked"  # too many wrong PINs: the keypad waits (back-off)


class GateDecision(Strict):
    """What the edge decided, locally, for one subject at one gate."""

    gate: Identifier
    credential: Credential
    subject: str = Field(min_length=1, max_length=64, description="plate, person id, pass id")
    decision: Decision
    reason: DecisionReason
    list_version: int | None = Field(default=None, description="version of the cached lists used")
    source_event: str | None = Field(default=None, description="id of the plate/face event")


class GatePosition(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    FAULT = "fault"


class GateState(Strict):
    gate: Identifier
    position: GatePosition
    cause: str = Field(default="", max_length=200)


class SlotState(Strict):
    slot: Identifier
    occupied: bool
    since: AwareDatetime
    source: Literal["camera", "sensor", "fused"]
    plate: str | None = None
    confidence: Score = 1.0
    crop_jpeg_b64: str | None = Field(
        default=None,
        max_length=64 * 1024,
        description="small JPEG of the slot when it became occupied (restricted zones), base64",
    )


class ZoneCounts(Strict):
    zone: Identifier
    free: int = Field(ge=0)
    occupied: int = Field(ge=0)
    unknown: int = Field(default=0, ge=0, description="slots whose state is not known yet")


class CarParkSnapshot(Strict):
    """The car park's fill level, retained on ``anju/{site}/{edge}/state/carpark_snapshot``
    and relayed by the hub on ``anju/{site}/sync/carpark`` for the vehicle gates."""

    zones: list[ZoneCounts]
    free: int = Field(ge=0)
    occupied: int = Field(ge=0)
    unknown: int = Field(default=0, ge=0)
    visitor_free: int = Field(ge=0, description="free bays a visitor may use (general, visitor)")
    visitors_inside: int | None = Field(
        default=None, ge=0, description="visitor cars inside, added by the hub when it relays"
    )


class Heartbeat(Strict):
    uptime_s: float = Field(ge=0)
    outbox_pending: int = Field(ge=0)
    version: str = ""
    outbox_oldest_s: float | None = Field(
        default=None, ge=0, description="age of the oldest undelivered outbox row, seconds"
    )
    outbox_dropped: int | None = Field(
        default=None, ge=0, description="heartbeats dropped by the outbox bound, ever"
    )


class DeviceStatus(Strict):
    online: bool
    reason: str = Field(default="", max_length=200)


class AlarmType(StrEnum):
    DOOR_FORCED = "door_forced"
    DOOR_HELD = "door_held"
    CAMERA_TAMPER = "camera_tamper"
    GATE_FAULT = "gate_fault"
    TAILGATING = "tailgating"
    BLACKLIST = "blacklist"
    UNKNOWN_FACE_REPEATED = "unknown_face_repeated"
    # the edge refused a hub -> edge message: unsigned, wrong key, other site or device,
    # replayed, expiring too far ahead (models/signing.py)
    CONTROL_REFUSED = "control_refused"
    KEYPAD_LOCKED = "keypad_locked"  # too many wrong unit + PIN entries at one keypad


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Alarm(Strict):
    type: AlarmType
    gate: Identifier | None = None
    severity: Severity = Severity.WARNING
    detail: str = Field(default="", max_length=500)
    subject: str | None = Field(
        default=None, max_length=64, description="who the alarm is about (person id, plate)"
    )
    source_event: str | None = Field(
        default=None, description="id of the gate decision the alarm is about"
    )
    crop_jpeg_b64: str | None = Field(
        default=None,
        max_length=64 * 1024,
        description="small JPEG of the face, base64: face alarms only (blacklisted person, "
        "repeated unknown face); evidence kept for the site's retention period",
    )


class GateAction(StrEnum):
    OPEN = "open"
    CLOSE = "close"


class GateCommand(Strict):
    """Hub -> edge. The envelope id is the command id the ack refers to."""

    gate: Identifier
    action: GateAction
    reason: str = Field(min_length=3, max_length=200, description="mandatory, audited")
    operator: str = Field(min_length=1, max_length=64)
    expires_at: AwareDatetime = Field(description="the edge ignores a command that arrives later")


class AckResult(StrEnum):
    DONE = "done"
    REJECTED = "rejected"
    EXPIRED = "expired"
    UNKNOWN_GATE = "unknown_gate"


class CommandAck(Strict):
    command_id: str = Field(min_length=1, max_length=64)
    result: AckResult
    detail: str = Field(default="", max_length=200)


class ListedVehicle(Strict):
    plate: str
    note: str = Field(default="", max_length=200, description="owner/unit or blacklist reason")


class ListedPass(Strict):
    id: Identifier
    plate: str
    valid_from: AwareDatetime
    valid_until: AwareDatetime


class VehicleList(Strict):
    """Hub -> edges, retained on ``anju/{site}/sync/vehicles``: the lists a gate decides with.

    Edges cache the newest version on disk so that gates keep deciding with the hub down.
    """

    version: int = Field(ge=1)
    residents: list[ListedVehicle] = Field(default_factory=list)
    blacklist: list[ListedVehicle] = Field(default_factory=list)
    visitor_passes: list[ListedPass] = Field(default_factory=list)


class FaceBundle(Strict):
    """Hub -> edges, retained on ``anju/{site}/sync/faces``: the site's face templates and
    gate credentials, encrypted with the site's face key (AES-256-GCM, ``models.face_bundle``).

    ``format``/``site``/``version``/``sealed`` are exactly the fields of a sealed face bundle
    (``seal_bundle``); only site and version are in clear. ``directory``: the PIN digests and
    card ids of the site's persons, sealed with the same key. No template is ever in clear.
    """

    format: int = Field(ge=1)
    site: Identifier
    version: int = Field(ge=0)
    sealed: str = Field(min_length=1, description="base64 AES-GCM ciphertext of the persons")
    directory: str | None = Field(default=None, description="base64 sealed PIN/card directory")


PAYLOADS: dict[Kind, type[Strict]] = {
    Kind.PLATE_READ: PlateRead,
    Kind.FACE_MATCH: FaceMatch,
    Kind.GATE_DECISION: GateDecision,
    Kind.GATE_STATE: GateState,
    Kind.SLOT_STATE: SlotState,
    Kind.HEARTBEAT: Heartbeat,
    Kind.DEVICE_STATUS: DeviceStatus,
    Kind.ALARM: Alarm,
    Kind.GATE_COMMAND: GateCommand,
    Kind.COMMAND_ACK: CommandAck,
    Kind.VEHICLE_LIST: VehicleList,
    Kind.CARPARK_SNAPSHOT: CarParkSnapshot,
    Kind.FACE_BUNDLE: FaceBundle,
}

# --------------------------------------------------------------------------- envelope


class EnvelopeBase(Strict):
    schema_: int = Field(default=SCHEMA_VERSION, alias="schema", ge=1, le=SCHEMA_VERSION)
    id: str = Field(default_factory=new_id, min_length=8, max_length=64)
    site: Identifier
    device: Identifier
    ts: AwareDatetime = Field(default_factory=utcnow)
    sig: str | None = Field(
        default=None,
        max_length=200,
        description="hub -> edge only: Ed25519 signature of the rest (models/signing.py)",
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def to_json(self) -> bytes:
        exclude = {"sig"} if self.sig is None else None  # edge -> hub messages carry none
        return self.model_dump_json(by_alias=True, exclude=exclude).encode()


class PlateReadMessage(EnvelopeBase):
    """Envelope carrying a PlateRead."""

    kind: Literal[Kind.PLATE_READ]
    payload: PlateRead


class FaceMatchMessage(EnvelopeBase):
    """Envelope carrying a FaceMatch."""

    kind: Literal[Kind.FACE_MATCH]
    payload: FaceMatch


class GateDecisionMessage(EnvelopeBase):
    """Envelope carrying a GateDecision."""

    kind: Literal[Kind.GATE_DECISION]
    payload: GateDecision


class GateStateMessage(EnvelopeBase):
    """Envelope carrying a GateState."""

    kind: Literal[Kind.GATE_STATE]
    payload: GateState


class SlotStateMessage(EnvelopeBase):
    """Envelope carrying a SlotState."""

    kind: Literal[Kind.SLOT_STATE]
    payload: SlotState


class HeartbeatMessage(EnvelopeBase):
    """Envelope carrying a Heartbeat."""

    kind: Literal[Kind.HEARTBEAT]
    payload: Heartbeat


class DeviceStatusMessage(EnvelopeBase):
    """Envelope carrying a DeviceStatus."""

    kind: Literal[Kind.DEVICE_STATUS]
    payload: DeviceStatus


class AlarmMessage(EnvelopeBase):
    """Envelope carrying a Alarm."""

    kind: Literal[Kind.ALARM]
    payload: Alarm


class GateCommandMessage(EnvelopeBase):
    """Envelope carrying a GateCommand."""

    kind: Literal[Kind.GATE_COMMAND]
    payload: GateCommand


class CommandAckMessage(EnvelopeBase):
    """Envelope carrying a CommandAck."""

    kind: Literal[Kind.COMMAND_ACK]
    payload: CommandAck


class VehicleListMessage(EnvelopeBase):
    """Envelope carrying a VehicleList."""

    kind: Literal[Kind.VEHICLE_LIST]
    payload: VehicleList


class CarParkSnapshotMessage(EnvelopeBase):
    """Envelope carrying a CarParkSnapshot."""

    kind: Literal[Kind.CARPARK_SNAPSHOT]
    payload: CarParkSnapshot


class FaceBundleMessage(EnvelopeBase):
    """Envelope carrying a FaceBundle."""

    kind: Literal[Kind.FACE_BUNDLE]
    payload: FaceBundle


AnyMessage = (
    PlateReadMessage
    | FaceMatchMessage
    | GateDecisionMessage
    | GateStateMessage
    | SlotStateMessage
    | HeartbeatMessage
    | DeviceStatusMessage
    | AlarmMessage
    | GateCommandMessage
    | CommandAckMessage
    | VehicleListMessage
    | CarParkSnapshotMessage
    | FaceBundleMessage
)
MESSAGE_TYPES: dict[Kind, type[AnyMessage]] = {
    Kind.PLATE_READ: PlateReadMessage,
    Kind.FACE_MATCH: FaceMatchMessage,
    Kind.GATE_DECISION: GateDecisionMessage,
    Kind.GATE_STATE: GateStateMessage,
    Kind.SLOT_STATE: SlotStateMessage,
    Kind.HEARTBEAT: HeartbeatMessage,
    Kind.DEVICE_STATUS: DeviceStatusMessage,
    Kind.ALARM: AlarmMessage,
    Kind.GATE_COMMAND: GateCommandMessage,
    Kind.COMMAND_ACK: CommandAckMessage,
    Kind.VEHICLE_LIST: VehicleListMessage,
    Kind.CARPARK_SNAPSHOT: CarParkSnapshotMessage,
    Kind.FACE_BUNDLE: FaceBundleMessage,
}
# The discriminated union of every message type: pydantic picks the class by ``kind``.
Message = Annotated[AnyMessage, Field(discriminator="kind")]
MESSAGE_ADAPTER: TypeAdapter[AnyMessage] = TypeAdapter(Message)


class MessageError(ValueError):
    """A payload that is not a valid Anju message; ``reason`` is short and loggable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def make_message(
    kind: Kind, *, site: str, device: str, payload: Strict | dict[str, Any], **envelope: Any
) -> AnyMessage:
    """Build the typed envelope for ``kind`` (payload validated). Narrow the result with
    ``isinstance(message, PlateReadMessage)`` to reach a typed ``payload``."""
    check_segment(site, "site")
    check_segment(device, "device")
    cls = MESSAGE_TYPES[kind]
    if isinstance(payload, Strict):
        payload = payload.model_dump()
    return cls.model_validate(
        {"kind": kind.value, "site": site, "device": device, "payload": payload, **envelope}
    )


def parse_message(data: bytes | str, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> AnyMessage:
    """Validate raw bytes into a typed message (pydantic strict mode: no type coercion);
    raise MessageError(reason) otherwise. ``max_bytes``: MAX_SYNC_BYTES for what arrives
    on a sync topic (face bundles)."""
    if len(data) > max_bytes:
        raise MessageError(f"payload of {len(data)} bytes exceeds {max_bytes}")
    try:
        # strict: JSON types as they are (no "1" for 1, no 1 for true); JSON's own forms of
        # other types still parse (ISO 8601 datetimes, enum values, arrays for tuples)
        return MESSAGE_ADAPTER.validate_json(data, strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "message"
        raise MessageError(f"{where}: {first['msg']}") from None


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema documents for integrators: one per message kind, plus the union."""
    schemas = {k.value: t.model_json_schema(by_alias=True) for k, t in MESSAGE_TYPES.items()}
    schemas["message"] = MESSAGE_ADAPTER.json_schema(by_alias=True)
    return schemas
