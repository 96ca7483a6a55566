"""Captures as regression fixtures: every *.jsonl here is replayed against today's client.

Seeds (recorded from the simulator by make_seeds.py) have their firmware recipes in seeds.json:
the loader makes those files again. Captures sent by users name real firmware files: they are
looked for, by SHA-256, in $SQNFLASH_FIRMWARE_DIR (the test is skipped without them).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sqnflash.link.record import Capture, load_capture
from sqnflash.sim.images import Family, ImageKind, make_image

HERE = Path(__file__).resolve().parent


def capture_paths() -> list[Path]:
    return sorted(HERE.glob("*.jsonl"))


def recipes() -> dict[str, dict[str, object]]:
    path = HERE / "seeds.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def load(path: Path) -> Capture:
    return load_capture(path)


def firmware_folders(path: Path, scratch: Path) -> list[Path]:
    """Folders holding the files the capture at `path` names (made again for a seed)."""
    recipe = recipes().get(path.stem)
    if recipe is None:
        given = os.environ.get("SQNFLASH_FIRMWARE_DIR")
        return [Path(given)] if given else []
    for item in recipe["files"]:  # type: ignore[attr-defined]
        (scratch / str(item["name"])).write_bytes(make_image(
            ImageKind(item["kind"]), Family.CATM1, int(item["version"]),
            source=item.get("source"), size=item.get("size")))
    return [scratch]
