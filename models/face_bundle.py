"""The face-bundle contract: how face data and gate credentials travel hub -> edge and rest on
disk, encrypted with AES-256-GCM under the site's face key, and the roles a person may have.

The key (32 random bytes, base64) comes from the environment variable ANJU_FACE_KEY or
from a file named by ANJU_FACE_KEY_FILE (or passed explicitly). Every ciphertext is bound
to what it belongs to (associated data), so an encoding cannot be moved to another person
nor a bundle replayed as another site's or version's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from models.messages import FaceBundle
from models.passes import pin_digest

KEY_ENV = "ANJU_FACE_KEY"
KEY_FILE_ENV = "ANJU_FACE_KEY_FILE"
_NONCE = 12
BUNDLE_FORMAT = 1
FACES = "faces"  # the sync list name: anju/{site}/sync/faces

# The roles a person has in a bundle (what a pedestrian gate does on a match).
RESIDENT = "resident"
BLACKLIST = "blacklist"
ROLES = (RESIDENT, BLACKLIST)


class FaceKeyError(ValueError):
    """No usable face key, or data that this key cannot open (wrong key or tampered)."""


def generate_key() -> str:
    """A new key as base64 text, for ANJU_FACE_KEY or a key file."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def parse_key(text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode())
    except ValueError:
        raise FaceKeyError("the face key is not base64") from None
    if len(key) != 32:
        raise FaceKeyError(f"the face key must be 32 bytes, got {len(key)}")
    return key


def load_face_key(key_file: Path | None = None, env: Mapping[str, str] | None = None) -> bytes:
    """The face key from ``key_file``, else $ANJU_FACE_KEY, else the file in $ANJU_FACE_KEY_FILE."""
    env = os.environ if env is None else env
    if key_file is None and env.get(KEY_ENV):
        return parse_key(env[KEY_ENV])
    path = key_file or (Path(env[KEY_FILE_ENV]) if env.get(KEY_FILE_ENV) else None)
    if path is None:
        raise FaceKeyError(
            f"no face key: set {KEY_ENV} (generate one with "
            "`python -c 'from models.face_bundle import generate_key; print(generate_key())'`) "
            f"or {KEY_FILE_ENV}"
        )
    try:
        return parse_key(path.read_text())
    except OSError as exc:
        raise FaceKeyError(f"{path}: cannot read the face key: {exc.strerror}") from None


class FaceCipher:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise FaceKeyError("the face key must be 32 bytes")
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        try:
            return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], context)
        except (InvalidTag, ValueError):
            raise FaceKeyError("cannot decrypt face data: wrong key or tampered data") from None

    def seal_encoding(self, encoding: np.ndarray, person: str) -> bytes:
        vector = np.asarray(encoding, dtype="<f4").reshape(128)
        return self.seal(vector.tobytes(), f"face-encoding:{person}".encode())

    def open_encoding(self, sealed: bytes, person: str) -> np.ndarray:
        raw = self.open(sealed, f"face-encoding:{person}".encode())
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)


def _bundle_context(site: str, version: int) -> bytes:
    return f"face-bundle:{BUNDLE_FORMAT}:{site}:{version}".encode()


def seal_bundle(cipher: FaceCipher, bundle: Mapping[str, Any]) -> bytes:
    """The wire/at-rest form of a sync bundle: JSON with site and version in clear (so an
    edge can tell whether it is newer without the key) and the persons encrypted.

    Inside, each person's encodings travel as base64 little-endian float32 (4x smaller
    than JSON numbers); ``open_bundle`` gives back lists of floats.
    """
    site, version = str(bundle["site"]), int(bundle["version"])
    persons = [
        {
            "id": p["id"],
            "role": p["role"],
            "encodings": base64.b64encode(np.asarray(p["encodings"], "<f4").tobytes()).decode(),
        }
        for p in bundle["persons"]
    ]
    secret = cipher.seal(json.dumps(persons).encode(), _bundle_context(site, version))
    envelope = {
        "format": BUNDLE_FORMAT,
        "site": site,
        "version": version,
        "sealed": base64.b64encode(secret).decode(),
    }
    return json.dumps(envelope).encode()


def bundle_header(blob: bytes) -> tuple[str, int]:
    """(site, version) of a sealed bundle, without decrypting it."""
    try:
        envelope = json.loads(blob)
        return str(envelope["site"]), int(envelope["version"])
    except (ValueError, KeyError, TypeError):
        raise FaceKeyError("not a sealed face bundle") from None


def open_bundle(cipher: FaceCipher, blob: bytes) -> dict[str, Any]:
    """Decrypt a sealed bundle into ``{version, site, persons: [{id, role, encodings}]}``."""
    site, version = bundle_header(blob)
    envelope = json.loads(blob)
    if envelope.get("format") != BUNDLE_FORMAT:
        raise FaceKeyError(f"unsupported bundle format {envelope.get('format')!r}")
    plain = cipher.open(base64.b64decode(envelope["sealed"]), _bundle_context(site, version))
    persons = []
    for p in json.loads(plain):
        matrix = np.frombuffer(base64.b64decode(p["encodings"]), "<f4").reshape(-1, 128)
        persons.append({"id": p["id"], "role": p["role"], "encodings": matrix.tolist()})
    return {"version": version, "site": site, "persons": persons}


def pass_key(face_key: bytes) -> bytes:
    """The site's QR-pass/PIN key, derived from the face key so one secret is provisioned."""
    return hmac.new(face_key, b"anju:pass-and-pin-key:v1", hashlib.sha256).digest()


def _directory_context(site: str, version: int) -> bytes:
    return f"gate-directory:{site}:{version}".encode()


def seal_directory(
    cipher: FaceCipher,
    key: bytes,
    *,
    site: str,
    version: int,
    pins: Mapping[str, str],
    cards: Mapping[str, str],
    revoked: Iterable[str] = (),
) -> str:
    """``pins``: PIN -> person, ``cards``: card id -> person, ``revoked``: QR pass ids the
    gates refuse. PINs travel only as keyed digests, and the whole directory is encrypted
    (bound to site and version)."""
    plain = {
        "pins": {pin_digest(key, pin): p for pin, p in pins.items()},
        "cards": dict(cards),
        "revoked": sorted(revoked),
    }
    sealed = cipher.seal(json.dumps(plain).encode(), _directory_context(site, version))
    return base64.b64encode(sealed).decode()


def open_directory(cipher: FaceCipher, sealed: str, *, site: str, version: int) -> dict[str, Any]:
    plain = cipher.open(base64.b64decode(sealed), _directory_context(site, version))
    directory: dict[str, Any] = json.loads(plain)
    return directory


def bundle_payload(sealed_bundle: bytes, directory: str | None) -> FaceBundle:
    """The sync message payload for a sealed bundle (``seal_bundle`` output)."""
    envelope = json.loads(sealed_bundle)
    return FaceBundle(
        format=envelope["format"],
        site=envelope["site"],
        version=envelope["version"],
        sealed=envelope["sealed"],
        directory=directory,
    )


def sealed_bundle(payload: FaceBundle) -> bytes:
    """Back from the message to the sealed-bundle bytes ``BundleCache`` and ``open_bundle`` take."""
    fields = {k: getattr(payload, k) for k in ("format", "site", "version", "sealed")}
    return json.dumps(fields).encode()
