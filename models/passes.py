"""Signed visitor QR passes, verifiable offline at the edge (pure, stdlib only).

A pass is a short text for a QR code::

    AJP1:<site>:<pass id>:<valid from, unix s>:<valid until, unix s>:<signature>

The signature is HMAC-SHA256 with the site's pass key over everything before it,
truncated to 128 bits and base64url-encoded. The edge needs only the key to check a pass:
no list lookup, so passes issued while the edge is cut off from the hub still work.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

PREFIX = "AJP1"
_SIG_BYTES = 16


class PassStatus(StrEnum):
    VALID = "valid"
    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    WRONG_SITE = "wrong_site"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class PassCheck:
    status: PassStatus
    pass_id: str | None = None
    valid_until: int | None = None

    @property
    def ok(self) -> bool:
        return self.status is PassStatus.VALID


def _signature(key: bytes, body: str) -> str:
    digest = hmac.new(key, body.encode(), hashlib.sha256).digest()[:_SIG_BYTES]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue_pass(
    key: bytes, *, site: str, pass_id: str, valid_from: datetime, valid_until: datetime
) -> str:
    """The QR text of a visitor pass; times must be timezone-aware."""
    for name, value in (("site", site), ("pass_id", pass_id)):
        if not value or ":" in value:
            raise ValueError(f"{name} must be non-empty and contain no ':'")
    start, end = int(valid_from.timestamp()), int(valid_until.timestamp())
    if end <= start:
        raise ValueError("valid_until must be after valid_from")
    body = f"{PREFIX}:{site}:{pass_id}:{start}:{end}"
    return f"{body}:{_signature(key, body)}"


def verify_pass(
    key: bytes, token: str, *, site: str, now: datetime, revoked: frozenset[str] = frozenset()
) -> PassCheck:
    """Check signature, site and validity window of a scanned pass at time ``now``."""
    parts = token.strip().split(":")
    if len(parts) != 6 or parts[0] != PREFIX:
        return PassCheck(PassStatus.MALFORMED)
    _, pass_site, pass_id, start_text, end_text, signature = parts
    if not (start_text.isdigit() and end_text.isdigit()):
        return PassCheck(PassStatus.MALFORMED)
    body = token.strip().rsplit(":", 1)[0]
    if not hmac.compare_digest(_signature(key, body), signature):
        return PassCheck(PassStatus.BAD_SIGNATURE)
    start, end = int(start_text), int(end_text)
    if pass_site != site:
        return PassCheck(PassStatus.WRONG_SITE, pass_id, end)
    if pass_id in revoked:
        return PassCheck(PassStatus.REVOKED, pass_id, end)
    moment = now.timestamp()
    if moment < start:
        return PassCheck(PassStatus.NOT_YET_VALID, pass_id, end)
    if moment >= end:
        return PassCheck(PassStatus.EXPIRED, pass_id, end)
    return PassCheck(PassStatus.VALID, pass_id, end)


def unit_pin(unit: str, pin: str) -> str:
    """What identifies a resident at a keypad: their unit number and PIN (``3-201#482913``).
    A PIN alone (10^4 values, shared by the whole community) was a guessable key."""
    return f"{unit.strip().upper()}#{pin.strip()}"


def pin_digest(key: bytes, pin: str) -> str:
    """Keyed digest of a unit + PIN (``unit_pin``), so the lists the edge caches hold no PINs
    in clear."""
    return hmac.new(key, b"pin:" + pin.encode(), hashlib.sha256).hexdigest()
