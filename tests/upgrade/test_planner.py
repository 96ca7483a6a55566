"""The planner's refusals, notes and estimates, from a modem's report and real-layout files."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqnflash.errors import (
    BadOption,
    FamilyMismatch,
    ImageTooLarge,
    IntermediateRequired,
    UpdaterMismatch,
)
from sqnflash.firmware import FirmwareFile, load_image, load_updater
from sqnflash.modem import ModemInfo
from sqnflash.protocol.modes import Mode
from sqnflash.sim.images import Family, ImageKind, make_image
from sqnflash.upgrade import Method, StepId, make_plan
from sqnflash.upgrade.estimate import APPLY_S, transfer_s


def app(build: int, *, lr: str = "5.1.1.0", bootrom: int | None = None,
        baud: int = 921600) -> ModemInfo:
    return ModemInfo(Mode.APPLICATION, baud, software_build=build, software_version=lr,
                     bootrom_build=bootrom or build, lr_version=lr)


def image(tmp_path: Path, name: str, kind: ImageKind = ImageKind.FULL,
          family: Family = Family.CATM1, version: int = 41065, *, size: int | None = 300_000,
          source: int | None = None) -> FirmwareFile:
    path = tmp_path / name
    path.write_bytes(make_image(kind, family, version, size=size, source=source))
    return load_image(path)


def test_estimates_follow_the_line_rate_and_the_stp_overhead() -> None:
    size = 6_059_510
    line_only = size * 10 / 921600  # 65.7 s: bytes on the wire and nothing else
    at_921600 = transfer_s(size, 921600)
    assert line_only < at_921600 < line_only * 1.15
    # 8x the wire time; the per-exchange turnaround does not depend on the rate.
    assert 7 * at_921600 < transfer_s(size, 115200) < 8 * at_921600
    # Bigger blocks, fewer headers and turnarounds; the boot loader's 2048 caps them.
    assert transfer_s(size, 921600, 8176) < at_921600
    assert transfer_s(size, 921600, 8176, 2048) == transfer_s(size, 921600, 2032)


def test_every_step_has_an_estimate_and_transfers_use_the_negotiated_rate(
        tmp_path: Path) -> None:
    full = image(tmp_path, "CATM1-41065.dup", size=None)
    updater_path = tmp_path / "updater.elf"
    updater_path.write_bytes(make_image(ImageKind.UPDATER, Family.CATM1, 41065))
    updater = load_updater(updater_path)
    ffh = ModemInfo(Mode.FFH, 115200)
    slow = make_plan(ffh, full, updater=updater, baud=115200)
    fast = make_plan(ffh, full, updater=updater, baud=921600)
    assert all(step.estimate_s > 0 for step in fast.steps)
    send = {s.id: s.estimate_s for s in fast.steps}[StepId.SEND_IMAGE]
    assert send == pytest.approx(transfer_s(full.size, 921600))
    assert slow.estimate_s - fast.estimate_s > 7 * send * 0.9  # 8x the wire time at 115200
    assert fast.to_dict()["estimate_s"] == pytest.approx(fast.estimate_s, abs=0.1)
    assert {s.id: s.estimate_s for s in fast.steps}[StepId.APPLY] == APPLY_S


def test_a_monarch2_image_never_goes_to_a_monarch1_modem(tmp_path: Path) -> None:
    m2 = tmp_path / "GM02RB6Q_LR8.0.5.13-12345.dup"
    m2.write_bytes(make_image(ImageKind.FULL, Family.MONARCH2, 12345, size=300_000))
    file = load_image(m2)
    assert file.family == "Monarch 2"
    with pytest.raises(FamilyMismatch) as caught:
        make_plan(app(38638), file, allow_family_change=True)
    assert "--allow-family-change" not in caught.value.hint


def test_a_monarch2_modem_below_the_minimum_needs_a_raster_upgrade(tmp_path: Path) -> None:
    m2 = tmp_path / "GM02RB6Q_LR8.0.5.13-59999.dup"
    m2.write_bytes(make_image(ImageKind.FULL, Family.MONARCH2, 59999, size=300_000))
    old = ModemInfo(Mode.APPLICATION, 115200, software_build=50000, lr_version="8.0.3.2")
    with pytest.raises(IntermediateRequired) as caught:
        make_plan(old, load_image(m2))
    assert "8.0.4.0" in caught.value.cause and "raster upgrade" in caught.value.hint
    recent = ModemInfo(Mode.APPLICATION, 115200, software_build=59577, lr_version="8.0.5.13")
    plan = make_plan(recent, load_image(m2))
    assert any("monarch2-minimum" in c for c in plan.checks)


def test_two_step_release(tmp_path: Path) -> None:
    step2 = image(tmp_path, "CATM1-5.2-48829-2.dup", version=48829)
    with pytest.raises(IntermediateRequired) as caught:
        make_plan(app(41065), step2)
    assert caught.value.details["intermediate"] == "CATM1-5.2-48829-1.dup"
    assert make_plan(app(39529), step2).expected_build == 48829
    step1 = image(tmp_path, "CATM1-5.2-48829-1.dup", version=48829)
    with pytest.raises(BadOption):
        make_plan(app(41065), step1, method=Method.FFF)
    assert make_plan(app(41065), step1).method == Method.ON_THE_FLY


def test_the_updater_must_belong_to_the_image_release(tmp_path: Path) -> None:
    full = image(tmp_path, "CATM1-39529.dup", version=39529, size=None)
    own = tmp_path / "own" / "updater.elf"
    own.parent.mkdir()
    own.write_bytes(make_image(ImageKind.UPDATER, Family.CATM1, 39529))
    old_bootrom = app(33080)
    plan = make_plan(old_bootrom, full, updater=load_updater(own))
    assert any("the updater of release 39529" in c for c in plan.checks)
    cut = tmp_path / "cut" / "updater.elf"  # a complete ELF, but not 429 340 bytes
    cut.parent.mkdir()
    cut.write_bytes(make_image(ImageKind.UPDATER, Family.CATM1, 39529, size=400_000))
    with pytest.raises(UpdaterMismatch) as caught:
        make_plan(old_bootrom, full, updater=load_updater(cut))
    assert "400 000 bytes" in caught.value.cause and "429 340" in caught.value.cause


def test_an_unknown_pairing_is_a_note_not_a_refusal(tmp_path: Path) -> None:
    full = image(tmp_path, "CATM1-41065.dup", version=41065)  # release without a known updater
    path = tmp_path / "updater.elf"
    path.write_bytes(make_image(ImageKind.UPDATER, Family.CATM1, 38638))  # 38638's updater
    plan = make_plan(app(33080), full, updater=load_updater(path))
    assert any("updater of release 37781, 38638" in n and "same zip" in n for n in plan.notes)


def test_a_diff_too_large_for_the_upgrade_area_is_refused(tmp_path: Path) -> None:
    diff = image(tmp_path, "upgdiff_38638-to-41065.dup", ImageKind.DIFF, size=4_300_000,
                 source=38638)
    with pytest.raises(ImageTooLarge) as caught:
        make_plan(app(38638), diff)
    assert "4 MiB" in caught.value.cause and "full image" in caught.value.hint


def test_a_modem_on_the_newest_factory_firmware_gets_the_docs_warning(tmp_path: Path) -> None:
    full = image(tmp_path, "CATM1-41065.dup")
    plan = make_plan(app(50523, lr="5.4.1.0"), full, allow_downgrade=True)
    assert any("50523 cannot be updated" in n for n in plan.notes)
    assert any("downgrade from 50523 to 41065" in n for n in plan.notes)
