"""The edge side of face sync: the site's sealed face bundle (``face_bundle`` on
``anju/{site}/sync/faces``) kept on disk encrypted, decrypted only into memory.

Also the pieces hub and edge share to build and read that message: the sealed PIN/card
directory and the pass/PIN key derived from the face key. Only the newest version is kept;
an erasure on the hub publishes a new version without the person, which replaces the
cached file (atomic rename), so the edge forgets them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.pedestrian_gate.cache import BundleCache
from edge.pedestrian_gate.rules import GateDirectory
from models.face_bundle import (
    FaceCipher,
    FaceKeyError,
    bundle_header,
    open_bundle,
    open_directory,
    pass_key,
    sealed_bundle,
)
from models.messages import AnyMessage, FaceBundle, Kind
from recognition.face.matcher import FaceMatcher
from recognition.face.settings import MatchSettings

log = logging.getLogger(__name__)

BUNDLE_FILE = "faces.bundle"
DIRECTORY_FILE = "faces.directory"


@dataclass(frozen=True)
class FaceState:
    """What a pedestrian gate decides with: the matcher and the offline directory."""

    version: int | None
    matcher: FaceMatcher
    directory: GateDirectory
    persons: frozenset[str] = field(default_factory=frozenset)


class FaceSync:
    """Keeps the newest face bundle of ``site``: on disk sealed, in memory decrypted."""

    def __init__(
        self,
        site: str,
        cache_dir: Path,
        cipher: FaceCipher,
        face_key: bytes,
        match: MatchSettings | None = None,
    ) -> None:
        self.site = site
        self.cipher = cipher
        self.key = pass_key(face_key)
        self.match = match
        self.cache = BundleCache(Path(cache_dir) / BUNDLE_FILE)
        self.directory_path = Path(cache_dir) / DIRECTORY_FILE
        self.listeners: list[Callable[[FaceState], None]] = []
        self.state = self._state(None, [], {}, {})
        self._lock = asyncio.Lock()

    def _state(
        self,
        version: int | None,
        persons: list[dict[str, Any]],
        pins: dict[str, str],
        cards: dict[str, str],
        revoked: frozenset[str] = frozenset(),
    ) -> FaceState:
        matcher = FaceMatcher.from_bundle({"persons": persons}, self.match)
        roles = {p["id"]: p["role"] for p in persons}
        directory = GateDirectory(self.site, self.key, roles, cards, pins, revoked)
        return FaceState(version, matcher, directory, frozenset(roles))

    def load_cached(self) -> bool:
        """Start from the cached bundle (hub or broker may be down). True if one was loaded."""
        try:
            bundle = self.cache.load(self.cipher)
        except FaceKeyError as exc:
            log.error("face cache %s unusable: %s", self.cache.path, exc)
            return False
        if bundle is None or bundle["site"] != self.site:
            return False
        directory = self._cached_directory(bundle["version"])
        self._apply(bundle, directory)
        return True

    def _cached_directory(self, version: int) -> dict[str, Any]:
        try:
            stored = json.loads(self.directory_path.read_bytes())
            if stored["site"] == self.site and stored["version"] == version:
                return open_directory(
                    self.cipher, stored["sealed"], site=self.site, version=version
                )
        except (OSError, ValueError, KeyError, FaceKeyError):
            pass
        return {"pins": {}, "cards": {}}

    def _apply(self, bundle: dict[str, Any], directory: dict[str, Any]) -> None:
        self.state = self._state(
            bundle["version"],
            bundle["persons"],
            directory["pins"],
            directory["cards"],
            frozenset(directory.get("revoked", ())),  # a directory from before revocation
        )
        for listener in self.listeners:
            listener(self.state)

    async def on_sync(self, message: AnyMessage) -> None:
        """Bus handler for ``anju/{site}/sync/+``: takes ``face_bundle`` messages only."""
        if message.kind != Kind.FACE_BUNDLE:
            return
        payload: FaceBundle = message.payload
        async with self._lock:
            current = self.state.version
            if payload.site != self.site or (current is not None and payload.version < current):
                return
            try:
                accepted = await asyncio.to_thread(self._accept, payload)
            except (FaceKeyError, ValueError, KeyError) as exc:
                log.error("face bundle v%s refused: %s", payload.version, exc)
                return
            if accepted is None:
                return
            self._apply(*accepted)
        log.info("faces: bundle version %s, %d persons", payload.version, len(self.state.persons))

    def _accept(self, payload: FaceBundle) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """Decrypt (which authenticates) and cache; the bundle and directory, or None."""
        blob = sealed_bundle(payload)
        bundle = open_bundle(self.cipher, blob)
        site, version = bundle_header(blob)
        directory: dict[str, Any] = {"pins": {}, "cards": {}}
        if payload.directory:
            directory = open_directory(self.cipher, payload.directory, site=site, version=version)
            self._write_atomic(
                self.directory_path,
                json.dumps({"site": site, "version": version, "sealed": payload.directory}),
            )
        elif self.directory_path.exists():
            self.directory_path.unlink()
        return (bundle, directory) if self.cache.store(blob) else None

    @staticmethod
    def _write_atomic(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
