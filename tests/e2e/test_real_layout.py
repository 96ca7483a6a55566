"""Rehearsing with real firmware: the simulator installs files it did not make.

The images here are built the way real releases are laid out (docs/protocol.md §7), without
sqnflash's generator: other data, other build-string positions, an unknown file name. What the
modem reports afterwards must come from the file's own build strings.
"""

from __future__ import annotations

import struct
import uuid
from pathlib import Path
from typing import Any

import pytest

from sqnflash.cli.main import main
from sqnflash.firmware.caba import MAGIC_PACK, MAGIC_UPGR, encode_element
from sqnflash.sim.images import Family, ImageKind, make_image
from sqnflash.sim.simulator import forget, named
from tests.support.cli import json_lines
from tests.support.images import FROM


def real_layout(lr: str, build: int, fff_size: int, *, plain: bool = False) -> bytes:
    release = b"\0" + f"{lr} [{build}] by robot-soft at 2018-12-13 21:41:15".encode() + b"\0"

    def body(head: bytes, size: int, *strings: bytes) -> bytes:
        filler = bytes((i * 7 + 3) & 0xFF for i in range(251)) * (size // 251 + 1)
        inner = b"".join(filler[: size // (len(strings) + 1)] + s for s in strings)
        return head + inner + filler[: size - len(inner)]

    parts = [
        ("bootrom", body(b"toob" + bytes(9), 54_000, b"\x005.1.1.0 [38638] by robot-soft\0")),
        ("updater", body(struct.pack("<I", 8) + b"FFF!", 300_000, release)),
        ("fff", body(struct.pack("<I", 2) + b"FFF!", fff_size, release, release)),
        ("fs", body(struct.pack("<I", 3), 60_000)),
    ]
    children = b"".join(encode_element(MAGIC_UPGR, f"{n} upgrade package".encode() + b"\0", d)
                        for n, d in parts)
    return children if plain else encode_element(MAGIC_PACK, b"Packed dup files\0", children)


def upgrade(url: str, image: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    code = main(["upgrade", "--port", url, str(image), "--json"])
    out = json_lines(capsys.readouterr().out)
    assert code == 0, out[-1]
    return dict(out[-1])


@pytest.mark.parametrize(("fff_size", "plain", "settings"), [
    (5_500_000, False, ""),  # 6 MB like CATM1-38638.dup: ON_THE_FLY from RECOVERY
    (2_000_000, False, ""),  # under 4 MiB: stored, then applied by the updater
    (5_500_000, True, "&mode=recovery"),  # packages back to back, as NB1-37781.dup
])
def test_a_real_layout_image_installs_the_build_its_packages_carry(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], fff_size: int, plain: bool,
        settings: str) -> None:
    image = tmp_path / "modem-firmware.dup"  # no official name: only the contents tell
    image.write_bytes(real_layout("5.1.1.0", 41019, fff_size, plain=plain))
    name = f"real-{uuid.uuid4().hex}"
    try:
        result = upgrade(f"sim://{name}?clock=virtual&version={FROM}{settings}", image, capsys)
        assert result["ok"] and result["after"]["software_build"] == 41019
        sim = named(name)
        assert sim is not None
        state = sim.summary()
        assert (state["version"], state["mode"], state["app_ok"]) == (41019, "FFF", True)
        assert state["stp_sessions"] == 1 and state["upgrades_applied"] == 1  # sent once
    finally:
        forget(name)


def test_a_renamed_twin_installs_like_the_release(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "latest.dup"
    image.write_bytes(make_image(ImageKind.FULL, Family.CATM1, 41019, size=900_000))
    name = f"real-{uuid.uuid4().hex}"
    try:
        result = upgrade(f"sim://{name}?clock=virtual&version={FROM}", image, capsys)
        assert result["after"]["software_build"] == 41019
    finally:
        forget(name)
