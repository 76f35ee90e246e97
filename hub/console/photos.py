"""Rectification photos a manager uploads with a fix: checked, stored by content, served back.

A photo is kept under ``<data dir>/rectification/<community>/<sha256>.<ext>`` and named in the
case's evidence as ``photo:<community>/<file>``; only a JPEG or PNG (by its first bytes) of at
most ``MAX_BYTES`` is taken. Pure checks plus two small file operations.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

MAX_BYTES = 8 * 1024 * 1024
_KINDS = {b"\xff\xd8\xff": "jpg", b"\x89PNG\r\n\x1a\n": "png"}
_NAME = re.compile(r"^[0-9a-f]{64}\.(jpg|png)$")


class PhotoError(ValueError):
    pass


def photo_kind(data: bytes) -> str:
    """'jpg' or 'png'; PhotoError (with the reason) for anything else."""
    if not data:
        raise PhotoError("the photo is empty")
    if len(data) > MAX_BYTES:
        raise PhotoError(f"the photo is larger than {MAX_BYTES // (1024 * 1024)} MB")
    for magic, ext in _KINDS.items():
        if data.startswith(magic):
            return ext
    raise PhotoError("only JPEG or PNG photos are accepted")


def save_photo(root: Path, site: str, data: bytes) -> str:
    """Store ``data`` (once per content) and return its evidence reference."""
    ext = photo_kind(data)
    name = f"{hashlib.sha256(data).hexdigest()}.{ext}"
    folder = root / "rectification" / site
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if not path.exists():
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return f"photo:{site}/{name}"


def photo_path(root: Path, site: str, name: str) -> Path | None:
    """The stored file for a reference's parts, or None (never a path outside the folder)."""
    if not _NAME.match(name) or "/" in site or site.startswith("."):
        return None
    path = root / "rectification" / site / name
    return path if path.is_file() else None
