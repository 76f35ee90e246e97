"""``anju lpr IMAGE_OR_DIR... [--json]``: read plates in image files, OpenALPR ``alpr -j`` style.

With ``--json`` every image gives one JSON object on its own line:
``{"file": ..., "ms": ..., "plates": [{"text", "color", "confidence", "box"}]}``, best plate
first; a file that cannot be read gives ``"plates": []`` and an ``"error"``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import typer

from models.plate import format_plate
from recognition.lpr.reader import PlateReader

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files as given, and the images directly inside given folders (sorted)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        else:
            out.append(p)
    return out


def load_image(path: Path) -> np.ndarray:
    """Decode an image file to BGR; raises ValueError with the reason when it cannot."""
    if not path.is_file():
        raise ValueError("no such file")
    data = np.fromfile(path, dtype=np.uint8)  # not cv2.imread: it chokes on non-ASCII paths
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise ValueError("not a readable image")
    return img


def read_file(reader: PlateReader, path: Path) -> dict[str, Any]:
    """The result record of one image file."""
    try:
        img = load_image(path)
    except ValueError as exc:
        return {"file": str(path), "ms": 0.0, "plates": [], "error": str(exc)}
    t0 = time.perf_counter()
    dets = reader.read(img)
    ms = (time.perf_counter() - t0) * 1000
    plates = [
        {
            "text": d.text,
            "color": d.color.value,
            "confidence": round(d.confidence, 4),
            "box": list(d.box),
        }
        for d in dets
    ]
    return {"file": str(path), "ms": round(ms, 1), "plates": plates}


def lpr_main(
    paths: list[Path] = typer.Argument(..., help="Image files or folders of images."),
    json_output: bool = typer.Option(False, "--json", help="One JSON object per image."),
    home_province: str | None = typer.Option(
        None, "--home-province", help="Where most cars are registered, e.g. 浙 (site config)."
    ),
) -> None:
    """Read Chinese licence plates in images."""
    try:
        reader = PlateReader(threads=1, home_province=home_province)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--home-province") from exc
    failed = False
    for path in expand_paths(paths):
        rec = read_file(reader, path)
        failed |= "error" in rec
        if json_output:
            typer.echo(json.dumps(rec, ensure_ascii=False))
            continue
        if "error" in rec:
            typer.echo(f"{rec['file']}: error: {rec['error']}")
        elif not rec["plates"]:
            typer.echo(f"{rec['file']}: no plate ({rec['ms']} ms)")
        for p in rec["plates"]:
            typer.echo(
                f"{rec['file']}: {format_plate(p['text'])} {p['color']} "
                f"{p['confidence']:.2f} box={tuple(p['box'])} ({rec['ms']} ms)"
            )
    if failed:
        raise typer.Exit(code=1)
