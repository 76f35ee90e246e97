"""Signed hub -> edge messages (Ed25519, ``cryptography``): canonical bytes, sign, verify, and
the checks an edge makes before it obeys a command or replaces a list. Pure, no I/O.

What is signed is the whole envelope (schema, id, site, device, ts, kind, payload) without
its ``sig`` field, as canonical JSON: keys sorted, no spaces, UTF-8. The envelope ``ts`` is
the hub's issue time; the envelope ``id`` is the nonce (a gate command's id is never obeyed
twice). ``sig`` is ``"<key id>:<base64 signature>"``; the key id (16 hex digits of the
public key's SHA-256) lets edges pin several keys while a key is rotated.

    key = generate_key()
    signed = sign_message(message, key)
    check_signed(signed, [key.public_key()], site="lakeside", device="edge-north", now=...)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from models.messages import AnyMessage, GateCommand, Kind

HUB_DEVICE = "hub"  # the envelope device of every list the hub publishes on sync topics
# A gate command is obeyed only if it expires at most this far ahead of the edge's clock:
# a captured command must not stay usable for long (the hub's own timeout is 10 s).
MAX_COMMAND_AHEAD_S = 120.0
# Lists and commands issued further ahead of the edge's clock than this are refused.
MAX_ISSUE_SKEW_S = 300.0

# The kinds an edge accepts from the hub, and only signed.
SIGNED_KINDS = frozenset(
    {Kind.GATE_COMMAND, Kind.VEHICLE_LIST, Kind.CARPARK_SNAPSHOT, Kind.FACE_BUNDLE}
)


class SignatureError(ValueError):
    """A hub message an edge must not act on; ``reason`` is short and loggable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def canonical_bytes(doc: Mapping[str, Any]) -> bytes:
    """The one byte string two parties sign and verify for the same document."""
    return json.dumps(
        doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def message_bytes(message: AnyMessage) -> bytes:
    """Canonical bytes of an envelope, without its signature."""
    return canonical_bytes(message.model_dump(mode="json", by_alias=True, exclude={"sig"}))


# --------------------------------------------------------------------------- keys


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(public_raw(key)).hexdigest()[:16]


def public_to_text(key: Ed25519PublicKey) -> str:
    """The public key as one line (base64 of the 32 raw bytes), for a file or a config."""
    return base64.b64encode(public_raw(key)).decode("ascii")


def public_from_text(text: str) -> Ed25519PublicKey:
    """Parse ``public_to_text`` output (or a PEM public key); ValueError naming the problem."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return key
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError("hub public key is not base64") from None
    if len(raw) != 32:
        raise ValueError(f"hub public key has {len(raw)} bytes, an Ed25519 key has 32")
    return Ed25519PublicKey.from_public_bytes(raw)


def private_to_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def private_from_pem(data: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("not an Ed25519 private key")
    return key


# --------------------------------------------------------------------------- sign / verify


def sign_bytes(key: Ed25519PrivateKey, data: bytes) -> str:
    signature = base64.b64encode(key.sign(data)).decode("ascii")
    return f"{key_id(key.public_key())}:{signature}"


def verify_bytes(keys: Sequence[Ed25519PublicKey], data: bytes, sig: str | None) -> None:
    """Raise SignatureError unless ``sig`` is a valid signature of ``data`` by a pinned key."""
    if not sig:
        raise SignatureError("unsigned")
    kid, _, b64 = sig.partition(":")
    pinned = {key_id(k): k for k in keys}
    key = pinned.get(kid)
    if key is None:
        raise SignatureError(f"signed by key {kid[:16]!r}, not a pinned hub key")
    try:
        key.verify(base64.b64decode(b64, validate=True), data)
    except (binascii.Error, InvalidSignature):
        raise SignatureError("bad signature") from None


def sign_message(message: AnyMessage, key: Ed25519PrivateKey) -> AnyMessage:
    """The same envelope with its ``sig``."""
    return message.model_copy(update={"sig": sign_bytes(key, message_bytes(message))})


@dataclass(frozen=True, slots=True)
class Expected:
    """What an edge expects of every hub message it acts on."""

    site: str
    device: str  # the edge itself
    keys: tuple[Ed25519PublicKey, ...]
    max_command_ahead_s: float = MAX_COMMAND_AHEAD_S
    max_issue_skew_s: float = MAX_ISSUE_SKEW_S


def check_signed(message: AnyMessage, expected: Expected, now: datetime) -> None:
    """Raise SignatureError unless a hub message may be acted on: a kind the hub sends,
    signed by a pinned key, for this site, addressed to this edge (commands) or to every edge
    (lists: device ``hub``), not issued in the future and, for a command, expiring no further
    ahead than ``max_command_ahead_s``. The caller checks what needs its state: the nonce (a
    command id never seen before, in the edge's store) and a command already expired (a
    genuine command that arrived late is acknowledged ``expired``, never obeyed)."""
    if message.kind not in SIGNED_KINDS:
        raise SignatureError(f"{message.kind} is not a message the hub sends")
    verify_bytes(expected.keys, message_bytes(message), getattr(message, "sig", None))
    if message.site != expected.site:
        raise SignatureError(f"for site {message.site!r}, this edge is in {expected.site!r}")
    addressee = expected.device if message.kind is Kind.GATE_COMMAND else HUB_DEVICE
    if message.device != addressee:
        raise SignatureError(f"for device {message.device!r}, expected {addressee!r}")
    if message.ts > now + timedelta(seconds=expected.max_issue_skew_s):
        raise SignatureError(f"issued in the future ({message.ts.isoformat()})")
    if message.kind is Kind.GATE_COMMAND:
        command: GateCommand = message.payload
        if command.expires_at > now + timedelta(seconds=expected.max_command_ahead_s):
            raise SignatureError(
                f"expires at {command.expires_at.isoformat()}, more than"
                f" {expected.max_command_ahead_s:g} s ahead"
            )


def is_newer(issued: datetime, cached: datetime | None) -> bool:
    """A signed list replaces the cached one only if the hub issued it later (a forged or
    huge ``version`` cannot freeze an edge: the version is not what orders lists)."""
    return cached is None or issued > cached
