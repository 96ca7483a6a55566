"""Identifying and validating firmware files offline: names, containers, ELF, the catalogue."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from sqnflash.errors import (
    ContainerCorrupt,
    FileTruncated,
    KnownFileMismatch,
    NotAnElf,
    SqnflashError,
    WrongFileKind,
)
from sqnflash.firmware import (
    FileKind,
    FirmwareFile,
    identify,
    load_bootrom,
    load_image,
    load_updater,
)
from sqnflash.firmware.names import parse_name
from sqnflash.sim.images import Family, ImageKind, make_image
from tests.support.reference import fletcher32_reference

BUILD_STRING = b"5.1.1.0 [41065] by robot-soft at 2019-01-15 10:00:00\0"


def element(magic: bytes, description: bytes, payload: bytes, trailer: int) -> bytes:
    """An element laid out byte by byte from docs/protocol.md §7 with a golden trailer; the trailer
    is also recomputed with the independent reference so a typo in a constant shows."""
    head = magic + struct.pack("<HHIHHH", 3, 0, len(payload), 1, 4, len(description))
    assert fletcher32_reference(head + description + payload) == trailer
    return head + description + payload + struct.pack("<I", trailer)


BOOTROM = element(b"UPGR", b"bootrom upgrade package\0", b"toob" + bytes(range(124)),
                  0x43F6E497)
FFF = element(b"UPGR", b"fff upgrade package\0",
              struct.pack("<I", 2) + b"FFF!" + bytes(100) + BUILD_STRING + bytes(range(200)),
              0x94759475)
PACKED = element(b"PACK", b"Packed dup files\0\0\0\0", BOOTROM + FFF, 0x33DCBEFB)


@pytest.mark.parametrize(("name", "family", "build", "source", "step"), [
    ("CATM1-38638.dup", "CAT-M1", 38638, None, None),
    ("NB1-41019.dup", "NB-IoT", 41019, None, None),
    ("FIPY_GPY_CATM1_33988.dup", "CAT-M1", 33988, None, None),
    ("FIPY_GPY_NB1-37365.dup", "NB-IoT", 37365, None, None),
    ("upgdiff_38638-to-39529.dup", None, 39529, 38638, None),
    # The LR version inside the name must not be taken for the build.
    ("CATM1-5.2-48829-1.dup", "CAT-M1", 48829, None, 1),
    ("LR5.2.1.0-48829-2.dup", "CAT-M1", 48829, None, 2),
    ("GM02RB6Q_LR8.0.5.13-59577.dup", "Monarch 2", 59577, None, None),
    ("GP02RBAQ-DM_LR8.2.1.0-61488.dup", "Monarch 2", 61488, None, None),
    ("firmware.dup", None, None, None, None),
])
def test_official_names_say_family_build_and_source(name: str, family: str | None,
                                                     build: int | None, source: int | None,
                                                     step: int | None) -> None:
    said = parse_name(name)
    assert (said.family, said.build, said.source_build, said.step) == (family, build, source,
                                                                      step)


def test_hand_built_container_lists_its_sections_and_build_string(tmp_path: Path) -> None:
    path = tmp_path / "my-image.dup"
    path.write_bytes(PACKED)
    file = identify(path)
    assert file.kind == FileKind.FULL
    tree = [(s.depth, s.name, s.size, s.check, s.verified, s.part_type) for s in file.sections]
    assert tree == [(0, "package", len(PACKED), "Fletcher-32", True, ""),
                    (1, "bootrom", len(BOOTROM), "Fletcher-32", True, "toob"),
                    (1, "fff", len(FFF), "Fletcher-32", True, "0x2")]
    assert file.sections[2].builds == ("5.1.1.0 [41065]",)
    # The name says nothing: the build string inside says what the file installs.
    assert (file.family, file.build) == ("CAT-M1", 41065)
    assert file.bootrom_package is not None and file.bootrom_package.size == len(BOOTROM)


def test_a_renamed_file_is_flagged_by_its_build_string(tmp_path: Path) -> None:
    path = tmp_path / "NB1-41019.dup"  # the packages inside say CAT-M1 41065
    path.write_bytes(PACKED)
    file = identify(path, force=True)  # force: the official NB1-41019.dup is much larger
    warnings = " ".join(file.warnings)
    assert "5.1.1.0 [41065]" in warnings and "CAT-M1" in warnings


# In the bootrom's data, in the fff's data, in the PACK's own trailer.
@pytest.mark.parametrize("offset", [100, 38 + len(BOOTROM) + 60, len(PACKED) - 2])
def test_one_flipped_byte_anywhere_is_a_corrupt_container(tmp_path: Path, offset: int) -> None:
    data = bytearray(PACKED)
    data[offset] ^= 0x10
    path = tmp_path / "CATM1-41019.dup"
    path.write_bytes(bytes(data))
    with pytest.raises(ContainerCorrupt) as caught:
        identify(path)
    assert path.name in caught.value.cause and "does not verify" in caught.value.cause


def test_a_cut_container_is_truncated(tmp_path: Path) -> None:
    path = tmp_path / "CATM1-41019.dup"
    path.write_bytes(PACKED[:-100])
    with pytest.raises(FileTruncated) as caught:
        identify(path)
    assert "truncated" in caught.value.cause and "missing" in caught.value.cause


def catalogue_sized(tmp_path: Path, name: str, kind: ImageKind, family: Family, version: int,
                    size: int | None = None) -> Path:
    path = tmp_path / name
    path.write_bytes(make_image(kind, family, version, size=size))
    return path


def test_a_catalogue_sized_file_is_known(tmp_path: Path) -> None:
    path = catalogue_sized(tmp_path, "CATM1-38638.dup", ImageKind.FULL, Family.CATM1, 38638)
    file = load_image(path)
    assert file.size == 5_996_938 and file.known is not None
    assert file.known.name == "CATM1-38638.dup" and file.warnings == []
    assert file.lr_version == "5.1.1.0"


def test_a_known_name_cut_short_is_truncated_before_it_is_even_read(tmp_path: Path) -> None:
    path = catalogue_sized(tmp_path, "CATM1-39529.dup", ImageKind.FULL, Family.CATM1, 39529,
                           size=5_000_000)
    with pytest.raises(FileTruncated) as caught:
        load_image(path)
    assert "6059510" in caught.value.cause and "1059510 bytes missing" in caught.value.cause


def test_a_known_name_of_another_size_is_refused_unless_forced(tmp_path: Path) -> None:
    # A complete, valid container, just not the official file of that name.
    path = catalogue_sized(tmp_path, "NB1-37781.dup", ImageKind.FULL, Family.NB1, 37781,
                           size=5_300_000)
    with pytest.raises(KnownFileMismatch) as caught:
        load_image(path)
    assert caught.value.code == "SQF-E120" and "5258127" in caught.value.cause
    forced = load_image(path, force=True)
    assert any("--force" in w for w in forced.warnings)


def test_an_unknown_release_is_allowed_with_a_warning(tmp_path: Path) -> None:
    path = catalogue_sized(tmp_path, "CATM1-99999.dup", ImageKind.FULL, Family.CATM1, 99999,
                           size=300_000)
    file = load_image(path)
    assert file.build == 99999 and file.known is None
    assert any("not in sqnflash's catalogue" in w for w in file.warnings)


def test_the_two_step_release_installs_the_build_the_docs_show(tmp_path: Path) -> None:
    path = catalogue_sized(tmp_path, "CATM1-5.2-48829-1.dup", ImageKind.FULL, Family.CATM1,
                           48829, size=300_000)
    file = load_image(path)
    assert (file.build, file.expected_build) == (48829, 39529)


# --------------------------------------------------------------------------- updater.elf


def updater(tmp_path: Path, *, size: int = 306_076) -> bytes:
    return make_image(ImageKind.UPDATER, Family.CATM1, 38638, size=size)


def test_a_good_updater_is_read_with_pyelftools(tmp_path: Path) -> None:
    path = tmp_path / "updater.elf"
    path.write_bytes(updater(tmp_path))
    file = load_updater(path)
    assert file.kind == FileKind.UPDATER and file.elf is not None
    assert file.elf.machine == "EM_NDS32" and file.elf.big_endian and file.elf.elf_class == 32
    assert file.elf.version_string is not None and "[38638]" in file.elf.version_string
    assert file.elf.build == 38638


@pytest.mark.parametrize(("patch", "complaint"), [
    ({4: 2}, "64-bit"),  # ELFCLASS64
    ({5: 1}, "little-endian"),  # ELFDATA2LSB
    ({18: 0, 19: 62}, "x86-64"),  # e_machine EM_X86_64, big-endian u16 at offset 18
    ({18: 0, 19: 94}, "Xtensa"),  # an ESP32 firmware ELF given by mistake
    ({16: 0, 17: 1}, "ET_REL"),  # an object file, not an executable
])
def test_elf_files_the_boot_loader_cannot_run_are_refused(tmp_path: Path, patch: dict[int, int],
                                                          complaint: str) -> None:
    data = bytearray(updater(tmp_path))
    for offset, value in patch.items():
        data[offset] = value
    path = tmp_path / "updater.elf"
    path.write_bytes(bytes(data))
    with pytest.raises(NotAnElf) as caught:
        load_updater(path)
    assert complaint in caught.value.cause and "updater.elf" in caught.value.cause


def test_a_truncated_updater_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "updater.elf"
    path.write_bytes(updater(tmp_path)[:300_000])
    with pytest.raises(FileTruncated) as caught:
        load_updater(path)
    assert "updater.elf is truncated" in caught.value.cause


def test_a_dup_is_not_an_updater_and_an_elf_is_not_an_image(tmp_path: Path) -> None:
    image = tmp_path / "CATM1-41019.dup"
    image.write_bytes(PACKED)
    with pytest.raises(NotAnElf):
        load_updater(image)
    elf = tmp_path / "updater.elf"
    elf.write_bytes(updater(tmp_path))
    with pytest.raises(WrongFileKind) as caught:
        load_image(elf)
    assert "--updater" in caught.value.hint


@pytest.mark.parametrize(("given", "load", "error", "cause", "advice"), [
    (ImageKind.UPDATER, load_image, WrongFileKind, "is an updater ELF, not a firmware image",
     "Pass it with --updater and give the .dup file as IMAGE."),
    (ImageKind.BOOTROM, load_image, WrongFileKind, "is a bootrom package, not a firmware image",
     "Pass it with --bootrom and give the .dup file as IMAGE."),
    (ImageKind.FULL, load_updater, NotAnElf, "is a full file, not updater.elf",
     "with --updater"),
    (ImageKind.BOOTROM, load_updater, NotAnElf, "is a bootrom file, not updater.elf",
     "with --updater"),
    (ImageKind.FULL, load_bootrom, WrongFileKind, "is a full file, not a bootrom package",
     "with --bootrom, or give a full image"),
    (ImageKind.UPDATER, load_bootrom, WrongFileKind, "is a updater file, not a bootrom package",
     "with --bootrom, or give a full image"),
])
def test_a_file_given_in_the_wrong_place_says_what_it_is_and_where_it_goes(
        tmp_path: Path, given: ImageKind, load: Callable[[Path], FirmwareFile],
        error: type[Exception], cause: str, advice: str) -> None:
    path = tmp_path / f"given.{'elf' if given == ImageKind.UPDATER else 'dup'}"
    path.write_bytes(make_image(given, Family.CATM1, 38638))
    with pytest.raises(error) as caught:
        load(path)
    assert isinstance(caught.value, SqnflashError)
    assert caught.value.cause == f"{path.name} {cause}" and advice in caught.value.hint
