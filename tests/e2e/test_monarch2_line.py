"""Monarch 2 on the fastest safe line, through the CLI on the virtual clock: RTS/CTS on by default
once the modem is known to be a GM02S, the line sped up to the fastest rate it lists only with
RTS/CTS on, and a modem whose RTS/CTS is not wired falling back to 115200 (remembered)."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sqnflash.cli.main import main
from sqnflash.sim.images import Family, ImageKind, default_name, make_image, make_updater_elf
from sqnflash.sim.simulator import Simulator, forget, named

SMALL = 300_000
TARGET = 59577


class Gm02:
    """A simulated GM02S reached by name, so the test can look at it after the run."""

    def __init__(self, settings: str, imei: str) -> None:
        self.name = f"m2line-{uuid.uuid4().hex}"
        self.url = f"sim://{self.name}?clock=virtual&family=monarch2&imei={imei}{settings}"

    @property
    def sim(self) -> Simulator:
        sim = named(self.name)
        assert sim is not None
        return sim


@pytest.fixture
def gm02() -> Iterator[Any]:
    made: list[Gm02] = []

    def make(settings: str = "&version=59000", imei: str = "359000000000001") -> Gm02:
        made.append(Gm02(settings, imei))
        return made[-1]

    yield make
    for modem in made:
        forget(modem.name)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("m2") / default_name(ImageKind.FULL, Family.MONARCH2, TARGET)
    path.write_bytes(make_image(ImageKind.FULL, Family.MONARCH2, TARGET, size=SMALL))
    return path


def upgrade(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, Any]]]:
    code = main(["upgrade", "--json", *argv])
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def transfer_bauds(events: list[dict[str, Any]], step: str = "send-image") -> list[int]:
    return [e["baud"] for e in events if e.get("type") == "transfer-started"
            and e["step"] == step]


def notes(events: list[dict[str, Any]]) -> list[str]:
    return [e["text"] for e in events if e.get("type") == "note"]


def test_from_the_application_rtscts_goes_on_and_the_image_goes_at_921600(
        gm02: Any, image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    modem = gm02()
    code, events = upgrade(capsys, "--port", modem.url, str(image))
    assert code == 0, notes(events)
    assert transfer_bauds(events) == [921600]
    assert any(text.startswith("RTS/CTS on: Monarch 2") for text in notes(events))
    assert modem.sim.wire.host_rtscts and modem.sim.modem.overrun_bytes == 0
    assert modem.sim.summary()["version"] == TARGET and events[-1]["after"]["software_build"] \
        == TARGET


def test_from_recovery_the_image_tells_the_family_and_rtscts_goes_on(
        gm02: Any, image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    modem = gm02("&version=59000&mode=recovery")
    code, events = upgrade(capsys, "--port", modem.url, str(image))
    assert code == 0, notes(events)
    assert events[-1]["before"]["family"] is None  # RECOVERY does not say what it is
    assert transfer_bauds(events) == [921600] and modem.sim.wire.host_rtscts
    assert modem.sim.summary()["version"] == TARGET


def test_from_the_boot_loader_mtools_at_115200_then_the_image_at_921600(
        gm02: Any, image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # An NDS32 ELF with a Monarch 2 version string stands in for mtools.elf (a Monarch 1
    # updater is refused: SQF-E114).
    tool = tmp_path / "mtools.elf"
    tool.write_bytes(make_updater_elf(Family.MONARCH2, 59577, 40_000, random.Random(1)))
    modem = gm02("&version=59000&mode=ffh")
    code, events = upgrade(capsys, "--port", modem.url, "--updater", str(tool), str(image))
    assert code == 0, notes(events)
    assert transfer_bauds(events, "send-updater") == [115200]
    assert transfer_bauds(events) == [921600]
    assert modem.sim.summary()["version"] == TARGET and modem.sim.modem.overrun_bytes == 0


def test_without_rtscts_the_line_stays_at_115200_and_says_why(
        gm02: Any, image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    modem = gm02()
    code, events = upgrade(capsys, "--port", modem.url, "--no-rtscts", str(image))
    assert code == 0, notes(events)
    assert transfer_bauds(events) == [115200] and not modem.sim.wire.host_rtscts
    assert any("stays at 115200 baud: without RTS/CTS" in text for text in notes(events))
    assert not any(c.startswith("AT+IPR=") for c in modem.sim.modem.received_commands)
    assert modem.sim.summary()["version"] == TARGET


def test_an_exact_baud_is_kept(gm02: Any, image: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    modem = gm02()
    code, events = upgrade(capsys, "--port", modem.url, "--baud", "115200", str(image))
    assert code == 0, notes(events)
    assert transfer_bauds(events) == [115200] and modem.sim.wire.host_rtscts
    assert not any(c.startswith("AT+IPR") for c in modem.sim.modem.received_commands)


def test_a_modem_that_lists_3686400_gets_it(gm02: Any, image: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    modem = gm02("&version=59000&variant=m2-3686400")
    code, events = upgrade(capsys, "--port", modem.url, str(image))
    assert code == 0, notes(events)
    assert transfer_bauds(events) == [3686400] and modem.sim.modem.overrun_bytes == 0


def test_unwired_flow_control_falls_back_to_115200_and_the_journal_remembers(
        gm02: Any, image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    modem = gm02("&version=59000&flow_control=unwired", imei="359000000000002")
    code, events = upgrade(capsys, "--port", modem.url, str(image))
    assert code == 0, notes(events)
    bauds = transfer_bauds(events)
    assert bauds[0] == 921600 and bauds[-1] == 115200, bauds
    assert modem.sim.modem.overrun_bytes > 0  # the faster tries really lost frames
    assert modem.sim.summary()["version"] == TARGET
    # The next run on the same modem does not try the rates that lost its frames again.
    again = gm02("&version=59000&flow_control=unwired", imei="359000000000002")
    code, events = upgrade(capsys, "--port", again.url, str(image))
    assert code == 0 and transfer_bauds(events) == [115200], notes(events)
    assert again.sim.modem.overrun_bytes == 0
    assert again.sim.summary()["version"] == TARGET


def test_a_monarch1_keeps_its_line_settings(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / default_name(ImageKind.FULL, Family.CATM1, 41019)
    image.write_bytes(make_image(ImageKind.FULL, Family.CATM1, 41019, size=SMALL))
    for flag, wanted in (([], False), (["--rtscts"], True)):
        name = f"m1line-{uuid.uuid4().hex}"
        try:
            code, events = upgrade(capsys, "--port", f"sim://{name}?clock=virtual",
                                   "--method", "on-the-fly", *flag, str(image))
            sim = named(name)
            assert code == 0 and sim is not None, notes(events)
            assert sim.wire.host_rtscts is wanted
            assert not any("RTS/CTS" in text for text in notes(events))
            assert transfer_bauds(events) == [3686400]
        finally:
            forget(name)


def test_a_modem_not_heard_with_rtscts_on_gets_it_off_again(
        gm02: Any, image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The adapter's CTS is not connected: with RTS/CTS on, nothing the host writes leaves it.
    modem = gm02("&version=59000&variant=flow-cts-low")
    code, events = upgrade(capsys, "--port", modem.url, str(image))
    assert code == 0, notes(events)
    assert any("answers only without RTS/CTS" in text for text in notes(events))
    assert transfer_bauds(events) == [115200] and not modem.sim.wire.host_rtscts
    assert modem.sim.modem.overrun_bytes == 0 and modem.sim.summary()["version"] == TARGET


def test_a_transfer_interrupted_at_921600_continues_there_with_rtscts(
        image: Path, tmp_path: Path) -> None:
    from sqnflash.errors import Interrupted
    from sqnflash.events import Event, TransferProgress, TransferStarted
    from sqnflash.firmware import load_image
    from sqnflash.modem import Modem
    from sqnflash.upgrade import Settings, upgrade
    from sqnflash.upgrade.journal import Journal

    name = f"m2held-{uuid.uuid4().hex}"
    url = f"sim://{name}?clock=virtual&family=monarch2&version=59000"
    firmware = load_image(image)
    settings = Settings(auto_baud=True)
    started: list[TransferStarted] = []

    def stop(event: Event) -> None:
        if isinstance(event, TransferProgress) and event.done >= SMALL // 2:
            raise KeyboardInterrupt

    def watch(event: Event) -> None:
        if isinstance(event, TransferStarted):
            started.append(event)

    try:
        with Journal.open(tmp_path / "j.db") as journal:
            with Modem.open(url, baud=115200, rtscts=None) as modem, \
                    pytest.raises(Interrupted):
                upgrade(modem, firmware, emit=stop, journal=journal, settings=settings)
            sim = named(name)
            assert sim is not None and sim.modem.wire.modem_baud == 921600
            # A new run opens the port without RTS/CTS; the modem answers no AT inside its
            # session, so the image tells the family and RTS/CTS goes on (unchecked) before the
            # session is probed with the pending block.
            with Modem.open(url, rtscts=None) as modem:
                upgrade(modem, firmware, emit=watch, journal=journal, settings=settings)
                assert modem.link.rtscts
        assert [event.baud for event in started] == [921600]
        assert sim.summary()["version"] == TARGET and sim.summary()["stp_sessions"] == 1
        assert sim.modem.overrun_bytes == 0
    finally:
        forget(name)
