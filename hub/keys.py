"""The hub's signing key on disk: ``hub.key`` (Ed25519, PKCS#8 PEM, mode 0600) and ``hub.pub``
(one line, the public key the edges pin) in a key directory, created on first run.

    key = load_or_create_hub_key(Path("data/hub/keys"))

Rotation (docs/security.md): give the edges the new ``hub.pub`` next to the old one, move the
old pair away, restart the hub (it makes a new pair), then drop the old key from the edges.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from models.signing import (
    generate_key,
    key_id,
    private_from_pem,
    private_to_pem,
    public_to_text,
)
from models.site import ConfigError

log = logging.getLogger(__name__)

PRIVATE = "hub.key"
PUBLIC = "hub.pub"


class HubKeyError(ConfigError):
    """The key directory holds something that is not a usable hub key."""


def load_or_create_hub_key(keys_dir: Path | str) -> Ed25519PrivateKey:
    keys = Path(keys_dir)
    private = keys / PRIVATE
    if private.exists():
        try:
            key = private_from_pem(private.read_bytes())
        except ValueError as exc:
            raise HubKeyError(f"{private}: {exc}") from None
    else:
        keys.mkdir(parents=True, exist_ok=True)
        key = generate_key()
        # written with 0600 from the start: never readable by others, not even briefly
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(private_to_pem(key))
        log.warning("hub signing key created in %s (key id %s)", private, key_id(key.public_key()))
    public = keys / PUBLIC
    text = public_to_text(key.public_key()) + "\n"
    if not public.exists() or public.read_text() != text:
        public.write_text(text)
    return key
