"""The edge's copy of its site's face bundle, kept sealed (encrypted) on disk.

The edge stores the bundle exactly as the hub sealed it and decrypts it only into memory,
so face templates are never in clear on the edge's disk. With the hub down the edge
starts from this copy.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from models.face_bundle import FaceCipher, FaceKeyError, bundle_header, open_bundle


class BundleCache:
    def __init__(self, path: Path) -> None:
        self.path = path

    def version(self) -> int | None:
        if not self.path.exists():
            return None
        try:
            return bundle_header(self.path.read_bytes())[1]
        except FaceKeyError:  # a damaged file: let the next bundle replace it
            return None

    def store(self, sealed: bytes) -> bool:
        """Keep ``sealed`` if newer than the cached one (atomic replace); True if kept.

        A bundle of the same version replaces the cache too, so a re-sent bundle heals a
        damaged file; an older one is ignored (a retained message arriving late)."""
        _, version = bundle_header(sealed)
        current = self.version()
        if current is not None and version < current:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(sealed)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        return True

    def load(self, cipher: FaceCipher) -> dict[str, Any] | None:
        """The cached bundle decrypted, or None when nothing is cached."""
        if not self.path.exists():
            return None
        return open_bundle(cipher, self.path.read_bytes())
