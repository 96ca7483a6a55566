"""The fastest safe line: the rate the modem lists and the port carries, blocks as large as the
modem takes, and every way back to 921600 baud and 2016-byte blocks when it takes less."""

from __future__ import annotations

from pathlib import Path

import pytest
import serial

from sqnflash.errors import LineRateLost
from sqnflash.firmware import FirmwareFile, load_image
from sqnflash.modem import Modem
from sqnflash.protocol import at
from sqnflash.protocol.stp import PYCOM_BLOCK_CAP
from sqnflash.sim.images import Family, ImageKind, make_image
from sqnflash.upgrade import Method, Settings, UpgradeResult, upgrade
from sqnflash.upgrade.journal import Journal
from tests.support.images import TO, Firmware
from tests.support.modems import SimModem

AUTO = Settings(auto_baud=True)
MONARCH1_IMAGE = 6_000_000


@pytest.fixture(scope="module")
def six_mb(tmp_path_factory: pytest.TempPathFactory) -> FirmwareFile:
    path = tmp_path_factory.mktemp("six-mb") / "CATM1-41019.dup"
    path.write_bytes(make_image(ImageKind.FULL, Family.CATM1, TO, size=MONARCH1_IMAGE))
    return load_image(path)


def run(sim: SimModem, image: FirmwareFile, settings: Settings = AUTO) -> UpgradeResult:
    return upgrade(sim.modem, image, method=Method.ON_THE_FLY, settings=settings,
                   emit=sim.events.append)


def test_a_fast_modem_takes_a_6_mb_image_in_at_most_0_4_of_the_time(
        six_mb: FirmwareFile) -> None:
    slow = SimModem("mode=recovery")
    before = run(slow, six_mb, Settings(block_size=PYCOM_BLOCK_CAP)).transfers["send-image"]
    fast = SimModem("mode=recovery")
    after = run(fast, six_mb).transfers["send-image"]
    assert fast.state["version"] == TO
    assert fast.transfers()[-1].baud == 3686400
    assert after.line is not None and after.line.largest_block == 8192 - 16
    assert after.elapsed_s <= 0.4 * before.elapsed_s, (after.elapsed_s, before.elapsed_s)
    assert fast.said("transfers run at 3686400 baud: the fastest the modem lists")


@pytest.mark.parametrize("variant", ["legacy-line", "block-cmd-2016"])
def test_a_modem_that_refuses_both_lands_on_921600_and_2016_and_says_why(
        firmware: Firmware, variant: str) -> None:
    sim = SimModem(f"mode=recovery&variant={variant}&ipr_list=115200,460800,921600")
    result = run(sim, firmware.full)
    sent = result.transfers["send-image"]
    assert sim.state["version"] == TO
    assert sim.transfers()[-1].baud == 921600
    assert sent.line is not None and sent.line.largest_block == PYCOM_BLOCK_CAP
    assert sim.said("the transfer runs at 921600 baud: the modem lists nothing faster")
    assert sim.said("blocks grew no further than 2016 bytes (the session reports 8192)")


def test_blocks_lost_above_2016_fall_back_at_once_and_the_fast_rate_stays(
        firmware: Firmware) -> None:
    sim = SimModem("mode=recovery&variant=block-2016")
    sent = run(sim, firmware.full).transfers["send-image"]
    assert sim.state["version"] == TO and sim.transfers()[-1].baud == 3686400
    assert sent.line is not None and sent.line.largest_block == PYCOM_BLOCK_CAP
    assert sent.line.shrinks == 1  # one drop back, no halving below 2016


def test_an_adapter_that_carries_921600_at_most_keeps_the_line_there(
        firmware: Firmware) -> None:
    sim = SimModem("mode=recovery&variant=slow-adapter")
    run(sim, firmware.full)
    assert sim.state["version"] == TO and sim.transfers()[-1].baud == 921600
    assert sim.said("the port's adapter carries at most 921600 baud")


def test_a_line_that_garbles_above_921600_falls_back_one_rate_at_a_time(
        firmware: Firmware) -> None:
    sim = SimModem("mode=recovery&variant=garble-fast&seed=3")
    run(sim, firmware.full)
    assert sim.state["version"] == TO
    assert [t.baud for t in sim.transfers()] == [3686400, 3000000, 2000000, 1000000, 921600]
    assert sim.said("again from the start at 3000000 baud")


def test_max_baud_caps_the_rate_and_says_so(firmware: Firmware) -> None:
    sim = SimModem("mode=recovery")
    run(sim, firmware.full, Settings(auto_baud=True, max_baud=2000000))
    assert sim.transfers()[-1].baud == 2000000
    assert sim.said("within --max-baud 2000000")


def test_a_modem_that_does_not_list_its_rates_stays_where_it_answers(
        firmware: Firmware) -> None:
    sim = SimModem("mode=recovery&variant=no-ipr-list")
    run(sim, firmware.full)
    assert sim.transfers()[-1].baud == 921600
    assert sim.said("the modem does not answer AT+IPR=?: the transfer runs at 921600 baud")


def test_an_exact_rate_is_not_moved(firmware: Firmware) -> None:
    sim = SimModem("mode=recovery")
    run(sim, firmware.full, Settings())
    assert sim.transfers()[-1].baud == 921600


def test_the_boot_loader_does_not_list_rates_and_the_updater_does(firmware: Firmware) -> None:
    sim = SimModem("mode=ffh")
    upgrade(sim.modem, firmware.full, updater=firmware.updater, settings=AUTO,
            emit=sim.events.append)
    assert sim.state["version"] == TO
    bauds = [t.baud for t in sim.transfers()]
    assert bauds == [921600, 3686400]  # updater.elf into the boot loader, then the image


def test_rates_are_read_from_every_shape_of_the_list() -> None:
    assert at.parse_ipr_list(["+IPR: (),(115200,921600,3686400)"]) == (115200, 921600, 3686400)
    assert at.parse_ipr_list(["+IPR: (9600-921600),()"])[-2:] == (460800, 921600)
    with pytest.raises(at.ReplyFormatError):
        at.parse_ipr_list(["+IPR: (),()"])


def test_a_modem_stranded_at_a_rate_the_line_cannot_carry_is_a_clear_error(
        firmware: Firmware) -> None:
    """The port takes 3686400 but its adapter runs 921600 at most, and does not say so: once the
    modem moved, nothing gets through either way."""
    port = serial.serial_for_url("sim://?clock=virtual&mode=recovery&version=38638"
                                 "&adapter_max_baud=921600", baudrate=921600)
    modem = Modem.open(port)
    modem.link.max_baud = None
    with pytest.raises(LineRateLost) as caught:
        upgrade(modem, firmware.full, method=Method.ON_THE_FLY, settings=AUTO)
    assert caught.value.code == "SQF-E313" and caught.value.exit_code == 125
    assert "--max-baud 921600" in caught.value.advice


def test_the_journal_remembers_a_rate_that_failed_and_the_blocks_the_modem_took(
        firmware: Firmware, tmp_path: Path) -> None:
    with Journal.open(tmp_path / "journal.db") as journal:
        first = SimModem("variant=garble-fast,block-2016&seed=3")
        upgrade(first.modem, firmware.full, method=Method.ON_THE_FLY, settings=AUTO,
                emit=first.events.append, journal=journal)
        assert len(first.transfers()) == 5
        again = SimModem("variant=garble-fast,block-2016&seed=3")
        result = upgrade(again.modem, firmware.full, method=Method.ON_THE_FLY, settings=AUTO,
                         emit=again.events.append, journal=journal)
    assert again.said("the journal remembers this modem's line: 1000000, 2000000, 3000000, "
                      "3686400 baud failed on it before and is not tried again; it answered "
                      "blocks of 2016 bytes and no larger")
    assert [t.baud for t in again.transfers()] == [921600]
    line = result.transfers["send-image"].line
    assert line is not None and line.shrinks == 0 and line.largest_block == PYCOM_BLOCK_CAP
