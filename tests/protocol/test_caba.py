"""The CABA v3 package container of `.dup` files: walking, verifying, diagnosing."""

from __future__ import annotations

import random
import zlib
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sqnflash.firmware import caba
from sqnflash.firmware.caba import (
    CheckKind,
    ContainerReader,
    ContainerReport,
    ElementHeader,
    encode_element,
    read_container,
)
from tests.support.reference import fletcher32_reference


def le16(value: int) -> bytes:
    return value.to_bytes(2, "little")


def le32(value: int) -> bytes:
    return value.to_bytes(4, "little")


def hand_element(magic: bytes, description: bytes, payload: bytes, kind: int = 1) -> bytes:
    """An element laid out byte by byte from docs/protocol.md §7, with its trailer computed by the
    independent reference checksums."""
    head = (
        magic  # magic[4]
        + le16(3)  # version 3 ...
        + le16(0)  # ... (flags, 0)
        + le32(len(payload))  # payload length
        + le16(kind)  # check kind: 1 Fletcher-32, 4 CRC-32
        + le16(4)  # trailer length
        + le16(len(description))  # description length
    )
    assert len(head) == 18
    body = head + description + payload
    check = fletcher32_reference(body) if kind == 1 else zlib.crc32(body)
    return body + le32(check)


DESC_BOOTROM = b"bootrom upgrade package\0"
DESC_UPDATER = b"updater upgrade package\0"
DESC_FFF = b"fff upgrade package\0"
DESC_PACK = b"Packed dup files\0\0\0\0"

BOOTROM = hand_element(b"UPGR", DESC_BOOTROM, b"toob" + bytes(range(256)) * 3 + b"\x01")
UPDATER = hand_element(b"UPGR", DESC_UPDATER, le32(8) + b"FFF!" + b"\xa5" * 1001)
FFF = hand_element(b"UPGR", DESC_FFF, le32(2) + b"FFF!" + bytes(2000))
PACKED = hand_element(b"PACK", DESC_PACK, BOOTROM + UPDATER + FFF)


# --------------------------------------------------------------------------- golden layout


def test_small_upgr_golden_bytes() -> None:
    # Every byte written out: header, 8-byte description, 3-byte payload, Fletcher-32 trailer.
    element = hand_element(b"UPGR", b"bootrom\0", b"\x01\x02\x03")
    assert element[:18] == bytes.fromhex("55504752 0300 0000 03000000 0100 0400 0800")
    assert element[18:26] == b"bootrom\0"
    assert element[26:29] == b"\x01\x02\x03"
    assert element[29:] == le32(fletcher32_reference(element[:29]))
    assert len(element) == 33
    # the writer produces the same bytes
    assert encode_element(b"UPGR", b"bootrom\0", b"\x01\x02\x03") == element
    report = read_container(element)
    assert report.ok and report.problems == []
    (only,) = report.elements
    assert (only.magic, only.description, only.offset, only.size) == ("UPGR", "bootrom", 0, 33)
    assert only.header == ElementHeader(b"UPGR", 3, 0, 3, 1, 4, 8)
    assert only.verified is True
    assert only.stored_check == only.computed_check == fletcher32_reference(element[:29])


def test_header_struct_is_the_documented_layout() -> None:
    assert caba.HEADER.size == caba.HEADER_SIZE == 18
    header = ElementHeader(b"PACK", 3, 0, 0x01020304, 4, 4, 20)
    assert header.pack() == bytes.fromhex("5041434b 0300 0000 04030201 0400 0400 1400")
    assert header.total == 18 + 20 + 0x01020304 + 4


@pytest.mark.parametrize("element", [BOOTROM, UPDATER, FFF])
def test_writer_matches_the_hand_built_elements(element: bytes) -> None:
    desc_len = int.from_bytes(element[16:18], "little")
    description = element[18 : 18 + desc_len]
    payload = element[18 + desc_len : -4]
    assert encode_element(b"UPGR", description, payload) == element


# --------------------------------------------------------------------------- verification


def test_single_upgr_verifies() -> None:
    report = read_container(BOOTROM)
    assert report.ok and report.is_container
    (element,) = report.elements
    assert element.description == "bootrom upgrade package"
    assert element.part_type == b"toob"
    assert element.data_size == len(BOOTROM) - 18 - len(DESC_BOOTROM) - 4
    assert report.size == len(BOOTROM)


def test_pack_of_several_upgr() -> None:
    report = read_container(PACKED)
    assert report.ok, report.problems
    (pack,) = report.elements
    assert pack.magic == "PACK" and pack.description == "Packed dup files"
    assert pack.verified is True
    assert [(c.magic, c.description, c.depth) for c in pack.children] == [
        ("UPGR", "bootrom upgrade package", 1),
        ("UPGR", "updater upgrade package", 1),
        ("UPGR", "fff upgrade package", 1),
    ]
    start = 18 + len(DESC_PACK)
    offsets = [start, start + len(BOOTROM), start + len(BOOTROM) + len(UPDATER)]
    assert [c.offset for c in pack.children] == offsets
    assert [c.size for c in pack.children] == [len(BOOTROM), len(UPDATER), len(FFF)]
    assert all(c.verified for c in pack.children)
    assert [c.part_type for c in pack.children] == [b"toob", le32(8), le32(2)]
    assert len(report.all_elements()) == 4


def test_plain_sequence_of_upgr_without_pack() -> None:
    # NB1-37781.dup style: UPGR packages back to back
    data = BOOTROM + UPDATER + FFF
    report = read_container(data)
    assert report.ok, report.problems
    assert [e.description for e in report.elements] == [
        "bootrom upgrade package", "updater upgrade package", "fff upgrade package"
    ]
    assert [e.offset for e in report.elements] == [0, len(BOOTROM), len(BOOTROM) + len(UPDATER)]
    assert all(e.depth == 0 and e.verified for e in report.elements)


def test_crc32_check_kind_4() -> None:
    inner = hand_element(b"UPGR", DESC_BOOTROM, b"toob" + bytes(500), kind=4)
    outer = hand_element(b"PACK", DESC_PACK, inner, kind=4)
    report = read_container(outer)
    assert report.ok, report.problems
    assert all(e.header.check_kind == CheckKind.CRC32 and e.verified for e in report.all_elements())
    assert report.elements[0].stored_check == zlib.crc32(outer[:-4])
    # and a kind-4 element is not accepted with a Fletcher trailer
    wrong = inner[:-4] + le32(fletcher32_reference(inner[:-4]))
    assert read_container(wrong).elements[0].verified is False


def test_unverifiable_check_kind_is_neither_good_nor_bad() -> None:
    element = hand_element(b"UPGR", DESC_FFF, b"x" * 10)
    header = bytearray(element)
    header[12:14] = le16(CheckKind.RSA_SHA256)
    report = read_container(bytes(header))
    assert report.elements[0].verified is None
    assert report.problems == []


@pytest.mark.parametrize("which", ["description", "payload", "trailer", "flags"])
def test_flipped_byte_is_detected(which: str) -> None:
    data = bytearray(PACKED)
    child = 18 + len(DESC_PACK) + len(BOOTROM)  # the updater element
    position = {
        "description": child + 18 + 3,
        "payload": child + 18 + len(DESC_UPDATER) + 500,
        "trailer": child + len(UPDATER) - 2,
        "flags": child + 6,
    }[which]
    data[position] ^= 0x10
    report = read_container(bytes(data))
    assert not report.ok
    updater = report.elements[0].children[1]
    assert updater.verified is False
    # the PACK's own check covers every byte of its children, trailers included
    assert report.failed_checks() == [report.elements[0], updater]
    assert [c.verified for c in report.elements[0].children] == [True, False, True]
    assert report.problems == []  # the layout is intact: only the checks fail


@settings(deadline=None, max_examples=150)
@given(st.integers(0, len(PACKED) - 1), st.integers(0, 7))
def test_any_flipped_bit_makes_the_report_not_ok(position: int, bit: int) -> None:
    assume(position not in (12, 13))  # the PACK's check kind: a flip may turn checking off
    data = bytearray(PACKED)
    data[position] ^= 1 << bit
    report = read_container(bytes(data))
    assert not report.ok


# --------------------------------------------------------------------------- truncation


@pytest.mark.parametrize("missing", [1, 3, 4, 5, 100, len(FFF) - 1, len(FFF) + 10, 2000])
def test_truncated_file_says_how_much_is_missing(missing: int) -> None:
    report = read_container(PACKED[:-missing])
    assert not report.ok
    (problem,) = report.problems
    assert "truncated" in problem.message
    assert f"{missing} bytes are missing" in problem.message
    assert problem.offset == len(PACKED) - missing


@pytest.mark.parametrize("cut", [1, 4, 17])
def test_truncated_inside_the_first_header(cut: int) -> None:
    report = read_container(BOOTROM[:cut])
    assert not report.ok
    (problem,) = report.problems
    assert "truncated" in problem.message
    assert f"at least {18 - cut} bytes are missing" in problem.message


@pytest.mark.parametrize("cut", [1, 10, 17])
def test_truncated_inside_a_following_header(cut: int) -> None:
    report = read_container(BOOTROM + UPDATER[:cut])
    assert not report.ok
    (problem,) = report.problems
    assert "truncated" in problem.message
    assert f"at least {18 - cut} bytes are missing" in problem.message
    assert problem.offset == len(BOOTROM)


def test_stray_bytes_after_the_last_element() -> None:
    report = read_container(BOOTROM + b"\0" * 7)
    assert not report.ok
    assert [p.message for p in report.problems] == ["7 stray bytes after the last element"]


def test_empty_file() -> None:
    report = read_container(b"")
    assert not report.ok and not report.is_container
    assert [p.message for p in report.problems] == ["empty file"]


def test_child_overrunning_its_pack() -> None:
    data = hand_element(b"PACK", DESC_PACK, BOOTROM[:-10])  # the PACK says it is shorter
    report = read_container(data)
    assert not report.ok
    assert "overruns its PACK by 10 bytes" in report.problems[0].message


def test_unknown_container_version() -> None:
    data = bytearray(BOOTROM)
    data[4] = 2
    report = read_container(bytes(data))
    assert "container version 2" in report.problems[0].message


# --------------------------------------------------------------------------- foreign files


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\x7fELF\x01\x02\x01" + bytes(60), "ELF"),
        (b"PK\x03\x04\x14\x00\x00\x00" + bytes(60), "ZIP archive"),
        (b"<!DOCTYPE html>\n<html><body>404 Not Found</body></html>\n", "HTML page"),
        (b"<html>\n<head><title>502 Bad Gateway</title></head></html>", "HTML page"),
        (b"\x00\x01\x02\x03" + bytes(40), "bytes 00 01 02 03"),
    ],
)
def test_foreign_files(data: bytes, words: str) -> None:
    report = read_container(data)
    assert not report.ok and not report.is_container
    (problem,) = report.problems
    assert problem.message.startswith("not a Sequans package container")
    assert words in problem.message
    assert problem.offset == 0


@pytest.mark.parametrize(("data", "words"), [(b"\x7fELF", "ELF"), (b"PK\x03\x04", "ZIP"),
                                              (b"<html>", "HTML")])
def test_short_foreign_files(data: bytes, words: str) -> None:
    report = read_container(data)
    (problem,) = report.problems
    assert problem.message.startswith("not a Sequans package container")
    assert words in problem.message


def test_foreign_data_after_a_good_element() -> None:
    report = read_container(BOOTROM + b"<html>" + bytes(40))
    assert not report.ok
    assert report.elements[0].verified is True
    (problem,) = report.problems
    assert problem.offset == len(BOOTROM)
    assert problem.message == (
        f"unexpected data at offset {len(BOOTROM)}: "
        "it starts like an HTML page (a failed download?)"
    )


# --------------------------------------------------------------------------- streaming


def feed_in_pieces(data: bytes, cuts: list[int]) -> ContainerReport:
    reader = ContainerReader()
    previous = 0
    for cut in [*sorted(cuts), len(data)]:
        reader.feed(data[previous:cut])
        previous = cut
    return reader.finish()


SAMPLES = {
    "pack": PACKED,
    "sequence": BOOTROM + UPDATER + FFF,
    "truncated": PACKED[:-777],
    "flipped": PACKED[:1000] + b"\xff" + PACKED[1001:],
    "stray": FFF + b"\x01\x02",
    "elf": b"\x7fELF" + bytes(100),
    "crc32": hand_element(b"PACK", DESC_PACK, hand_element(b"UPGR", DESC_FFF, bytes(99), 4), 4),
}


@settings(deadline=None, max_examples=100)
@given(st.sampled_from(sorted(SAMPLES)), st.data())
def test_any_split_gives_the_same_report(name: str, data: st.DataObject) -> None:
    blob = SAMPLES[name]
    cuts = data.draw(st.lists(st.integers(0, len(blob)), max_size=30))
    assert feed_in_pieces(blob, cuts) == read_container(blob)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_byte_by_byte_gives_the_same_report(name: str) -> None:
    blob = SAMPLES[name]
    assert feed_in_pieces(blob, list(range(len(blob)))) == read_container(blob)


def test_reading_a_file_in_chunks(tmp_path: Path) -> None:
    path = tmp_path / "CATM1-00000.dup"
    path.write_bytes(PACKED)
    reader = ContainerReader()
    with path.open("rb") as handle:
        while chunk := handle.read(333):
            reader.feed(chunk)
    report = reader.finish()
    assert report == read_container(PACKED)
    assert report.ok and report.size == path.stat().st_size


@settings(deadline=None, max_examples=100)
@given(st.binary(max_size=300), st.integers(0, 2**32 - 1))
def test_random_bytes_never_raise(data: bytes, seed: int) -> None:
    rng = random.Random(seed)
    for blob in (data, b"UPGR\x03\x00" + data, b"PACK\x03\x00" + data, PACKED[:100] + data):
        cuts = [rng.randrange(len(blob) + 1) for _ in range(rng.randrange(4))]
        report = feed_in_pieces(blob, cuts)
        assert report == read_container(blob)
        assert report.size == len(blob)
