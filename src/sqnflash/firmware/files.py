"""Identify and validate firmware files without a modem.

A file is judged by what is publicly known of real files: its name (`CATM1-<build>.dup`,
`NB1-<build>.dup`, `upgdiff_<from>-to-<to>.dup`, `updater.elf`), its size, and its container
(`PACK`/`UPGR` packages whose every trailer must verify, docs/protocol.md §7). A truncated or
corrupted download is refused here, before the modem is touched.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import Any

from sqnflash.errors import (
    ContainerCorrupt,
    FileEmpty,
    FileMissing,
    FileTooSmall,
    FileTruncated,
    FileUnreadable,
    InputError,
    KnownFileMismatch,
    NotAFile,
    NotAnElf,
    WrongFileKind,
)
from sqnflash.firmware import caba, compress
from sqnflash.firmware.catalogue import KnownFile, load_catalogue
from sqnflash.firmware.elf import ElfInfo, read_elf
from sqnflash.firmware.inspect import (
    BuildString,
    BuildStringScanner,
    Section,
    installed_release,
    sections_of,
)
from sqnflash.firmware.names import chip_of, family_of_lr, parse_name
from sqnflash.firmware.source import BlockSource, BytesSource, FileSource

READ_CHUNK = 1 << 20  # identification reads files in pieces: memory stays flat for 64 MB images
MIN_FIRMWARE_SIZE = 128  # Pycom refuses anything smaller; it cannot be firmware
FFF_STORE_LIMIT = 4 * 1024 * 1024  # the modem's /upgrade area: larger images go ON_THE_FLY

_DIFF_NAME = re.compile(r"upgdiff_(\d+)-to-(\d+)", re.IGNORECASE)


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
    installs_build: int | None = None  # the build the modem reports afterwards, when it differs
    lr_version: str | None = None
    known: KnownFile | None = field(default=None, repr=False)  # the catalogue's entry
    elf: ElfInfo | None = field(default=None, repr=False)
    build_strings: list[BuildString] = field(default_factory=list, repr=False)
    md5: str = ""

    @property
    def expected_build(self) -> int | None:
        """The build the modem should report once this file is applied."""
        return self.installs_build if self.installs_build is not None else self.build

    @property
    def sections(self) -> list[Section]:
        if self.container is None:
            return []
        return sections_of(self.container, self.build_strings)

    @property
    def content_release(self) -> tuple[str, int] | None:
        """What the package's own build strings say it installs (real packages carry them)."""
        return installed_release(self.sections)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def fits_store(self) -> bool:
        return self.size <= FFF_STORE_LIMIT

    def source(self) -> FileSource:
        """The file's bytes, read block by block as a transfer needs them."""
        return FileSource(self.path, self.size)

    @cached_property
    def zipped_size(self) -> int:
        """The bytes the file takes on the wire as the zlib stream a Monarch 2 is sent, measured
        once however often the file is planned (a plan is made again once the line was looked
        at; a dry run on several ports plans once a port)."""
        return compress.zipped_size(self.source())

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
            "installs_build": self.expected_build,
            "lr_version": self.lr_version,
            "known": self.known.name if self.known else None,
            "updater_version": self.elf.version_string if self.elf else None,
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


def identify(path: Path, *, force: bool = False) -> FirmwareFile:
    """Read `path` once, in chunks, and say what it is; raises when the file is damaged.

    A file that bears the name of an official release must also have its size (and, where the
    catalogue knows it, its SHA-256); `force` accepts it anyway. Nothing overrides a check value
    that does not verify: such a file is never sent to a modem."""
    size = check_path(path)
    known = load_catalogue().lookup(path.name)
    if not force and known is not None and known.size is not None and size < known.size:
        raise FileTruncated(
            f"{path.name} has {size} bytes; the official {known.name} has {known.size} "
            f"({known.size - size} bytes missing)", details={"size": size, "official": known.size})
    digest = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False)
    reader = caba.ContainerReader()
    scanner = BuildStringScanner()
    head = b""
    offset = 0
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(READ_CHUNK):
                if not head:
                    head = chunk[:64]
                digest.update(chunk)
                md5.update(chunk)
                if not head.startswith(b"\x7fELF"):
                    reader.feed(chunk)
                    scanner.feed(offset, chunk)
                offset += len(chunk)
    except OSError as exc:
        raise FileUnreadable(f"{path}: {exc.strerror or exc}") from exc
    if head.startswith(b"\x7fELF"):
        return _identify_elf(path, size, head, digest.hexdigest(), md5.hexdigest())
    report = reader.finish()
    if not report.is_container:
        problem = report.problems[0].message if report.problems else "no package header"
        raise WrongFileKind(f"{path.name} is not a Sequans firmware package: {problem}")
    _check_container(path, report)
    kind = _kind_of(path.name, report)
    said = _identity(path.name, kind, report, scanner.found, known)
    sha256 = digest.hexdigest()
    warnings = said.warnings + _catalogue_warnings(path.name, size, sha256, kind, said.build,
                                                   known, force)
    return FirmwareFile(path, size, kind, family=said.family, build=said.build,
                        source_build=said.source_build, installs_build=said.installs_build,
                        lr_version=said.lr_version, container=report, sha256=sha256,
                        build_strings=scanner.found, md5=md5.hexdigest(), known=known,
                        warnings=warnings)


def _catalogue_warnings(name: str, size: int, sha256: str, kind: FileKind, build: int | None,
                        known: KnownFile | None, force: bool) -> list[str]:
    """What the catalogue says of the file: a warning, or KnownFileMismatch for a file that
    bears an official name but is not that file (accepted with a warning under `force`)."""
    if known is None:
        if kind in (FileKind.FULL, FileKind.DIFF) and build is not None:
            return [f"{name} is not in sqnflash's catalogue of official files (a newer "
                    "release?): its size cannot be compared with the official one, only its "
                    "check values were verified"]
        return []
    problems = []
    if known.size is not None and size != known.size:
        problems.append(f"it has {size} bytes, the official file {known.size}")
    if known.sha256 is not None and sha256 != known.sha256:
        problems.append("its SHA-256 differs from the official file's")
    if known.kind != kind.value and kind != FileKind.UNKNOWN:
        problems.append(f"it is a {kind.value} image, the official file a {known.kind} one")
    if not problems:
        return []
    text = f"{name} bears the name of an official release but " + "; ".join(problems)
    if force:
        return [text + " (accepted because of --force)"]
    raise KnownFileMismatch(text, details={"size": size, "official_size": known.size})


def _check_container(path: Path, report: caba.ContainerReport) -> None:
    for problem in report.problems:
        if "truncated" in problem.message:
            # Not the class's advice: --force cannot help a file that ends inside a package.
            raise FileTruncated(f"{path.name} is truncated: {problem.message}",
                                advice="Download the package again: the file ends inside one "
                                       "of its packages, which nothing can send.",
                                details={"size": report.size})
    failed = report.failed_checks()
    if failed:
        # The innermost damaged package says where the damage is; its PACK fails only because of it.
        first = max(failed, key=lambda e: (e.depth, -e.offset))
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


@dataclass
class _Identity:
    """What a package is, by its name, the catalogue's entry for that name and its content."""

    family: str | None = None
    build: int | None = None
    source_build: int | None = None
    installs_build: int | None = None
    lr_version: str | None = None
    warnings: list[str] = field(default_factory=list)


def _identity(name: str, kind: FileKind, container: caba.ContainerReport,
              build_strings: list[BuildString], known: KnownFile | None) -> _Identity:
    said = parse_name(name)
    out = _Identity(said.family, said.build, said.source_build, None, said.lr_version)
    if known is not None:
        release = load_catalogue().release(known.build)
        out = _Identity(known.family, known.build, known.source_build, known.installs_build,
                        release.lr_version if release else out.lr_version)
    crc32 = any(e.header.check_kind == caba.CheckKind.CRC32 for e in container.elements)
    content = installed_release(sections_of(container, build_strings))
    _other_chip(name, out, content, crc32)
    if crc32:
        out.family = "Monarch 2"
    if content is not None:
        version, build = content
        family = family_of_lr(version)
        if out.family is None:
            out.family = family
        elif family is not None and family != out.family:
            out.warnings.append(f"{name} is named as a {out.family} file but its packages "
                                f"carry the build string {version} [{build}] ({family})")
        expected = out.installs_build if out.installs_build is not None else out.build
        if out.build is None:
            out.build, out.lr_version = build, version
        elif build != expected:
            out.warnings.append(f"{name} is named as build {out.build} but its packages "
                                f"carry the build string {version} [{build}]")
    if kind in (FileKind.FULL, FileKind.DIFF) and out.build is None:
        out.warnings.append(f"{name} does not follow the official naming, so the build it "
                            "installs is unknown and cannot be checked after the upgrade")
    return out


def _other_chip(name: str, out: _Identity, content: tuple[str, int] | None,
                crc32: bool) -> None:
    """A name that says one chip on the packages of the other (a renamed download): what the
    packages are wins, so that the modem's family check judges the firmware, not the name."""
    found = family_of_lr(content[0]) if content else ("Monarch 2" if crc32 else None)
    if found is None or out.family is None or chip_of(found) == chip_of(out.family):
        return
    what = f"{'CRC-32' if crc32 else 'Fletcher-32'} check values"
    if content is not None:
        what += f", the build string {content[0]} [{content[1]}]"
    out.warnings.append(f"{name} is named as a {out.family} file but its packages are "
                        f"{found} firmware ({what}): it is taken for what it contains")
    out.family, out.installs_build = found, None
    if content is not None:
        out.lr_version, out.build = content


def _identify_elf(path: Path, size: int, head: bytes, digest: str, md5: str) -> FirmwareFile:
    if size < 52:
        raise NotAnElf(f"{path.name} starts like an ELF file but is too short to hold an ELF "
                       "header")
    elf = read_elf(path, size)
    # Not its family: the 2018 updater says 6.0.0.0 (NB-IoT) and ships with CAT-M1 38638 too.
    return FirmwareFile(path, size, FileKind.UPDATER, sha256=digest, md5=md5, elf=elf,
                        lr_version=elf.version)


# A file given as the image that is another kind: what it is and the option it belongs to.
_NOT_AN_IMAGE = {FileKind.UPDATER: ("an updater ELF", "--updater"),
                 FileKind.BOOTROM: ("a bootrom package", "--bootrom")}


def load_image(path: Path, *, force: bool = False) -> FirmwareFile:
    """A file given as the firmware image: a full or differential `.dup`."""
    file = identify(path, force=force)
    if file.kind in _NOT_AN_IMAGE:
        what, option = _NOT_AN_IMAGE[file.kind]
        raise WrongFileKind(f"{path.name} is {what}, not a firmware image",
                            advice=f"Pass it with {option} and give the .dup file as IMAGE.")
    return file


def load_updater(path: Path, *, force: bool = False) -> FirmwareFile:
    return _load_kind(path, force, FileKind.UPDATER, NotAnElf, "updater.elf",
                      "Pass the updater.elf from the firmware package with --updater.")


def load_bootrom(path: Path, *, force: bool = False) -> FirmwareFile:
    return _load_kind(path, force, FileKind.BOOTROM, WrongFileKind, "a bootrom package",
                      "Pass the bootrom upgrade package with --bootrom, or give a full image, "
                      "which carries one.")


def _load_kind(path: Path, force: bool, kind: FileKind, error: type[InputError], what: str,
               advice: str) -> FirmwareFile:
    file = identify(path, force=force)
    if file.kind != kind:
        raise error(f"{path.name} is a {file.kind.value} file, not {what}", advice=advice)
    return file
