"""Identify and validate firmware files without a modem.

A file is judged by what is publicly known of real files: its name (`CATM1-<build>.dup`,
`NB1-<build>.dup`, `upgdiff_<from>-to-<to>.dup`, `updater.elf`), its size, and its container
(`PACK`/`UPGR` packages whose every trailer must verify, protocol.md §6). A truncated or corrupted
download is refused here, before the modem is touched.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from sqnflash.errors import (
    ContainerCorrupt,
    FileEmpty,
    FileMissing,
    FileTooSmall,
    FileTruncated,
    FileUnreadable,
    NotAFile,
    NotAnElf,
    WrongFileKind,
)
from sqnflash.firmware.source import BlockSource, BytesSource, FileSource
from sqnflash.protocol import caba

READ_CHUNK = 1 << 20  # identification reads files in pieces: memory stays flat for 64 MB images
MIN_FIRMWARE_SIZE = 128  # Pycom refuses anything smaller; it cannot be firmware
FFF_STORE_LIMIT = 4 * 1024 * 1024  # the modem's /upgrade area: larger images go ON_THE_FLY

_FULL_NAME = re.compile(r"(CATM1|NB1)-(\d+)", re.IGNORECASE)
_DIFF_NAME = re.compile(r"upgdiff_(\d+)-to-(\d+)", re.IGNORECASE)
_M2_NAME = re.compile(r"GM02\w*_LR(\d+(?:\.\d+)*)-(\d+)", re.IGNORECASE)
_FAMILY_OF_PREFIX = {"CATM1": "CAT-M1", "NB1": "NB-IoT"}


class FileKind(str, Enum):
    FULL = "full"  # a complete image: bootrom, updater, fff, fs packages
    DIFF = "diff"  # a differential image: applies only to its source build
    UPDATER = "updater"  # updater.elf, loaded into the boot loader
    BOOTROM = "bootrom"  # a bootrom upgrade package
    UNKNOWN = "unknown"


@dataclass
class FirmwareFile:
    path: Path
    size: int
    kind: FileKind
    family: str | None = None
    build: int | None = None  # the build the file installs, when its name says
    source_build: int | None = None  # differential images: the build they patch
    container: caba.ContainerReport | None = field(default=None, repr=False)
    sha256: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def fits_store(self) -> bool:
        return self.size <= FFF_STORE_LIMIT

    def source(self) -> FileSource:
        """The file's bytes, read block by block as a transfer needs them."""
        return FileSource(self.path, self.size)

    def section(self, description: str) -> BytesSource | None:
        """The first package whose description is `description` (the bootrom package inside a
        full image, say), read into memory: sections that are sent alone are small."""
        if self.container is None:
            return None
        for element in self.container.all_elements():
            if element.description == description and element.header.magic == caba.MAGIC_UPGR:
                with self.path.open("rb") as handle:
                    handle.seek(element.offset)
                    return BytesSource(handle.read(element.size))
        return None

    @property
    def bootrom_package(self) -> BlockSource | None:
        if self.kind == FileKind.BOOTROM:
            return self.source()
        return self.section("bootrom upgrade package")

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "name": self.name,
            "kind": self.kind.value,
            "family": self.family,
            "build": self.build,
            "source_build": self.source_build,
            "size": self.size,
            "sha256": self.sha256,
            "warnings": list(self.warnings),
        }


def check_path(path: Path) -> int:
    """The file's size, or a typed error that says what is wrong with the path."""
    if not path.exists():
        raise FileMissing(f"{path} does not exist")
    if path.is_dir():
        raise NotAFile(f"{path} is a directory")
    try:
        size = path.stat().st_size
        with path.open("rb"):
            pass
    except OSError as exc:
        raise FileUnreadable(f"{path}: {exc.strerror or exc}") from exc
    if size == 0:
        raise FileEmpty(f"{path} is empty (0 bytes)")
    if size < MIN_FIRMWARE_SIZE:
        raise FileTooSmall(f"{path} has only {size} bytes")
    return size


def identify(path: Path) -> FirmwareFile:
    """Read `path` once, in chunks, and say what it is; raises when the file is damaged."""
    size = check_path(path)
    digest = hashlib.sha256()
    reader = caba.ContainerReader()
    head = b""
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(READ_CHUNK):
                if not head:
                    head = chunk[:64]
                digest.update(chunk)
                if not head.startswith(b"\x7fELF"):
                    reader.feed(chunk)
    except OSError as exc:
        raise FileUnreadable(f"{path}: {exc.strerror or exc}") from exc
    if head.startswith(b"\x7fELF"):
        return _identify_elf(path, size, head, digest.hexdigest())
    report = reader.finish()
    if not report.is_container:
        problem = report.problems[0].message if report.problems else "no package header"
        raise WrongFileKind(f"{path.name} is not a Sequans firmware package: {problem}")
    _check_container(path, report)
    file = FirmwareFile(path, size, _kind_of(path.name, report), container=report,
                        sha256=digest.hexdigest())
    _read_name(file)
    return file


def _check_container(path: Path, report: caba.ContainerReport) -> None:
    for problem in report.problems:
        if "truncated" in problem.message:
            raise FileTruncated(f"{path.name} is truncated: {problem.message}",
                                details={"size": report.size})
    failed = report.failed_checks()
    if failed:
        first = failed[0]
        raise ContainerCorrupt(
            f"{path.name}: the check value of '{first.description}' at offset {first.offset} "
            f"does not verify (stored {first.stored_check:#010x}, computed "
            f"{first.computed_check:#010x})")
    if report.problems:
        raise ContainerCorrupt(f"{path.name}: {report.problems[0].message}")


def _kind_of(name: str, report: caba.ContainerReport) -> FileKind:
    if _DIFF_NAME.search(name):
        return FileKind.DIFF
    descriptions = [e.description for e in report.all_elements() if e.depth > 0
                    or e.header.magic == caba.MAGIC_UPGR]
    if report.elements[0].header.magic == caba.MAGIC_PACK or len(report.elements) > 1:
        return FileKind.FULL
    if descriptions == ["bootrom upgrade package"]:
        return FileKind.BOOTROM
    if descriptions == ["fff upgrade package"]:
        return FileKind.DIFF
    return FileKind.UNKNOWN


def _read_name(file: FirmwareFile) -> None:
    name = file.name
    if (match := _DIFF_NAME.search(name)) is not None:
        file.source_build, file.build = int(match.group(1)), int(match.group(2))
    elif (match := _FULL_NAME.search(name)) is not None:
        file.family = _FAMILY_OF_PREFIX[match.group(1).upper()]
        file.build = int(match.group(2))
    elif (match := _M2_NAME.search(name)) is not None:
        file.family = "Monarch 2"
        file.build = int(match.group(2))
    if file.container is not None and any(
            e.header.check_kind == caba.CheckKind.CRC32 for e in file.container.elements):
        file.family = "Monarch 2"
    if file.kind in (FileKind.FULL, FileKind.DIFF) and file.build is None:
        file.warnings.append(f"{name} does not follow the official naming, so the build it "
                             "installs is unknown and cannot be checked after the upgrade")


def _identify_elf(path: Path, size: int, head: bytes, digest: str) -> FirmwareFile:
    if size < 52 or head[4] != 1 or head[5] != 2:
        raise NotAnElf(f"{path.name} is an ELF file but not a 32-bit big-endian one, as the "
                       "modem's updater is")
    return FirmwareFile(path, size, FileKind.UPDATER, sha256=digest)


def load_image(path: Path) -> FirmwareFile:
    """A file given as the firmware image: a full or differential `.dup`."""
    file = identify(path)
    if file.kind == FileKind.UPDATER:
        raise WrongFileKind(f"{path.name} is an updater ELF, not a firmware image",
                            advice="Pass it with --updater and give the .dup file as IMAGE.")
    if file.kind == FileKind.BOOTROM:
        raise WrongFileKind(f"{path.name} is a bootrom package, not a firmware image",
                            advice="Pass it with --bootrom and give the .dup file as IMAGE.")
    return file


def load_updater(path: Path) -> FirmwareFile:
    file = identify(path)
    if file.kind != FileKind.UPDATER:
        raise NotAnElf(f"{path.name} is a {file.kind.value} file, not updater.elf",
                       advice="Pass the updater.elf from the firmware package with --updater.")
    return file


def load_bootrom(path: Path) -> FirmwareFile:
    file = identify(path)
    if file.kind != FileKind.BOOTROM:
        raise WrongFileKind(f"{path.name} is a {file.kind.value} file, not a bootrom package",
                            advice="Pass the bootrom upgrade package with --bootrom, or give a "
                                   "full image, which carries one.")
    return file
