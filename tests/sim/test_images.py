"""Synthetic firmware files: real container layouts, official names, `sqnflash sim make-image`."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from sqnflash.cli.main import cli, main
from sqnflash.firmware import FileKind, identify
from sqnflash.firmware.caba import MAGIC_PACK, MAGIC_UPGR, encode_element, read_container
from sqnflash.firmware.elf import read_elf
from sqnflash.sim.images import (
    Family,
    ImageKind,
    ImageMeta,
    ImageSink,
    Received,
    default_name,
    make_image,
)
from tests.support import host
from tests.support.host import OpenPort

SIZE = 100_000
DUP_KINDS = (ImageKind.FULL, ImageKind.DIFF, ImageKind.BOOTROM)


def source_for(kind: ImageKind) -> int | None:
    return host.FROM if kind == ImageKind.DIFF else None


def assert_elf32_big_endian(data: bytes) -> None:
    assert data[:4] == b"\x7fELF"
    assert data[4] == 1  # ELFCLASS32
    assert data[5] == 2  # ELFDATA2MSB
    e_type, e_machine = struct.unpack_from(">HH", data, 16)
    assert e_type == 2  # an executable
    assert e_machine == 167  # EM_NDS32: the modem's Andes core
    shoff, = struct.unpack_from(">I", data, 32)
    shentsize, shnum = struct.unpack_from(">HH", data, 46)
    assert shoff + shentsize * shnum == len(data)  # the section table ends the file


@pytest.mark.parametrize("family", [Family.CATM1, Family.NB1])  # Monarch 2: test_monarch2
@pytest.mark.parametrize("kind", list(ImageKind))
def test_each_kind_is_a_valid_file_of_the_requested_size(kind: ImageKind, family: Family) -> None:
    data = make_image(kind, family, host.TO, source=source_for(kind), size=SIZE)
    assert len(data) == SIZE
    if kind == ImageKind.UPDATER:
        assert_elf32_big_endian(data)
        return
    report = read_container(data)
    assert report.ok, report.problems
    assert not report.failed_checks()
    descriptions = [element.description for element in report.all_elements()]
    if kind == ImageKind.FULL:
        assert data[:4] == b"PACK"
        assert descriptions == ["Packed dup files", "bootrom upgrade package",
                                "updater upgrade package", "fff upgrade package",
                                "fs upgrade package"]
    else:
        assert data[:4] == b"UPGR"
        expected = "bootrom" if kind == ImageKind.BOOTROM else "fff"
        assert descriptions == [f"{expected} upgrade package"]


@pytest.mark.parametrize("kind", DUP_KINDS)
def test_one_flipped_byte_is_detected_by_the_container_check(kind: ImageKind) -> None:
    data = bytearray(make_image(kind, Family.CATM1, host.TO, source=source_for(kind), size=SIZE))
    data[SIZE // 2] ^= 0x01
    assert not read_container(bytes(data)).ok


@pytest.mark.parametrize(("kind", "family", "size"), [
    (ImageKind.FULL, Family.CATM1, 6_059_510),  # CATM1-39529.dup
    (ImageKind.FULL, Family.NB1, 5_835_531),  # NB1-41019.dup, this release's own size
    (ImageKind.UPDATER, Family.CATM1, 429_340),  # updater.elf of the 39529 release
    (ImageKind.BOOTROM, Family.CATM1, 55_570),  # Pycom's built-in bootrom v3
])
def test_default_sizes_are_those_of_real_releases(kind: ImageKind, family: Family,
                                                  size: int) -> None:
    data = make_image(kind, family, host.TO)
    assert len(data) == size
    if kind == ImageKind.UPDATER:
        assert_elf32_big_endian(data)
    else:
        assert read_container(data).ok


def test_images_are_deterministic() -> None:
    assert make_image(ImageKind.FULL, Family.CATM1, host.TO, size=SIZE) == make_image(
        ImageKind.FULL, Family.CATM1, host.TO, size=SIZE)
    assert make_image(ImageKind.FULL, Family.CATM1, host.TO, size=SIZE) != make_image(
        ImageKind.FULL, Family.CATM1, host.TO + 1, size=SIZE)


@pytest.mark.parametrize(("kind", "family", "source", "name"), [
    (ImageKind.FULL, Family.CATM1, None, "CATM1-41019.dup"),
    (ImageKind.FULL, Family.NB1, None, "NB1-41019.dup"),
    (ImageKind.DIFF, Family.CATM1, host.FROM, "upgdiff_38638-to-41019.dup"),
    (ImageKind.UPDATER, Family.CATM1, None, "updater.elf"),
])
def test_official_names(kind: ImageKind, family: Family, source: int | None, name: str) -> None:
    assert default_name(kind, family, host.TO, source) == name


@pytest.mark.parametrize(("args", "kind", "family", "source", "name"), [
    (["--kind", "full"], ImageKind.FULL, Family.CATM1, None, "CATM1-41019.dup"),
    (["--kind", "full", "--family", "nb1"], ImageKind.FULL, Family.NB1, None, "NB1-41019.dup"),
    (["--kind", "diff", "--from", "38638"], ImageKind.DIFF, Family.CATM1, host.FROM,
     "upgdiff_38638-to-41019.dup"),
    (["--kind", "updater"], ImageKind.UPDATER, Family.CATM1, None, "updater.elf"),
    (["--kind", "bootrom"], ImageKind.BOOTROM, Family.CATM1, None, "bootrom-41019.dup"),
    # The Monarch 2 boot loader's tool ELF, for `upgrade --updater` from FFH.
    (["--kind", "updater", "--family", "monarch2"], ImageKind.UPDATER, Family.MONARCH2, None,
     "mtools.elf"),
])
def test_make_image_command_writes_the_official_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], kind: ImageKind,
        family: Family, source: int | None, name: str) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        cli, ["sim", "make-image", *args, "--version", str(host.TO), "--size", str(SIZE)])
    assert result.exit_code == 0, result.output
    written = tmp_path / name
    assert written.read_bytes() == make_image(kind, family, host.TO, source=source, size=SIZE)
    assert name in result.output and str(SIZE) in result.output


def test_make_image_command_writes_where_told(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "mine.dup"
    target.parent.mkdir()
    result = CliRunner().invoke(
        cli, ["sim", "make-image", "--kind", "full", "--version", "39529", "--size", "50000",
              "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert read_container(target.read_bytes()).ok
    assert target.stat().st_size == 50_000


@pytest.mark.parametrize(("args", "words"), [
    (["--kind", "diff"], "--from"),
    (["--kind", "full", "--from", "38638"], "source"),
    (["--kind", "full", "--size", "100"], "at least"),
])
def test_make_image_command_refuses_impossible_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], words: str) -> None:
    code = main(["sim", "make-image", *args, "--version", str(host.TO), "-o", str(tmp_path / "x")])
    assert code != 0
    assert words in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_faults_command_lists_every_fault() -> None:
    from sqnflash.sim.faults import FAULT_NAMES

    result = CliRunner().invoke(cli, ["sim", "faults"])
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.output.splitlines()]
    assert listed == list(FAULT_NAMES)


# --------------------------------------------------------------------------- byte-layout twins


def test_the_twin_of_catm1_38638_has_the_real_file_layout_to_the_byte() -> None:
    data = make_image(ImageKind.FULL, Family.CATM1, 38638)
    report = read_container(data)
    assert report.ok and len(data) == 5_996_938
    root, *parts = report.all_elements()
    assert (root.magic, root.offset, root.header.desc_len) == ("PACK", 0, 17)  # 35-byte header
    assert [(p.description, p.size) for p in parts] == [
        ("bootrom upgrade package", 54_854), ("updater upgrade package", 428_826),
        ("fff upgrade package", 5_461_974), ("fs upgrade package", 51_245)]
    # Real descriptions are the bare strings: nothing after their NUL.
    assert all(e.description_raw == e.description.encode() + b"\0" for e in (root, *parts))
    assert [p.part_type for p in parts] == [b"toob", struct.pack("<I", 8),
                                            struct.pack("<I", 2), struct.pack("<I", 3)]
    assert [p.head[4:8] for p in parts[1:3]] == [b"FFF!", b"FFF!"]


def test_nb1_37781_is_a_plain_sequence_of_packages_like_the_real_file() -> None:
    data = make_image(ImageKind.FULL, Family.NB1, 37781)
    report = read_container(data)
    assert report.ok and len(data) == 5_258_127 and data[:4] == b"UPGR"
    assert [e.description for e in report.elements] == [
        "bootrom upgrade package", "updater upgrade package", "fff upgrade package",
        "fs upgrade package"]


def test_twins_carry_the_build_strings_where_real_files_do(tmp_path: Path) -> None:
    # Renamed, so that only the contents can say what it is: as `sqnflash check` reads it.
    path = tmp_path / "firmware.dup"
    path.write_bytes(make_image(ImageKind.FULL, Family.NB1, 41019, size=SIZE))
    file = identify(path)
    assert file.kind == FileKind.FULL and file.family == "NB-IoT"
    assert (file.build, file.lr_version) == (41019, "6.0.0.0")
    builds = {s.name: s.builds for s in file.sections}
    assert builds["updater"] == builds["fff"] == ("6.0.0.0 [41019]",)
    assert builds["bootrom"] == ("5.1.1.0 [39529]",)  # Pycom's built-in bootrom of that time
    assert builds["fs"] == ()


def test_the_updater_twin_is_an_nds32_executable_with_its_version_string(tmp_path: Path) -> None:
    path = tmp_path / "updater.elf"
    path.write_bytes(make_image(ImageKind.UPDATER, Family.NB1, 37781, size=306_076))
    elf = read_elf(path, 306_076)
    assert (elf.elf_class, elf.big_endian, elf.machine, elf.file_type, elf.entry) == (
        32, True, "EM_NDS32", "ET_EXEC", 0x1000)
    assert [name for name, _, _ in elf.sections if name] == [".text", ".versionString",
                                                             ".shstrtab"]
    assert elf.version_string == "6.0.0.0 [37781] by robot-soft at 2018-07-05 20:21:02"


# --------------------------------------------------------------------------- what the modem accepts


def sink_of(data: bytes, piece: int = 2016) -> Received:
    sink = ImageSink()
    for at in range(0, len(data), piece):
        sink.feed(data[at : at + piece])
    return sink.judge()


def foreign_image(lr: str, build: int, *, plain: bool = False, pxl: bool = False) -> bytes:
    """A full image laid out the way real files are, built without sqnflash's generator: other
    data, other string positions, an extra part (pxl, as Monarch 2 images have)."""
    release = f"{lr} [{build}] by robot-soft at 2018-08-20 09:51:46".encode()
    parts = [("bootrom", b"toob" + bytes(60) + b"\0" + f"{lr}-{build} by robot-soft".encode()
              + b"\0" + bytes(3000)),
             ("updater", struct.pack("<I", 8) + b"FFF!" + bytes(5000) + b"\0" + release + b"\0"),
             ("fff", struct.pack("<I", 2) + b"FFF!" + b"\xa5" * 20_000 + b"\0" + release
              + b"\0" + b"\x5a" * 9_000 + b"\0" + release + b"\0")]
    if pxl:
        parts.append(("pxl", struct.pack("<I", 0x10) + b"FFF!" + bytes(700)))
    parts.append(("fs", struct.pack("<III", 3, 3, 1) + b"\xff" * 4000))
    children = b"".join(encode_element(MAGIC_UPGR, f"{name} upgrade package".encode() + b"\0",
                                       body) for name, body in parts)
    if plain:
        return children
    return encode_element(MAGIC_PACK, b"Packed dup files\0", children)


@pytest.mark.parametrize("plain", [False, True])
def test_the_modem_applies_any_image_whose_containers_verify_and_build_reads(
        plain: bool) -> None:
    verdict = sink_of(foreign_image("6.0.0.0", 37781, plain=plain, pxl=True))
    assert verdict.ok, verdict.problem
    assert verdict.meta == ImageMeta(ImageKind.FULL, Family.NB1, 37781, lr="6.0.0.0")


def test_the_bootrom_package_of_a_full_image_is_read_alone() -> None:
    # The old-bootrom path flashes the bootrom package taken out of the full image.
    report = read_container(foreign_image("5.1.1.0", 38638))
    bootrom = report.all_elements()[1]
    data = foreign_image("5.1.1.0", 38638)[bootrom.offset : bootrom.offset + bootrom.size]
    verdict = sink_of(data)
    assert verdict.ok and verdict.meta is not None
    assert (verdict.meta.kind, verdict.meta.version) == (ImageKind.BOOTROM, 38638)


@pytest.mark.parametrize(("data", "problem"), [
    (encode_element(MAGIC_UPGR, b"fff upgrade package\0", struct.pack("<I", 2) + b"FFF!"
                    + bytes(5000)), "cannot be read"),
    (encode_element(MAGIC_UPGR, b"fs upgrade package\0", bytes(5000)), "no application"),
    (foreign_image("5.1.1.0", 38638)[:-1000], "Incomplete upgrade file"),
])
def test_the_modem_refuses_what_it_cannot_install(data: bytes, problem: str) -> None:
    verdict = sink_of(data)
    assert not verdict.ok and problem in (verdict.problem or "")


def test_a_flipped_byte_in_a_real_layout_image_is_refused() -> None:
    data = bytearray(foreign_image("5.1.1.0", 38638))
    data[30_000] ^= 0x10
    verdict = sink_of(bytes(data))
    assert not verdict.ok and "'fff upgrade package' does not match" in (verdict.problem or "")


@pytest.mark.parametrize(("patch", "problem"), [
    ({}, None),
    ({5: 1}, "not a 32-bit big-endian ELF"),  # little-endian
    ({18: 0, 19: 62}, "machine 62"),  # x86-64
])
def test_the_boot_loader_runs_only_an_elf_for_its_core(patch: dict[int, int],
                                                       problem: str | None) -> None:
    data = bytearray(make_image(ImageKind.UPDATER, Family.CATM1, 39529))
    for at, value in patch.items():
        data[at] = value
    verdict = sink_of(bytes(data))
    assert verdict.is_elf
    if problem is None:
        assert verdict.ok, verdict.problem
    else:
        assert problem in (verdict.problem or "")


def test_make_image_command_writes_a_plain_sequence_when_asked(tmp_path: Path) -> None:
    target = tmp_path / "small-nb1.dup"  # not the official name: the official size is larger
    result = CliRunner().invoke(
        cli, ["sim", "make-image", "--kind", "full", "--family", "nb1", "--version", "41019",
              "--size", str(SIZE), "--plain", "-o", str(target)])
    assert result.exit_code == 0, result.output
    report = read_container(target.read_bytes())
    assert report.ok and [e.magic for e in report.elements] == ["UPGR"] * 4
    file = identify(target)
    assert (file.kind, file.family, file.build) == (FileKind.FULL, "NB-IoT", 41019)


def linker_style_elf(machine: int = 167) -> bytes:
    """A 32-bit big-endian ELF as a linker lays it out, not by sqnflash's generator: two PT_LOAD
    segments, .text/.rodata/.data/.versionString/.shstrtab, the section table at the end."""
    names = b"\0.text\0.rodata\0.data\0.versionString\0.shstrtab\0"
    blobs = [bytes(range(256)) * 80, b"\x11" * 3000, b"\x22" * 1000,
             b"6.0.0.0 [37781] by robot-soft at 2018-07-05 20:21:02\0", names]
    pos, offsets = 52 + 2 * 32, []
    for blob in blobs:
        offsets.append(pos)
        pos += len(blob)
    header = (b"\x7fELF\x01\x02\x01" + bytes(9)
              + struct.pack(">HHIIIIIHHHHHH", 2, machine, 1, 0x1000, 52, pos, 0, 52, 32, 2, 40,
                            6, 5))
    phdrs = (struct.pack(">8I", 1, offsets[0], 0x1000, 0x1000, len(blobs[0]) + len(blobs[1]),
                         len(blobs[0]) + len(blobs[1]), 5, 0x1000)
             + struct.pack(">8I", 1, offsets[2], 0x80000, 0x80000, len(blobs[2]), 4096, 6, 0x1000))
    shdrs = bytes(40) + b"".join(
        struct.pack(">10I", names.index(name + b"\0"), 3 if name == b".shstrtab" else 1, 0, 0,
                    offsets[i], len(blobs[i]), 0, 0, 1, 0)
        for i, name in enumerate([b".text", b".rodata", b".data", b".versionString",
                                  b".shstrtab"]))
    return header + phdrs + b"".join(blobs) + shdrs


@pytest.mark.parametrize(("machine", "smod"), [(167, b"\r\n3\r\nOK\r\n"), (62, b"0\r\nOK\r\n")])
def test_the_boot_loader_starts_an_updater_it_did_not_make(open_port: OpenPort, machine: int,
                                                           smod: bytes) -> None:
    port = open_port("mode=ffh&updater_load_s=0.5", baudrate=115200)
    assert host.command(port, "AT+STP", "\n") == b"OK\r\n"
    assert host.upload(port, linker_style_elf(machine)).done
    host.read_for(port, 1.0)
    assert host.command(port, "AT+SMOD?") == smod  # the updater (3), or still the boot loader (0)
