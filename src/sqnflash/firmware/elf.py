"""`updater.elf` (Monarch 1) and `mtools.elf` (Monarch 2) checked as ELF files, with pyelftools.

What is known of the real files (docs/protocol.md §7): 32-bit, big-endian executables for the
modem's Andes (NDS32) core, entry 0x1000, with a `.versionString` section holding the build
string (`6.0.0.0 [37781] by robot-soft at ...`). The boot loader loads the file into RAM as it
is, so a truncated file (section or segment data past the end) is refused here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from sqnflash.errors import FileTruncated, FileUnreadable, NotAnElf

EM_NDS32 = 167  # Andes Technology compact code size embedded RISC: the Monarch's core
MACHINE_NAMES = {"EM_NDS32": "Andes NDS32", "EM_386": "x86", "EM_X86_64": "x86-64",
                 "EM_ARM": "ARM", "EM_AARCH64": "AArch64", "EM_XTENSA": "Xtensa (ESP32)",
                 "EM_RISCV": "RISC-V", "EM_MIPS": "MIPS"}
_VERSION = re.compile(r"(\d+(?:\.\d+)+) \[(\d+)\]")


@dataclass(frozen=True)
class ElfInfo:
    elf_class: int
    big_endian: bool
    machine: str
    file_type: str
    entry: int
    sections: tuple[tuple[str, int, int], ...]  # name, offset, size
    version_string: str | None  # the `.versionString` section, when there is one

    @property
    def version(self) -> str | None:
        match = _VERSION.search(self.version_string or "")
        return match.group(1) if match else None

    @property
    def build(self) -> int | None:
        match = _VERSION.search(self.version_string or "")
        return int(match.group(2)) if match else None


def _machine_label(machine: str) -> str:
    return MACHINE_NAMES.get(machine, machine)


def read_elf(path: Path, size: int) -> ElfInfo:
    """Check that `path` is an updater the modem's boot loader can run; raise when it is not."""
    name = path.name
    try:
        with path.open("rb") as handle:
            try:
                elf = ElfFileView(ELFFile(handle), size)
            except ELFError as exc:
                raise NotAnElf(f"{name} starts like an ELF file but its header is damaged: "
                               f"{exc}") from exc
            return elf.check(name)
    except OSError as exc:
        raise FileUnreadable(f"{path}: {exc.strerror or exc}") from exc


class ElfFileView:
    """The checks, over an open `ELFFile` (which reads the file lazily, piece by piece)."""

    def __init__(self, elf: ELFFile, size: int) -> None:
        self.elf = elf
        self.size = size

    def check(self, name: str) -> ElfInfo:
        elf = self.elf
        if elf.elfclass != 32 or elf.little_endian:
            bits = f"{elf.elfclass}-bit"
            order = "little-endian" if elf.little_endian else "big-endian"
            raise NotAnElf(f"{name} is a {bits} {order} ELF file; the modem's updater is a 32-bit "
                           "big-endian one")
        machine = str(elf["e_machine"])
        if machine not in ("EM_NDS32", str(EM_NDS32)):
            raise NotAnElf(f"{name} is built for {_machine_label(machine)}, not for the modem's "
                           "Andes NDS32 core: it is not the modem's updater.elf")
        file_type = str(elf["e_type"])
        if file_type != "ET_EXEC":
            raise NotAnElf(f"{name} is an ELF {file_type} file, not an executable")
        self._check_extent(name)
        sections: list[tuple[str, int, int]] = []
        version: str | None = None
        try:
            for section in elf.iter_sections():
                sections.append((section.name, int(section["sh_offset"]),
                                 int(section["sh_size"])))
                if section.name == ".versionString":
                    raw = section.data()
                    version = raw.split(b"\0", 1)[0].decode("latin-1").strip() or None
        except ELFError as exc:
            raise NotAnElf(f"{name}: its section table is damaged: {exc}") from exc
        return ElfInfo(elf.elfclass, not elf.little_endian, machine, file_type,
                       int(elf["e_entry"]), tuple(sections), version)

    def _check_extent(self, name: str) -> None:
        """Every table and every piece of section or segment data must lie inside the file."""
        elf = self.elf
        ends: list[tuple[int, str]] = []
        shoff, shnum, shentsize = elf["e_shoff"], elf["e_shnum"], elf["e_shentsize"]
        if shoff:
            ends.append((shoff + shnum * shentsize, "its section table"))
        phoff, phnum, phentsize = elf["e_phoff"], elf["e_phnum"], elf["e_phentsize"]
        if phoff:
            ends.append((phoff + phnum * phentsize, "its program header table"))
        table_end = max((end for end, _ in ends), default=0)
        if table_end <= self.size:
            try:
                for section in elf.iter_sections():
                    if section["sh_type"] != "SHT_NOBITS" and section["sh_size"]:
                        ends.append((section["sh_offset"] + section["sh_size"],
                                     f"section {section.name or '?'}"))
                for segment in elf.iter_segments():
                    if segment["p_filesz"]:
                        ends.append((segment["p_offset"] + segment["p_filesz"],
                                     f"a {segment['p_type']} segment"))
            except ELFError as exc:
                raise NotAnElf(f"{name}: its section table is damaged: {exc}") from exc
        if not ends:
            return
        end, what = max(ends)
        if end > self.size:
            raise FileTruncated(
                f"{name} is truncated: {what} ends at byte {end}, the file at {self.size} "
                f"({end - self.size} bytes missing)",
                advice="Take updater.elf again from the firmware package (zip).",
                details={"size": self.size, "needed": end})
