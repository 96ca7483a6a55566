"""Upgrading the modem of a Pycom board through the board, on sim:// with virtual time."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import serial

from sqnflash.board import BoardInfo, PycomBoard, RawRepl
from sqnflash.cli.main import main
from sqnflash.errors import BoardFirmwareTooOld, BoardWithoutModem, UpdaterRequired
from sqnflash.events import Event, Note
from sqnflash.firmware import load_image, load_updater
from sqnflash.link import open_link
from sqnflash.sim.board import BoardSimulator
from sqnflash.upgrade import Flow, plan_for, upgrade
from sqnflash.upgrade.bridge import LEAVE_BRIDGE, open_through_board
from tests.support.cli import json_lines
from tests.support.images import FROM, TO, Images


class BoardRun:
    def __init__(self, settings: str) -> None:
        self.url = f"sim://?clock=virtual&{settings}"
        self.port = serial.serial_for_url(self.url, baudrate=115200)
        self.sim: BoardSimulator = self.port.sim
        self.events: list[Event] = []

    def upgrade(self, image: Path, updater: Path | None = None) -> Any:
        image_file = load_image(image)
        updater_file = load_updater(updater) if updater else None
        session = open_through_board(
            self.port, emit=self.events.append,
            check=lambda before: plan_for(before, image_file, updater=updater_file))
        return upgrade(session.modem, image_file, updater=updater_file, emit=self.events.append)

    @property
    def modem(self) -> dict[str, Any]:
        return self.sim.summary()

    @property
    def board(self) -> dict[str, Any]:
        return self.sim.board.summary()

    def notes(self) -> list[str]:
        return [e.text for e in self.events if isinstance(e, Note)]


def test_a_fipy_with_uart_upgrades_its_38638_modem_through_the_bridge(images: Images) -> None:
    run = BoardRun(f"board=fipy&release=1.18.1.r4&version={FROM}")
    result = run.upgrade(images.small_full)
    assert (result.before.software_build, result.after.software_build) == (FROM, TO)
    assert run.modem["version"] == TO and run.modem["mode"] == "FFF"
    assert run.board["bridged"] and run.board["calls"] == ["uart()"]
    assert run.board["bootrom_sent"] == 0
    assert any("Going into MIRROR mode" in n for n in run.notes())


def test_an_old_bootrom_modem_gets_the_boards_bootrom_step_then_the_upgrade(
        images: Images) -> None:
    run = BoardRun("board=gpy&release=1.20.2.r4&old_bootrom=1")
    result = run.upgrade(images.full, images.updater)
    # The board flashed its own bootrom copy (41065 in 1.2.6) and left the modem in the boot
    # loader at 921600; sqnflash loaded the updater and wrote the image from there.
    assert run.board["calls"] == ["uart(True)"] and run.board["bootrom_sent"] == 55_570
    assert result.plan.flow == Flow.RESUME_FFH
    assert run.modem["bootrom"] == 41065
    assert run.modem["version"] == TO and run.modem["mode"] == "FFF"


def test_a_release_without_uart_is_refused_and_the_modem_hears_nothing(images: Images) -> None:
    run = BoardRun("board=fipy&release=1.10.0.b1&uploaded=script")
    with pytest.raises(BoardFirmwareTooOld) as caught:
        run.upgrade(images.small_full)
    error = caught.value
    assert "1.10.0.b1" in error.cause and "1.18.1" in error.cause
    assert "'module' object has no attribute 'uart'" in error.cause
    assert "Firmware Updater" in error.hint
    assert run.sim.modem.received_commands == []
    assert run.sim.modem.wire.bytes_to_modem == 0
    assert not run.board["bridged"] and run.board["calls"] == []


def test_a_board_whose_module_gives_up_on_factory_modems_is_refused_before_any_change(
        images: Images) -> None:
    run = BoardRun("board=fipy&release=1.18.1.r4&old_bootrom=1")
    with pytest.raises(BoardFirmwareTooOld, match=r"1\.18\.2"):
        run.upgrade(images.full, images.updater)
    assert run.modem["bootrom"] == 33080 and run.modem["mode"] == "FFF"
    assert not any(c.startswith("AT+SMSWBOOT") for c in run.sim.modem.received_commands)
    assert run.board["calls"] == []


def test_a_missing_updater_is_found_before_the_board_flashes_its_bootrom(images: Images) -> None:
    run = BoardRun("board=gpy&release=1.20.2.r4&old_bootrom=1")
    with pytest.raises(UpdaterRequired):
        run.upgrade(images.full)
    assert run.board["calls"] == [] and not run.board["bridged"]
    assert run.modem["bootrom"] == 33080
    # The REPL was left as the user had it: at the friendly prompt, still answering.
    run.port.timeout = 1.0
    run.port.reset_input_buffer()
    run.port.write(b"1\r")
    assert bytes(run.port.read(64)).endswith(b">>> ")


def test_a_board_left_bridging_by_an_earlier_run_is_used_as_it_is(images: Images) -> None:
    name = f"bridged-{uuid.uuid4().hex}"
    url = f"sim://{name}?clock=virtual&board=fipy&release=1.20.2.r4&version={FROM}"
    first = serial.serial_for_url(url, baudrate=115200)
    open_through_board(first).modem.close()  # the run stops right after the bridge started
    again = serial.serial_for_url(url, baudrate=115200)
    events: list[Event] = []
    session = open_through_board(again, emit=events.append)
    assert session.board is None and not session.bridged_now
    assert any("already bridges" in e.text for e in events if isinstance(e, Note))
    result = upgrade(session.modem, load_image(images.small_full))
    assert result.after.software_build == TO
    assert again.sim.board.summary()["calls"] == ["uart()"]


def test_a_board_without_a_modem_is_named() -> None:
    info = BoardInfo("/dev/ttyUSB0", "LoPy4", "1.20.2.r4", "LoPy4 with ESP32", "v1.11", None,
                     None, (), False)
    with pytest.raises(BoardWithoutModem, match="LoPy4"):
        PycomBoard.check_bridge(info)


def test_cli_upgrade_through_the_board_tells_how_to_leave_bridge_mode(
        images: Images, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sim://?clock=virtual&board=fipy&release=1.18.2&version={FROM}"
    code = main(["upgrade", "--board", "pycom", "--port", url, str(images.small_full), "--json"])
    lines = json_lines(capsys.readouterr().out)
    assert code == 0, lines[-1]
    assert lines[-1]["type"] == "result" and lines[-1]["after"]["software_build"] == TO
    notes = [line["text"] for line in lines if line["type"] == "note"]
    assert notes[-1] == LEAVE_BRIDGE


def test_cli_refuses_an_old_board_with_its_own_exit_code(
        images: Images, capsys: pytest.CaptureFixture[str]) -> None:
    url = "sim://?clock=virtual&board=fipy&release=1.10.0.b1"
    code = main(["upgrade", "--board", "pycom", "--port", url, str(images.small_full)])
    out = capsys.readouterr()
    assert code == BoardFirmwareTooOld.exit_code
    assert "SQF-E603" in out.out + out.err and "1.10.0.b1" in out.out + out.err


def test_cli_info_reads_board_and_modem_without_bridging(
        capsys: pytest.CaptureFixture[str]) -> None:
    name = f"info-{uuid.uuid4().hex}"
    url = f"sim://{name}?clock=virtual&board=gpy&release=1.20.2.r4&version={FROM}"
    assert main(["info", "--board", "pycom", "--port", url, "--json"]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert result["software_build"] == FROM and result["imei"] == "354346090000009"
    assert result["board"]["release"] == "1.20.2.r4" and result["board"]["sqnsupgrade"] == "1.2.6"
    sim = serial.serial_for_url(url).sim
    assert not sim.board.mirror and sim.board.calls == []


def test_a_quiet_statement_whose_whole_answer_arrives_in_one_read_completes() -> None:
    # Unpaced, the board's `OK`, both 0x04 and the prompt arrive together (as on a pty).
    port = serial.serial_for_url("sim://?clock=virtual&board=fipy&paced=0", baudrate=115200)
    raw = RawRepl(open_link(port, baud=115200))
    raw.enter()
    assert raw.run("x = 1\n").ok
    assert raw.run("print(x)\n").stdout == "1\n"


def test_cli_recover_through_the_board_brings_the_modem_back(
        capsys: pytest.CaptureFixture[str]) -> None:
    """A FiPy whose modem an interrupted upgrade left in RECOVERY: one command, through the
    board's bridge, and the modem runs its application again."""
    name = f"recover-{uuid.uuid4().hex}"
    url = f"sim://{name}?clock=virtual&board=fipy&release=1.20.2.r4&version={FROM}&mode=recovery"
    assert main(["recover", "--board", "pycom", "--port", url, "--json"]) == 0
    lines = json_lines(capsys.readouterr().out)
    assert lines[-1]["type"] == "result" and lines[-1]["after"]["mode"] == "application"
    assert [line["text"] for line in lines if line["type"] == "note"][-1] == LEAVE_BRIDGE
    sim = serial.serial_for_url(url).sim
    assert sim.summary()["mode"] == "FFF" and sim.board.mirror
