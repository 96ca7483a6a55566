"""Synthetic firmware files for the simulator, and how the simulator reads what it receives.

Real Sequans firmware is licensed and opaque, so the simulator works with synthetic files laid out
like real ones: `.dup` images are CABA v3 containers (a `PACK` of bootrom, updater, fff and fs
`UPGR` packages with Fletcher-32 trailers, named and sized like the real releases) and `updater.elf`
is a real 32-bit big-endian ELF for the Andes NDS32 core. What the simulator needs to know (kind,
family, version, source version and a CRC-32 of the body) travels after the first NUL of a package
description, or in an ELF section named `.sqnsim`: every reader of real files stops at that NUL, so
sqnflash's own identification code never sees it.

Choices where real files are not public: a differential image is a single `UPGR` "fff upgrade
package" whose data starts with the part type 2 and the `DIFF` magic.
"""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from sqnflash.firmware.catalogue import load_catalogue
from sqnflash.protocol.caba import (
    MAGIC_PACK,
    MAGIC_UPGR,
    CheckKind,
    ContainerReader,
    ContainerReport,
    encode_element,
    pad_description,
)

META_MARK = b"sqnsim "


class ImageKind(str, Enum):
    FULL = "full"
    DIFF = "diff"
    UPDATER = "updater"
    BOOTROM = "bootrom"


class Family(str, Enum):
    CATM1 = "catm1"
    NB1 = "nb1"


# Sizes of real files of each kind (protocol.md §6): synthetic files default to them.
DEFAULT_SIZES = {
    (ImageKind.FULL, Family.CATM1): 6_059_510,
    (ImageKind.FULL, Family.NB1): 5_258_127,
    (ImageKind.DIFF, Family.CATM1): 452_000,
    (ImageKind.DIFF, Family.NB1): 452_000,
    (ImageKind.UPDATER, Family.CATM1): 429_340,
    (ImageKind.UPDATER, Family.NB1): 364_000,
    (ImageKind.BOOTROM, Family.CATM1): 55_570,
    (ImageKind.BOOTROM, Family.NB1): 55_570,
}
REAL_PART_SIZES = {"bootrom": 55_570, "updater": 428_826, "fs": 51_245}
PART_TYPES = {
    "bootrom": b"toob",
    "updater": struct.pack("<I", 8) + b"FFF!",
    "fff": struct.pack("<I", 2) + b"FFF!",
    "fs": struct.pack("<I", 3),
    "diff": struct.pack("<I", 2) + b"DIFF",
}
MIN_SIZE = 4096


@dataclass(frozen=True)
class ImageMeta:
    kind: ImageKind
    family: Family | None
    version: int
    source: int | None = None  # differential images: the build they apply to
    body_crc: int | None = None

    def encode(self) -> bytes:
        fields = [f"kind={self.kind.value}", f"version={self.version}"]
        if self.family is not None:
            fields.append(f"family={self.family.value}")
        if self.source is not None:
            fields.append(f"from={self.source}")
        if self.body_crc is not None:
            fields.append(f"crc32={self.body_crc:08x}")
        return META_MARK + " ".join(fields).encode("ascii")

    @classmethod
    def decode(cls, raw: bytes) -> ImageMeta | None:
        start = raw.find(META_MARK)
        if start < 0:
            return None
        text = raw[start + len(META_MARK) :].split(b"\0", 1)[0].decode("ascii", "replace")
        fields = dict(item.split("=", 1) for item in text.split() if "=" in item)
        try:
            return cls(
                kind=ImageKind(fields["kind"]),
                family=Family(fields["family"]) if "family" in fields else None,
                version=int(fields["version"]),
                source=int(fields["from"]) if "from" in fields else None,
                body_crc=int(fields["crc32"], 16) if "crc32" in fields else None,
            )
        except (KeyError, ValueError):
            return None


def _filler(rng: random.Random, n: int) -> bytes:
    return rng.randbytes(n) if n > 0 else b""


def _upgr(part: str, total: int, rng: random.Random, meta: ImageMeta | None = None) -> bytes:
    """One UPGR package of exactly `total` bytes."""
    description = pad_description(f"{part} upgrade package".encode(),
                                  meta.encode() if meta else b"")
    data_len = total - 18 - len(description) - 4
    part_type = PART_TYPES[part]
    if data_len < len(part_type):
        raise ValueError(f"{total} bytes is too small for a {part} package")
    data = part_type + _filler(rng, data_len - len(part_type))
    return encode_element(MAGIC_UPGR, description, data, CheckKind.FLETCHER32)


def _with_body_crc(build: Callable[[ImageMeta], bytes], meta: ImageMeta) -> bytes:
    """Build an element twice: the body CRC goes in the description, which sits before the body."""
    first = build(ImageMeta(meta.kind, meta.family, meta.version, meta.source, 0))
    body = _body_of(first)
    return build(ImageMeta(meta.kind, meta.family, meta.version, meta.source, zlib.crc32(body)))


def _body_of(element: bytes) -> bytes:
    size = struct.unpack_from("<I", element, 8)[0]
    desc_len = struct.unpack_from("<H", element, 16)[0]
    return element[18 + desc_len : 18 + desc_len + size]


_CATALOGUE_FAMILY = {Family.CATM1: "CAT-M1", Family.NB1: "NB-IoT"}


def official_size(kind: ImageKind, family: Family, version: int,
                  source: int | None = None) -> int | None:
    """The size of the official file of that kind and release, when the catalogue knows it, so
    that a synthetic `CATM1-38638.dup` passes the same size check as the real one."""
    catalogue = load_catalogue()
    if kind == ImageKind.UPDATER:
        release = catalogue.release(version)
        if release is not None and release.family == _CATALOGUE_FAMILY[family]:
            return release.updater_sizes[0] if release.updater_sizes else None
        return None
    if kind == ImageKind.BOOTROM:
        bootrom = next((b for b in catalogue.bootroms if b.build == version), None)
        return bootrom.size if bootrom else None
    for known in catalogue.files:
        if (known.kind == kind.value and known.build == version and known.step is None
                and known.family == _CATALOGUE_FAMILY[family] and known.source_build == source
                and known.size is not None):
            return known.size
    return None


def make_image(kind: ImageKind, family: Family, version: int, *, source: int | None = None,
               size: int | None = None, seed: int | None = None) -> bytes:
    """The bytes of a synthetic file."""
    kind = ImageKind(kind)
    family = Family(family)
    if kind == ImageKind.DIFF and source is None:
        raise ValueError("a differential image needs the build it applies to (--from)")
    if kind != ImageKind.DIFF and source is not None:
        raise ValueError("only differential images have a source build")
    if size is None:
        size = official_size(kind, family, version, source)
    total = DEFAULT_SIZES[(kind, family)] if size is None else size
    if total < MIN_SIZE:
        raise ValueError(f"synthetic images must be at least {MIN_SIZE} bytes")
    if seed is None:
        seed = zlib.crc32(f"{kind.value} {family.value} {version} {source} {total}".encode())
    rng = random.Random(seed)
    meta = ImageMeta(kind, family, version, source)
    if kind == ImageKind.UPDATER:
        return make_updater_elf(family, version, total, rng)
    if kind == ImageKind.BOOTROM:
        state = rng.getstate()

        def build_bootrom(m: ImageMeta) -> bytes:
            rng.setstate(state)
            return _upgr("bootrom", total, rng, m)

        return _with_body_crc(build_bootrom, ImageMeta(kind, None, version))
    if kind == ImageKind.DIFF:
        state = rng.getstate()

        def build_diff(m: ImageMeta) -> bytes:
            rng.setstate(state)
            return _upgr_diff(total, rng, m)

        return _with_body_crc(build_diff, meta)
    return _make_full(meta, total, rng)


def _upgr_diff(total: int, rng: random.Random, meta: ImageMeta) -> bytes:
    description = pad_description(b"fff upgrade package", meta.encode())
    data_len = total - 18 - len(description) - 4
    data = PART_TYPES["diff"] + _filler(rng, data_len - len(PART_TYPES["diff"]))
    return encode_element(MAGIC_UPGR, description, data, CheckKind.FLETCHER32)


def _make_full(meta: ImageMeta, total: int, rng: random.Random) -> bytes:
    sizes = {
        "bootrom": min(REAL_PART_SIZES["bootrom"], max(total // 16, 512)),
        "updater": min(REAL_PART_SIZES["updater"], max(total // 8, 512)),
        "fs": min(REAL_PART_SIZES["fs"], max(total // 32, 256)),
    }
    pack_desc_len = len(pad_description(b"Packed dup files", ImageMeta(
        meta.kind, meta.family, meta.version, meta.source, 0).encode()))
    sizes["fff"] = total - 18 - pack_desc_len - 4 - sum(sizes.values())
    children = b"".join([
        _upgr("bootrom", sizes["bootrom"], rng, ImageMeta(ImageKind.BOOTROM, None, meta.version)),
        _upgr("updater", sizes["updater"], rng),
        _upgr("fff", sizes["fff"], rng),
        _upgr("fs", sizes["fs"], rng),
    ])
    final = ImageMeta(meta.kind, meta.family, meta.version, meta.source, zlib.crc32(children))
    description = pad_description(b"Packed dup files", final.encode())
    assert len(description) == pack_desc_len
    return encode_element(MAGIC_PACK, description, children, CheckKind.FLETCHER32)


# --------------------------------------------------------------------------- updater.elf

EM_NDS32 = 167
LR_VERSIONS = {Family.CATM1: "5.1.1.0", Family.NB1: "6.0.0.0"}


def version_string(family: Family | None, build: int) -> str:
    lr = LR_VERSIONS.get(family or Family.CATM1, "5.1.1.0")
    return f"{lr} [{build}] by robot-soft at {build_date(build)}"


KNOWN_BUILD_DATES = {
    33080: "2017-10-27 07:49:11",
    37781: "2018-07-05 20:21:02",
    38638: "2018-08-20 09:51:46",
    41019: "2018-12-13 21:41:15",
}


def build_date(build: int) -> str:
    return KNOWN_BUILD_DATES.get(build, "2019-01-15 10:00:00")


def make_updater_elf(family: Family, version: int, total: int, rng: random.Random) -> bytes:
    """A 32-bit big-endian NDS32 executable with .text, .versionString, .sqnsim and .shstrtab."""
    meta = ImageMeta(ImageKind.UPDATER, family, version).encode() + b"\0"
    vstring = version_string(family, version).encode() + b"\0"
    names = b"\0.text\0.versionString\0.sqnsim\0.shstrtab\0"
    ehdr_size, shdr_size = 52, 40
    fixed = ehdr_size + len(vstring) + len(meta) + len(names) + 5 * shdr_size
    text_size = total - fixed
    if text_size < 64:
        raise ValueError(f"{total} bytes is too small for an updater ELF")
    text = _filler(rng, text_size)
    offsets = {}
    pos = ehdr_size
    body = b""
    for name, blob in ((".text", text), (".versionString", vstring), (".sqnsim", meta),
                       (".shstrtab", names)):
        offsets[name] = (pos, len(blob))
        body += blob
        pos += len(blob)
    shoff = pos
    ident = b"\x7fELF" + bytes([1, 2, 1, 0]) + b"\0" * 8  # ELFCLASS32, ELFDATA2MSB, EV_CURRENT
    ehdr = ident + struct.pack(">HHIIIIIHHHHHH", 2, EM_NDS32, 1, 0x1000, 0, shoff, 0, ehdr_size,
                               0, 0, shdr_size, 5, 4)

    def shdr(name: str, sh_type: int, flags: int, addr: int) -> bytes:
        off, size = offsets[name]
        return struct.pack(">IIIIIIIIII", names.index(name.encode() + b"\0"), sh_type, flags, addr,
                           off, size, 0, 0, 1, 0)

    sections = (b"\0" * shdr_size + shdr(".text", 1, 6, 0x1000)
                + shdr(".versionString", 1, 2, 0) + shdr(".sqnsim", 1, 0, 0)
                + shdr(".shstrtab", 3, 0, 0))
    out = ehdr + body + sections
    assert len(out) == total
    return out


def write_image(path: Path, kind: ImageKind, family: Family, version: int, *,
                source: int | None = None, size: int | None = None) -> int:
    data = make_image(kind, family, version, source=source, size=size)
    path.write_bytes(data)
    return len(data)


def default_name(kind: ImageKind, family: Family, version: int, source: int | None = None) -> str:
    if kind == ImageKind.UPDATER:
        return "updater.elf"
    if kind == ImageKind.BOOTROM:
        return f"bootrom-{version}.dup"
    if kind == ImageKind.DIFF:
        return f"upgdiff_{source}-to-{version}.dup"
    return f"{'CATM1' if family == Family.CATM1 else 'NB1'}-{version}.dup"


# --------------------------------------------------------------------------- receiving


@dataclass(frozen=True)
class Received:
    """What the simulated modem makes of the bytes it was sent."""

    size: int
    meta: ImageMeta | None
    is_elf: bool
    problem: str | None  # why the modem would refuse it, None when it is good

    @property
    def ok(self) -> bool:
        return self.problem is None


class ImageSink:
    """Takes an upload in pieces, with constant memory, and judges it at the end."""

    def __init__(self) -> None:
        self.size = 0
        self._reader = ContainerReader()
        self._head = b""
        self._elf_meta = b""
        self._tail = b""
        self._body_crc = 0
        self._body_range: tuple[int, int] | None = None

    def feed(self, data: bytes) -> None:
        start = self.size
        self.size += len(data)
        if len(self._head) < 64:
            self._head += data[: 64 - len(self._head)]
            if len(self._head) >= 18 and self._body_range is None and self._head[:4] in (
                MAGIC_PACK, MAGIC_UPGR):
                size = struct.unpack_from("<I", self._head, 8)[0]
                desc_len = struct.unpack_from("<H", self._head, 16)[0]
                self._body_range = (18 + desc_len, 18 + desc_len + size)
        if self._head.startswith(b"\x7fELF"):
            self._scan_elf(data)
            return
        self._reader.feed(data)
        if self._body_range is not None:
            lo, hi = self._body_range
            a, b = max(lo, start), min(hi, self.size)
            if a < b:
                self._body_crc = zlib.crc32(data[a - start : b - start], self._body_crc)

    @property
    def looks_like_full_image(self) -> bool:
        """A PACK container: writing it ON_THE_FLY overwrites the application."""
        return self._head[:4] == MAGIC_PACK

    def _scan_elf(self, data: bytes) -> None:
        if self._elf_meta:
            if len(self._elf_meta) < 256:
                self._elf_meta += data[: 256 - len(self._elf_meta)]
            return
        window = self._tail + data
        at = window.find(META_MARK)
        if at >= 0:
            self._elf_meta = window[at : at + 256]
        self._tail = window[-len(META_MARK) :]

    def judge(self) -> Received:
        if self.size == 0:
            return Received(0, None, False, "nothing was received")
        if self._head.startswith(b"\x7fELF"):
            meta = ImageMeta.decode(self._elf_meta) if self._elf_meta else None
            needed = _elf_extent(self._head)
            if needed is not None and self.size < needed:
                return Received(self.size, meta, True,
                                f"truncated ELF: {self.size} of {needed} bytes")
            return Received(self.size, meta, True, None)
        report: ContainerReport = self._reader.finish()
        if report.problems:
            return Received(self.size, None, False, "Incomplete upgrade file: "
                            + report.problems[0].message)
        failed = report.failed_checks()
        if failed:
            return Received(self.size, None, False, "Firmware upgrade data is not valid: check "
                            f"value of '{failed[0].description}' does not match")
        root = report.elements[0]
        meta = ImageMeta.decode(root.description_extra)
        if meta is None:
            return Received(self.size, None, False,
                            "not a synthetic image: the simulator cannot apply real firmware")
        if meta.body_crc is not None and meta.body_crc != (self._body_crc & 0xFFFFFFFF):
            return Received(self.size, meta, False, "Firmware upgrade data is not valid: body CRC")
        return Received(self.size, meta, False, None)


def _elf_extent(header: bytes) -> int | None:
    """Where a 32-bit ELF's program and section header tables end: a loader that received fewer
    bytes has a truncated file (big- or little-endian; None when the header is too short)."""
    if len(header) < 52 or header[4] != 1:
        return None
    order = ">" if header[5] == 2 else "<"
    phoff, shoff = struct.unpack_from(order + "II", header, 28)
    phentsize, phnum, shentsize, shnum = struct.unpack_from(order + "HHHH", header, 42)
    return int(max(phoff + phentsize * phnum, shoff + shentsize * shnum))
