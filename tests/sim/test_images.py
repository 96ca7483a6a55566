"""Synthetic firmware files: real container layouts, official names, `sqnflash sim make-image`."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from sqnflash.cli.main import cli, main
from sqnflash.protocol.caba import read_container
from sqnflash.sim.images import Family, ImageKind, default_name, make_image

from .host import FROM, TO

SIZE = 100_000
DUP_KINDS = (ImageKind.FULL, ImageKind.DIFF, ImageKind.BOOTROM)


def source_for(kind: ImageKind) -> int | None:
    return FROM if kind == ImageKind.DIFF else None


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


@pytest.mark.parametrize("family", list(Family))
@pytest.mark.parametrize("kind", list(ImageKind))
def test_each_kind_is_a_valid_file_of_the_requested_size(kind: ImageKind, family: Family) -> None:
    data = make_image(kind, family, TO, source=source_for(kind), size=SIZE)
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
    data = bytearray(make_image(kind, Family.CATM1, TO, source=source_for(kind), size=SIZE))
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
    data = make_image(kind, family, TO)
    assert len(data) == size
    if kind == ImageKind.UPDATER:
        assert_elf32_big_endian(data)
    else:
        assert read_container(data).ok


def test_images_are_deterministic() -> None:
    assert make_image(ImageKind.FULL, Family.CATM1, TO, size=SIZE) == make_image(
        ImageKind.FULL, Family.CATM1, TO, size=SIZE)
    assert make_image(ImageKind.FULL, Family.CATM1, TO, size=SIZE) != make_image(
        ImageKind.FULL, Family.CATM1, TO + 1, size=SIZE)


@pytest.mark.parametrize(("kind", "family", "source", "name"), [
    (ImageKind.FULL, Family.CATM1, None, "CATM1-41019.dup"),
    (ImageKind.FULL, Family.NB1, None, "NB1-41019.dup"),
    (ImageKind.DIFF, Family.CATM1, FROM, "upgdiff_38638-to-41019.dup"),
    (ImageKind.UPDATER, Family.CATM1, None, "updater.elf"),
])
def test_official_names(kind: ImageKind, family: Family, source: int | None, name: str) -> None:
    assert default_name(kind, family, TO, source) == name


@pytest.mark.parametrize(("args", "kind", "family", "source", "name"), [
    (["--kind", "full"], ImageKind.FULL, Family.CATM1, None, "CATM1-41019.dup"),
    (["--kind", "full", "--family", "nb1"], ImageKind.FULL, Family.NB1, None, "NB1-41019.dup"),
    (["--kind", "diff", "--from", "38638"], ImageKind.DIFF, Family.CATM1, FROM,
     "upgdiff_38638-to-41019.dup"),
    (["--kind", "updater"], ImageKind.UPDATER, Family.CATM1, None, "updater.elf"),
    (["--kind", "bootrom"], ImageKind.BOOTROM, Family.CATM1, None, "bootrom-41019.dup"),
])
def test_make_image_command_writes_the_official_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], kind: ImageKind,
        family: Family, source: int | None, name: str) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        cli, ["sim", "make-image", *args, "--version", str(TO), "--size", str(SIZE)])
    assert result.exit_code == 0, result.output
    written = tmp_path / name
    assert written.read_bytes() == make_image(kind, family, TO, source=source, size=SIZE)
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
    code = main(["sim", "make-image", *args, "--version", str(TO), "-o", str(tmp_path / "x")])
    assert code != 0
    assert words in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_faults_command_lists_every_fault() -> None:
    from sqnflash.sim.faults import FAULT_NAMES

    result = CliRunner().invoke(cli, ["sim", "faults"])
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.output.splitlines()]
    assert listed == list(FAULT_NAMES)
