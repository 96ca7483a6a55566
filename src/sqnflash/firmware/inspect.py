"""The inside of a package: its sections, and the build strings they carry.

Real packages carry Sequans build strings in clear (`5.1.1.0 [38638] by robot-soft at ...` in the
updater and fff parts of Monarch 1 images, `8.0.5.13 [59577] by robot-soft at ...` in Monarch 2
ones, docs/protocol.md §7). They tell what a file installs even when it was renamed, so they
are collected while the file streams past, at no extra read.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqnflash.firmware import caba

BUILD_STRING = re.compile(rb"(\d+\.\d+\.\d+\.\d+) \[(\d{4,6})\] by robot-soft")
_OVERLAP = 64  # a build string split between two chunks is still found
MAX_STRINGS = 256

CHECK_NAMES = {caba.CheckKind.NONE: "none", caba.CheckKind.FLETCHER32: "Fletcher-32",
               caba.CheckKind.ECDSA_256: "ECDSA-256", caba.CheckKind.RSA_SHA256: "RSA-SHA256",
               caba.CheckKind.CRC32: "CRC-32"}
_SHORT_NAMES = {"Packed dup files": "package"}


@dataclass(frozen=True)
class BuildString:
    offset: int
    version: str  # e.g. 5.1.1.0
    build: int

    @property
    def text(self) -> str:
        return f"{self.version} [{self.build}]"


class BuildStringScanner:
    """Fed the file in order; remembers where each build string starts."""

    def __init__(self) -> None:
        self._tail = b""
        self._tail_offset = 0
        self._seen: dict[int, BuildString] = {}

    def feed(self, offset: int, chunk: bytes) -> None:
        window = self._tail + chunk
        base = offset - len(self._tail)
        if len(self._seen) < MAX_STRINGS and b"robot-soft" in window:
            for match in BUILD_STRING.finditer(window):
                where = base + match.start()
                self._seen.setdefault(where, BuildString(
                    where, match.group(1).decode("ascii"), int(match.group(2))))
        self._tail = window[-_OVERLAP:]

    @property
    def found(self) -> list[BuildString]:
        return sorted(self._seen.values(), key=lambda s: s.offset)


@dataclass(frozen=True)
class Section:
    """One package of a container, as `sqnflash check --sections` lists it."""

    name: str
    description: str
    magic: str
    depth: int
    offset: int
    size: int
    data_size: int
    check: str
    verified: bool | None
    part_type: str
    builds: tuple[str, ...]  # build strings found inside, e.g. "5.1.1.0 [38638]"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "magic": self.magic,
                "depth": self.depth, "offset": self.offset, "size": self.size,
                "data_size": self.data_size, "check": self.check, "verified": self.verified,
                "part_type": self.part_type, "builds": list(self.builds)}


def _part_type(head: bytes) -> str:
    raw = head[:4]
    if len(raw) == 4 and all(32 <= b < 127 for b in raw):
        return raw.decode("ascii")
    return f"{int.from_bytes(raw, 'little'):#x}" if len(raw) == 4 else ""


def _check_name(kind: int) -> str:
    try:
        return CHECK_NAMES[caba.CheckKind(kind)]
    except ValueError:
        return f"kind {kind}"


def _short_name(description: str) -> str:
    if description in _SHORT_NAMES:
        return _SHORT_NAMES[description]
    return description.removesuffix(" upgrade package") or "?"


def sections_of(report: caba.ContainerReport, strings: list[BuildString]) -> list[Section]:
    elements = report.all_elements()
    inside: dict[int, list[str]] = {}
    for found in strings:
        holders = [e for e in elements if e.offset <= found.offset < e.offset + e.size]
        if holders:
            deepest = max(holders, key=lambda e: e.depth)
            texts = inside.setdefault(id(deepest), [])
            if found.text not in texts:
                texts.append(found.text)
    return [Section(
        name=_short_name(e.description), description=e.description, magic=e.magic,
        depth=e.depth, offset=e.offset, size=e.size, data_size=e.data_size,
        check=_check_name(e.header.check_kind),
        verified=e.verified,
        part_type=_part_type(e.head) if e.header.magic == caba.MAGIC_UPGR else "",
        builds=tuple(inside.get(id(e), ()))) for e in elements]


def installed_release(sections: list[Section]) -> tuple[str, int] | None:
    """The version and build a package installs, from the build strings of its application
    (fff) part, or failing that its updater part, when they all agree."""
    for wanted in ("fff", "updater"):
        texts = [t for s in sections if s.name == wanted for t in s.builds]
        if texts:
            counts = Counter(texts)
            if len(counts) == 1:
                version, build = texts[0].split(" [")
                return version, int(build.rstrip("]"))
            return None
    return None
