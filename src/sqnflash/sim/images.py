"""Synthetic firmware files for the simulator, and how the simulated modem reads what it receives.

Real Sequans firmware is licensed and opaque, so tests and the demo use synthetic files that are
byte-layout twins of the real ones (docs/protocol.md §7):

- a full image is a `PACK` "Packed dup files" of bootrom, updater, fff and fs `UPGR` packages
  with Fletcher-32 trailers (`CATM1-38638.dup`), or the same packages back to back without the
  `PACK` (`NB1-37781.dup`); descriptions are the plain NUL-terminated strings real files carry;
- each part starts with the real part-type word (`toob`, 8 + `FFF!`, 2 + `FFF!`, 3); the updater
  and fff parts carry the release's build string (`5.1.1.0 [38638] by robot-soft at ...`), the
  bootrom part its own bootrom build (Pycom's built-in bootroms are 38638, 39529 and 41065);
- `updater.elf` is a 32-bit big-endian NDS32 `ET_EXEC` with a `PT_LOAD` segment at 0x1000 and a
  `.versionString` section.

The simulated modem judges an upload only by what real files also have: every container trailer
must verify and the build must be readable from the build strings (the same reading as
`sqnflash check`), so the official `CATM1-38638.dup` applies like its twin.

Choices where real files are not public: a differential image is a single `UPGR` "fff upgrade
package" whose data starts with the part type 2, the `DIFF` magic and the builds it patches and
produces (LE u32 each), then carries the build string of the build it produces.
"""

from __future__ import annotations

import random
import re
import struct
import zlib
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from sqnflash.firmware.caba import (
    MAGIC_PACK,
    MAGIC_UPGR,
    CheckKind,
    ContainerReader,
    ContainerReport,
    Element,
    encode_element,
)
from sqnflash.firmware.catalogue import load_catalogue
from sqnflash.firmware.inspect import BuildStringScanner, installed_release, sections_of
from sqnflash.firmware.names import family_of_lr


class ImageKind(str, Enum):
    FULL = "full"
    DIFF = "diff"
    UPDATER = "updater"
    BOOTROM = "bootrom"


class Family(str, Enum):
    CATM1 = "catm1"
    NB1 = "nb1"
    MONARCH2 = "monarch2"  # GM02S / GM02SP, LR 8.x: CRC-32 trailers, a pxl part


# Sizes of real files of each kind (docs/protocol.md §7): synthetic files default to them.
DEFAULT_SIZES = {
    (ImageKind.FULL, Family.CATM1): 6_059_510,
    (ImageKind.FULL, Family.NB1): 5_258_127,
    (ImageKind.DIFF, Family.CATM1): 452_000,
    (ImageKind.DIFF, Family.NB1): 452_000,
    (ImageKind.UPDATER, Family.CATM1): 429_340,
    (ImageKind.UPDATER, Family.NB1): 364_000,
    (ImageKind.BOOTROM, Family.CATM1): 55_570,
    (ImageKind.BOOTROM, Family.NB1): 55_570,
    (ImageKind.FULL, Family.MONARCH2): 7_020_424,
    # mtools.elf: its size is not published; an updater's order of magnitude
    (ImageKind.UPDATER, Family.MONARCH2): 300_000,
}
# Part sizes inside the real full images (docs/protocol.md §7): CATM1-38638.dup and
# NB1-37781.dup. With them a twin of CATM1-38638.dup has the real file's layout to the byte.
REAL_PART_SIZES = {
    Family.CATM1: {"updater": 428_826, "fs": 51_245},
    Family.NB1: {"updater": 306_186, "fs": 69_677},
    Family.MONARCH2: {"updater": 376_764, "fs": 419_844, "pxl": 76_068},
}
DESCRIPTIONS = {
    "package": b"Packed dup files",
    "bootrom": b"bootrom upgrade package",
    "updater": b"updater upgrade package",
    "fff": b"fff upgrade package",
    "fs": b"fs upgrade package",
    "pxl": b"pxl upgrade package",
}
# The first bytes of each part's data, as in the real files: a part-type word, then (updater and
# fff) an `FFF!` header.
PART_HEADS = {
    "bootrom": b"toob" + bytes(8) + b"\x01",
    "updater": struct.pack("<I", 8) + b"FFF!" + struct.pack("<II", 0, 1),
    "fff": struct.pack("<I", 2) + b"FFF!" + struct.pack("<II", 0, 1),
    "fs": struct.pack("<III", 3, 3, 1),
    "pxl": struct.pack("<III", 0x10, 0, 1),
}
DIFF_MAGIC = b"DIFF"
FIRST_BUILT_IN_BOOTROM = 38638  # Pycom's built-in bootrom v1, inside CATM1-38638 and NB1-37781
MIN_SIZE = 4096
BUILD_STRING_AT = 0.8  # where in a part's data its build string sits (real files: near the end)


@dataclass(frozen=True)
class ImageMeta:
    """What the modem reads from a package: the kind, and the build it installs."""

    kind: ImageKind
    family: Family | None  # None: not a Monarch 1 family (a Monarch 2 image, say)
    version: int  # the build it installs (a bootrom package: the bootrom's build)
    source: int | None = None  # differential images: the build they patch, when readable
    lr: str | None = None  # e.g. 5.1.1.0, from the build string


def _description(part: str) -> bytes:
    return DESCRIPTIONS[part] + b"\0"  # real descriptions are not padded (PACK header: 35 bytes)


def _filler(rng: random.Random, n: int) -> bytes:
    return rng.randbytes(n) if n > 0 else b""


def _data(head: bytes, size: int, rng: random.Random, build_string: bytes | None) -> bytes:
    """`size` bytes of part data: `head`, filler, and the build string near the end."""
    # NUL on both sides, as a C string among others: a filler digit just before it would
    # otherwise read as part of the version.
    text = b"\0" + build_string + b"\0" if build_string else b""
    if size < len(head) + len(text):
        raise ValueError(f"{size} bytes of data cannot hold the part's header and build string")
    filler = _filler(rng, size - len(head) - len(text))
    at = min(len(filler), int(len(filler) * BUILD_STRING_AT))
    return head + filler[:at] + text + filler[at:]


def _upgr(part: str, total: int, rng: random.Random, build_string: bytes | None = None,
          head: bytes | None = None, check: CheckKind = CheckKind.FLETCHER32) -> bytes:
    """One UPGR package of exactly `total` bytes."""
    description = _description(part)
    data_len = total - 18 - len(description) - 4
    if data_len < 0:
        raise ValueError(f"{total} bytes is too small for a {part} package")
    data = _data(PART_HEADS[part] if head is None else head, data_len, rng, build_string)
    return encode_element(MAGIC_UPGR, description, data, check)


_CATALOGUE_FAMILY = {Family.CATM1: "CAT-M1", Family.NB1: "NB-IoT", Family.MONARCH2: "Monarch 2"}


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


def bootrom_build_for(version: int) -> int:
    """The bootrom a full image of `version` carries: the newest of Pycom's built-in bootroms
    not newer than the release (CATM1-38638 and NB1-37781 both carry 38638's)."""
    builds = sorted(b.build for b in load_catalogue().bootroms) or [FIRST_BUILT_IN_BOOTROM]
    older = [b for b in builds if b <= version]
    return older[-1] if older else builds[0]


def make_image(kind: ImageKind, family: Family, version: int, *, source: int | None = None,
               size: int | None = None, seed: int | None = None, plain: bool | None = None
               ) -> bytes:
    """The bytes of a synthetic file.

    `plain`: a full image as UPGR packages back to back, without the PACK (default: the layout of
    the real release, plain only for NB1-37781)."""
    kind = ImageKind(kind)
    family = Family(family)
    if kind == ImageKind.DIFF and source is None:
        raise ValueError("a differential image needs the build it applies to (--from)")
    if kind != ImageKind.DIFF and source is not None:
        raise ValueError("only differential images have a source build")
    if plain and kind != ImageKind.FULL:
        raise ValueError("only a full image can be a plain sequence of packages")
    if family == Family.MONARCH2 and kind not in (ImageKind.FULL, ImageKind.UPDATER):
        raise ValueError("Monarch 2 twins exist only as full images and as mtools.elf")
    if size is None:
        size = official_size(kind, family, version, source)
    total = DEFAULT_SIZES[(kind, family)] if size is None else size
    if total < MIN_SIZE:
        raise ValueError(f"synthetic images must be at least {MIN_SIZE} bytes")
    if seed is None:
        seed = zlib.crc32(f"{kind.value} {family.value} {version} {source} {total}".encode())
    rng = random.Random(seed)
    if kind == ImageKind.UPDATER:
        return make_updater_elf(family, version, total, rng)
    if kind == ImageKind.BOOTROM:
        return _upgr("bootrom", total, rng, version_string(None, version).encode())
    if kind == ImageKind.DIFF:
        assert source is not None
        head = PART_HEADS["fff"][:4] + DIFF_MAGIC + struct.pack("<II", source, version)
        return _upgr("fff", total, rng, version_string(family, version).encode(), head=head)
    if family == Family.MONARCH2:
        if plain:
            raise ValueError("a Monarch 2 image is always a PACK")
        return _make_monarch2(version, total, rng)
    if plain is None:
        plain = (family, version) == (Family.NB1, 37781)
    return _make_full(family, version, total, rng, plain)


def _make_monarch2(version: int, total: int, rng: random.Random) -> bytes:
    """A twin of `GM02RB6Q_LR8.0.5.13-59577.dup`: a PACK of bootrom, updater, fff, pxl and fs
    packages with CRC-32 trailers, every part naming the release's build."""
    real = REAL_PART_SIZES[Family.MONARCH2]
    sizes = {"bootrom": min(69_696, max(total // 16, 512)),
             "updater": min(real["updater"], max(total // 8, 512)),
             "pxl": min(real["pxl"], max(total // 32, 256)),
             "fs": min(real["fs"], max(total // 32, 256))}
    wrapper = 18 + len(_description("package")) + 4
    sizes["fff"] = total - wrapper - sum(sizes.values())
    release = version_string(Family.MONARCH2, version).encode()
    children = b"".join(
        _upgr(part, sizes[part], rng, release if part != "fs" else None, check=CheckKind.CRC32)
        for part in ("bootrom", "updater", "fff", "pxl", "fs"))
    return encode_element(MAGIC_PACK, _description("package"), children, CheckKind.CRC32)


def _make_full(family: Family, version: int, total: int, rng: random.Random,
               plain: bool) -> bytes:
    bootrom_build = bootrom_build_for(version)
    bootrom_size = official_size(ImageKind.BOOTROM, Family.CATM1, bootrom_build) or 55_570
    real = REAL_PART_SIZES[family]
    sizes = {
        "bootrom": min(bootrom_size, max(total // 16, 512)),
        "updater": min(real["updater"], max(total // 8, 512)),
        "fs": min(real["fs"], max(total // 32, 256)),
    }
    wrapper = 0 if plain else 18 + len(_description("package")) + 4
    sizes["fff"] = total - wrapper - sum(sizes.values())
    release = version_string(family, version).encode()
    children = b"".join([
        _upgr("bootrom", sizes["bootrom"], rng, version_string(None, bootrom_build).encode()),
        _upgr("updater", sizes["updater"], rng, release),
        _upgr("fff", sizes["fff"], rng, release),
        _upgr("fs", sizes["fs"], rng),
    ])
    if plain:
        return children
    return encode_element(MAGIC_PACK, _description("package"), children, CheckKind.FLETCHER32)


# --------------------------------------------------------------------------- updater.elf

EM_NDS32 = 167
LR_VERSIONS = {Family.CATM1: "5.1.1.0", Family.NB1: "6.0.0.0"}


# Monarch 2 builds and their LR versions (docs/protocol.md §7); a build between two known ones
# gets the older one's version, a build below them all a version under the 8.0.4.0 gate. Which
# build the 8.0.4.0 release had is not published: the simulator takes every build from 55000 up
# to pass the gate, so that a modem one release behind (e.g. 58000) can be upgraded.
MONARCH2_VERSIONS = ((63493, "8.2.2.1"), (61488, "8.2.1.0"), (59577, "8.0.5.13"),
                     (55000, "8.0.4.0"))
MONARCH2_RASTER_VERSION = "8.0.3.0"
MONARCH2_MIN_FULL_UPGRADE = (8, 0, 4, 0)  # pysequans' FULL_UPGRADE_MIN_VERSION


def needs_raster_upgrade(build: int) -> bool:
    """A Monarch 2 below 8.0.4.0 takes no full image: pysequans says "raster upgrade required"."""
    version = tuple(int(p) for p in lr_version(Family.MONARCH2, build).split("."))
    return version < MONARCH2_MIN_FULL_UPGRADE


def lr_version(family: Family | None, build: int) -> str:
    """The LR version of a build (a Monarch 1 bootrom: family None, always a 5.x build)."""
    if family == Family.MONARCH2:
        return next((v for b, v in MONARCH2_VERSIONS if build >= b), MONARCH2_RASTER_VERSION)
    if family == Family.NB1:
        return LR_VERSIONS[Family.NB1]
    return "5.2.1.0" if build >= 48000 else LR_VERSIONS[Family.CATM1]


def version_string(family: Family | None, build: int) -> str:
    return f"{lr_version(family, build)} [{build}] by robot-soft at {build_date(build)}"


KNOWN_BUILD_DATES = {
    33080: "2017-10-27 07:49:11",
    37781: "2018-07-05 20:21:02",
    38638: "2018-08-20 09:51:46",
    41019: "2018-12-13 21:41:15",
    59577: "2023-08-31 10:00:00",
}


def build_date(build: int) -> str:
    return KNOWN_BUILD_DATES.get(build, "2019-01-15 10:00:00")


def make_updater_elf(family: Family, version: int, total: int, rng: random.Random) -> bytes:
    """A 32-bit big-endian NDS32 executable: one PT_LOAD segment (.text at the entry point
    0x1000), then .versionString and .shstrtab, the section table at the end."""
    vstring = version_string(family, version).encode() + b"\0"
    names = b"\0.text\0.versionString\0.shstrtab\0"
    ehdr_size, phdr_size, shdr_size = 52, 32, 40
    fixed = ehdr_size + phdr_size + len(vstring) + len(names) + 4 * shdr_size
    text_size = total - fixed
    if text_size < 64:
        raise ValueError(f"{total} bytes is too small for an updater ELF")
    text = _filler(rng, text_size)
    offsets = {}
    pos = ehdr_size + phdr_size
    body = b""
    for name, blob in ((".text", text), (".versionString", vstring), (".shstrtab", names)):
        offsets[name] = (pos, len(blob))
        body += blob
        pos += len(blob)
    shoff = pos
    entry = 0x1000
    ident = b"\x7fELF" + bytes([1, 2, 1, 0]) + b"\0" * 8  # ELFCLASS32, ELFDATA2MSB, EV_CURRENT
    ehdr = ident + struct.pack(">HHIIIIIHHHHHH", 2, EM_NDS32, 1, entry, ehdr_size, shoff, 0,
                               ehdr_size, phdr_size, 1, shdr_size, 4, 3)
    text_off = offsets[".text"][0]
    phdr = struct.pack(">IIIIIIII", 1, text_off, entry, entry, text_size, text_size, 5, 4)

    def shdr(name: str, sh_type: int, flags: int, addr: int) -> bytes:
        off, size = offsets[name]
        return struct.pack(">IIIIIIIIII", names.index(name.encode() + b"\0"), sh_type, flags, addr,
                           off, size, 0, 0, 1, 0)

    sections = (b"\0" * shdr_size + shdr(".text", 1, 6, entry)
                + shdr(".versionString", 1, 2, 0) + shdr(".shstrtab", 3, 0, 0))
    out = ehdr + phdr + body + sections
    assert len(out) == total
    return out


def write_image(path: Path, kind: ImageKind, family: Family, version: int, *,
                source: int | None = None, size: int | None = None) -> int:
    data = make_image(kind, family, version, source=source, size=size)
    path.write_bytes(data)
    return len(data)


def default_name(kind: ImageKind, family: Family, version: int, source: int | None = None) -> str:
    if kind == ImageKind.UPDATER:
        return "mtools.elf" if family == Family.MONARCH2 else "updater.elf"
    if kind == ImageKind.BOOTROM:
        return f"bootrom-{version}.dup"
    if kind == ImageKind.DIFF:
        return f"upgdiff_{source}-to-{version}.dup"
    if family == Family.MONARCH2:
        return f"GM02S-twin_LR{lr_version(family, version)}-{version}.dup"  # not the official name
    return f"{'CATM1' if family == Family.CATM1 else 'NB1'}-{version}.dup"


def write_files(folder: Path, kind: ImageKind, version: int, *, source: int | None = None,
                updater: bool = False) -> tuple[Path, Path | None]:
    """A CAT-M1 image of `kind` under its official name in `folder`, and `updater.elf` when
    asked for; files already there are kept (a benchmark writes them once for all its runs)."""
    image = folder / default_name(kind, Family.CATM1, version, source)
    if not image.exists():
        image.write_bytes(make_image(kind, Family.CATM1, version, source=source))
    if not updater:
        return image, None
    elf = folder / "updater.elf"
    if not elf.exists():
        elf.write_bytes(make_image(ImageKind.UPDATER, Family.CATM1, version))
    return image, elf


# --------------------------------------------------------------------------- receiving

# A bootrom names its build as `5.1.1.0 [38638]` or, in Monarch 2 images, `8.0.5.13-59577`.
_BOOTROM_BUILD = re.compile(
    rb"(?<![\d.])(\d+\.\d+\.\d+\.\d+)(?: \[(\d{4,6})\]|-(\d{4,6})) by robot-soft")
_FAMILIES = {"CAT-M1": Family.CATM1, "NB-IoT": Family.NB1, "Monarch 2": Family.MONARCH2}
HEAD = 128  # bytes kept from the start of an upload: enough for a package header and part type


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


class _BootromBuilds:
    """Build strings in either form, with where they start (for the bootrom part)."""

    def __init__(self) -> None:
        self._tail = b""
        self.found: list[tuple[int, str, int]] = []  # offset, version, build

    def feed(self, offset: int, chunk: bytes) -> None:
        window = self._tail + chunk
        base = offset - len(self._tail)
        if len(self.found) < 64 and b"robot-soft" in window:
            seen = {f[0] for f in self.found}
            for match in _BOOTROM_BUILD.finditer(window):
                if base + match.start() not in seen:
                    self.found.append((base + match.start(), match.group(1).decode(),
                                       int(match.group(2) or match.group(3))))
        self._tail = window[-64:]


class ImageSink:
    """Takes an upload in pieces, with constant memory, and judges it at the end by its contents:
    container trailers, package descriptions and part types, build strings."""

    def __init__(self) -> None:
        self.size = 0
        self._reader = ContainerReader()
        self._head = b""
        self._builds = BuildStringScanner()
        self._bootrom_builds = _BootromBuilds()
        self._full = False

    def feed(self, data: bytes) -> None:
        start = self.size
        self.size += len(data)
        if len(self._head) < HEAD:
            self._head += data[: HEAD - len(self._head)]
        if self._head.startswith(b"\x7fELF"):
            return
        self._reader.feed(data)
        self._builds.feed(start, data)
        self._bootrom_builds.feed(start, data)

    @property
    def looks_like_full_image(self) -> bool:
        """Writing this upload ON_THE_FLY overwrites the application: a PACK, or packages that
        go on past a first bootrom package (a plain sequence such as NB1-37781.dup), or an
        updater or application part. A bootrom package alone, or a diff, does not."""
        if not self._full:
            self._full = self._overwrites_application()
        return self._full

    def _overwrites_application(self) -> bool:
        head = self._head
        if len(head) < 18:
            return False
        if head[:4] == MAGIC_PACK:
            return True
        if head[:4] != MAGIC_UPGR:
            return False
        size = int(struct.unpack_from("<I", head, 8)[0])
        desc_len = int(struct.unpack_from("<H", head, 16)[0])
        description = head[18 : 18 + desc_len].split(b"\0", 1)[0]
        if description == DESCRIPTIONS["bootrom"]:
            return self.size > 18 + desc_len + size + 4
        data = head[18 + desc_len :]
        if len(data) < 8:
            return False
        return data[4:8] != DIFF_MAGIC

    def judge(self) -> Received:
        if self.size == 0:
            return Received(0, None, False, "nothing was received")
        if self._head.startswith(b"\x7fELF"):
            return Received(self.size, None, True, _elf_problem(self._head, self.size))
        report: ContainerReport = self._reader.finish()
        if report.problems:
            return Received(self.size, None, False, "Incomplete upgrade file: "
                            + report.problems[0].message)
        failed = report.failed_checks()
        if failed:
            damaged = max(failed, key=lambda e: (e.depth, -e.offset))  # not the PACK around it
            return Received(self.size, None, False, "Firmware upgrade data is not valid: check "
                            f"value of '{damaged.description}' does not match")
        meta, problem = self._contents(report)
        return Received(self.size, meta, False, problem)

    def _contents(self, report: ContainerReport) -> tuple[ImageMeta | None, str | None]:
        parts = [e for e in report.all_elements() if e.header.magic == MAGIC_UPGR]
        names = [e.description.removesuffix(" upgrade package") for e in parts]
        release = installed_release(sections_of(report, self._builds.found))
        diffs = [e for e in parts if e.head[4:8] == DIFF_MAGIC]
        if diffs:
            if len(parts) > 1:
                return None, "a differential package mixed with other packages"
            source, produces = _diff_builds(diffs[0])
            if release is None and produces is None:
                return None, "the build this differential image produces cannot be read"
            lr, build = release if release is not None else (None, produces)
            assert build is not None
            return ImageMeta(ImageKind.DIFF, _family(lr), build, source, lr), None
        if names and all(n == "bootrom" for n in names):
            first = parts[0]
            inside = [(v, b) for at, v, b in self._bootrom_builds.found
                      if first.offset <= at < first.offset + first.size]
            if not inside:
                return None, "the build of this bootrom package cannot be read"
            lr, build = inside[0]
            return ImageMeta(ImageKind.BOOTROM, None, build, lr=lr), None
        if "fff" not in names:
            return None, ("no application (fff) package: "
                          f"{', '.join(names) or 'no packages'} only")
        if release is None:
            return None, "the build this image installs cannot be read from its packages"
        lr, build = release
        return ImageMeta(ImageKind.FULL, _family(lr), build, lr=lr), None


def _family(lr: str | None) -> Family | None:
    return _FAMILIES.get(family_of_lr(lr) or "") if lr else None


def _diff_builds(element: Element) -> tuple[int | None, int | None]:
    head = element.head
    if len(head) < 16:
        return None, None
    source, produces = struct.unpack_from("<II", head, 8)
    plausible = range(1000, 1_000_000)
    return (source if source in plausible else None,
            produces if produces in plausible else None)


def _elf_problem(header: bytes, size: int) -> str | None:
    """Why the boot loader would not run this ELF: not for its core, or cut short."""
    if len(header) < 52:
        return f"truncated ELF: {size} bytes"
    if header[4] != 1 or header[5] != 2:
        return "not a 32-bit big-endian ELF: not for the modem's core"
    machine = struct.unpack_from(">H", header, 18)[0]
    if machine != EM_NDS32:
        return f"ELF for machine {machine}, not the modem's NDS32 core"
    needed = _elf_extent(header)
    if needed is not None and size < needed:
        return f"truncated ELF: {size} of {needed} bytes"
    return None


def _elf_extent(header: bytes) -> int | None:
    """Where a 32-bit ELF's program and section header tables end: a loader that received fewer
    bytes has a truncated file (big- or little-endian; None when the header is too short)."""
    if len(header) < 52 or header[4] != 1:
        return None
    order = ">" if header[5] == 2 else "<"
    phoff, shoff = struct.unpack_from(order + "II", header, 28)
    phentsize, phnum, shentsize, shnum = struct.unpack_from(order + "HHHH", header, 42)
    return int(max(phoff + phentsize * phnum, shoff + shentsize * shnum))
