"""Monarch 2 (GM02S) end to end through the CLI, on the virtual clock: info, the preflight
refusals, and the real GM02 image sent zipped and raw until the modem runs its build."""

from __future__ import annotations

import json
import random
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sqnflash.cli.main import main
from sqnflash.sim.images import Family, ImageKind, default_name, make_image, make_updater_elf
from sqnflash.sim.simulator import forget, named
from tests.firmware.test_real_image import m2_image  # noqa: F401  (the fixture)
from tests.support.cli import json_lines

SMALL = 400_000


class Gm02:
    def __init__(self, settings: str) -> None:
        self.name = f"m2-{uuid.uuid4().hex}"
        self.url = f"sim://{self.name}?clock=virtual&family=monarch2{settings}"

    @property
    def modem(self) -> Any:
        sim = named(self.name)
        assert sim is not None
        return sim.modem


@pytest.fixture
def gm02() -> Iterator[type[Gm02]]:
    made: list[Gm02] = []

    def make(settings: str = "") -> Gm02:
        modem = Gm02(settings)
        made.append(modem)
        return modem

    yield make  # type: ignore[misc]
    for modem in made:
        forget(modem.name)


@pytest.fixture
def image(tmp_path: Path) -> Path:
    """A small Monarch 2 full image of build 59577 under its official name."""
    image = tmp_path / default_name(ImageKind.FULL, Family.MONARCH2, 59577)
    image.write_bytes(make_image(ImageKind.FULL, Family.MONARCH2, 59577, size=SMALL))
    return image


def _result(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    return json_lines(capsys.readouterr().out)[-1]


def test_info_names_the_family_model_version_and_gate(
        gm02: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--port", gm02("&version=54000").url, "--json"]) == 0
    info = _result(capsys)
    assert (info["family"], info["model"], info["ue_version"]) == ("Monarch 2", "GM02S",
                                                                   "8.0.3.0")
    assert info["software_build"] == 54000 and info["full_upgrade_allowed"] is False
    assert info["baud"] == 115200
    assert main(["info", "--port", gm02().url]) == 0
    assert "Monarch 2 (GM02S)" in capsys.readouterr().out


def test_a_monarch1_image_is_refused_before_anything_changes(
        gm02: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / default_name(ImageKind.FULL, Family.CATM1, 41019)
    image.write_bytes(make_image(ImageKind.FULL, Family.CATM1, 41019, size=SMALL))
    modem = gm02()
    assert main(["upgrade", "--port", modem.url, str(image), "--json"]) == 19
    assert _result(capsys)["code"] == "SQF-E110"
    assert modem.modem.stp_sessions == 0 and "AT+SMSWBOOT=3,1" not in \
        modem.modem.received_commands


def test_a_monarch2_image_is_refused_by_a_monarch1_modem(
        image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name = f"m1-{uuid.uuid4().hex}"
    try:
        assert main(["upgrade", "--port", f"sim://{name}?clock=virtual", str(image),
                     "--json"]) == 19
        sim = named(name)
        assert sim is not None and sim.modem.stp_sessions == 0
    finally:
        forget(name)


def test_below_8040_a_full_image_needs_a_raster_upgrade_unless_forced(
        gm02: Any, image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    modem = gm02("&version=54000")
    assert main(["upgrade", "--port", modem.url, str(image), "--json"]) == 25
    refusal = _result(capsys)
    assert refusal["code"] == "SQF-E116" and "8.0.3.0" in refusal["cause"]
    assert "raster upgrade" in refusal["advice"]
    assert modem.modem.stp_sessions == 0
    # Forced, the image is sent, and this modem really cannot take it: the upgrade fails.
    assert main(["upgrade", "--port", modem.url, str(image), "--force", "--json"]) != 0
    assert modem.modem.stp_sessions == 1 and modem.modem.flash.software == 54000


@pytest.mark.parametrize("compress", [True, False])
def test_the_real_gm02_image_installs_zipped_or_raw(
        gm02: Any, m2_image: Path, tmp_path: Path, compress: bool,  # noqa: F811
        capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / m2_image.name
    shutil.copyfile(m2_image, image)
    modem = gm02("&version=59000")
    args = ["upgrade", "--port", modem.url, str(image), "--json"]
    assert main(args + ([] if compress else ["--no-compress"])) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    result = events[-1]
    assert result["ok"] and modem.modem.flash.software == 59577
    sent = modem.modem.received_commands
    # pysequans' order: radio mode 5, then RECOVERY, then the ON_THE_FLY session.
    assert sent.index("AT+CFUN=5") < sent.index("AT+SMSWBOOT=3,1") < sent.index(
        'AT+SMSTPU="ON_THE_FLY"')
    started = next(e for e in events if e.get("type") == "transfer-started")
    finished = next(e for e in events if e.get("type") == "transfer-finished")
    assert started["block_size"] == 8192 - 16  # max_transfer - 16, not Pycom's 2016
    assert started["total"] == image.stat().st_size  # the bar counts image bytes
    # Both events count the file; the wire's own count (a zlib stream when zipped) is apart.
    assert finished["total"] == started["total"]
    wire = finished["wire_bytes"]
    if compress:
        assert wire < 0.6 * image.stat().st_size
        assert any("data type 5" in text for _, text in modem.modem.log)
    else:
        assert wire == image.stat().st_size
        assert any("data type 4" in text for _, text in modem.modem.log)
    progress = [e for e in events if e.get("type") == "progress"]
    assert progress[-1]["done"] == progress[-1]["total"] == image.stat().st_size


def test_a_gm02s_found_in_recovery_is_upgraded_from_there_zipped(
        gm02: Any, image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    modem = gm02("&version=59000&mode=recovery")
    assert main(["upgrade", "--port", modem.url, str(image), "--json"]) == 0
    assert modem.modem.flash.software == 59577 and modem.modem.mode == 2
    assert any("data type 5" in text for _, text in modem.modem.log)
    assert "AT+SMSWBOOT=3,1" not in modem.modem.received_commands


def test_a_gm02s_in_its_boot_loader_gets_the_tool_elf_then_the_image(
        gm02: Any, image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # An NDS32 ELF with a Monarch 2 version string stands in for mtools.elf (a Monarch 1
    # updater is refused: SQF-E114).
    tool = tmp_path / "mtools.elf"
    tool.write_bytes(make_updater_elf(Family.MONARCH2, 59577, 300_000, random.Random(1)))
    modem = gm02("&version=59000&mode=ffh")
    assert main(["upgrade", "--port", modem.url, "--updater", str(tool), str(image),
                 "--json"]) == 0
    sent = modem.modem.received_commands
    stp = sent.index("AT+STP")
    assert stp < sent.index('AT+SMSTPU="ON_THE_FLY"')
    # mtools.elf is loaded at 115200 as the published M2 clients do; the image, once mtools
    # runs, goes at the fastest rate it lists (RTS/CTS on).
    assert not any(c.startswith("AT+IPR") for c in sent[:stp])
    assert "AT+IPR=921600" in sent[stp:]
    assert modem.modem.flash.software == 59577 and modem.modem.mode == 2


def test_an_interrupted_zipped_transfer_continues_in_the_session_the_modem_holds(
        image: Path, tmp_path: Path) -> None:
    import serial

    from sqnflash.errors import Interrupted
    from sqnflash.events import Event, TransferFinished, TransferProgress
    from sqnflash.firmware import load_image
    from sqnflash.modem import Modem
    from sqnflash.upgrade import upgrade
    from sqnflash.upgrade.journal import Journal

    firmware = load_image(image)
    port = serial.serial_for_url("sim://?clock=virtual&family=monarch2&version=59000"
                                 "&mode=recovery", baudrate=115200)
    modem, sim = Modem.open(port), port.sim
    events: list[Event] = []

    def stop(event: Event) -> None:
        if isinstance(event, TransferProgress) and event.done >= SMALL // 2:
            raise KeyboardInterrupt

    with Journal.open(tmp_path / "j.db") as journal:
        with pytest.raises(Interrupted):
            upgrade(modem, firmware, emit=stop, journal=journal)
        (record,) = journal.history()
        assert record.transfer is not None and record.transfer.total != SMALL  # stream bytes
        upgrade(modem, firmware, emit=events.append, journal=journal)
    assert any(isinstance(e, TransferFinished) for e in events)
    state = sim.summary()
    assert state["version"] == 59577 and state["stp_sessions"] == 1



def test_a_small_monarch2_image_still_goes_on_the_fly_from_recovery(
        gm02: Any, image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    modem = gm02("&version=59000")
    assert main(["upgrade", "--port", modem.url, str(image), "--no-compress", "--json"]) == 0
    assert "AT+SMSTPU" not in modem.modem.received_commands  # never stored in the application
    assert any("data type 4" in text for _, text in modem.modem.log)
    assert modem.modem.flash.software == 59577
