"""Upgrading the modem of a Pycom board through the board, on sim:// with virtual time."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import serial

import sqnsupgrade
from sqnflash.board import BoardInfo, PycomBoard, RawRepl
from sqnflash.cli.main import main
from sqnflash.cli.render import json_sink
from sqnflash.errors import (
    BoardFirmwareTooOld,
    BoardUnreachable,
    BoardWithoutModem,
    Interrupted,
    ReplNotModem,
    UpdaterRequired,
)
from sqnflash.events import Event, Note, TransferProgress
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


# ---------------------------------------------------------------------- runs cut short



@pytest.fixture
def patches() -> Iterator[pytest.MonkeyPatch]:
    """Patches a test takes back itself (`patches.undo()`) without taking back the autouse
    fixtures' (the private journal above all)."""
    with pytest.MonkeyPatch.context() as patch:
        yield patch


class CtrlC:
    """The CLI's JSON sink, with a Ctrl-C arriving once `when(event)` is true: the
    KeyboardInterrupt surfaces where a real one would, inside whatever the run was waiting on.
    The simulated time from the interrupt to the command's end is measured on `sim`'s clock."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, sim: Any,
                 when: Callable[[Event], bool]) -> None:
        self.sim = sim
        self.when = when
        self.at: float | None = None
        monkeypatch.setattr("sqnflash.cli.upgrade_cmd.json_sink", self)
        monkeypatch.setattr("sqnflash.cli.recover_cmd.json_sink", self)

    def __call__(self, event: Event) -> None:
        json_sink(event)
        if self.at is None and self.when(event):
            self.at = self.sim.clock.now()
            raise KeyboardInterrupt

    def seconds_since(self) -> float:
        assert self.at is not None, "the run ended before the Ctrl-C"
        return float(self.sim.clock.now() - self.at)


def _third_sent(event: Event) -> bool:
    return isinstance(event, TransferProgress) and event.done * 3 >= event.total


def _json(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_ctrl_c_mid_transfer_through_the_board_exits_at_once_then_the_same_command_goes_on(
        images: Images, tmp_path: Path, patches: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The FFF store is cut (before the point of no return): the run ends the transfer session,
    so the modem is back in its application as before, and the board still bridges. The run
    must not wait long for it; the next run must find the bridge and go on."""
    url = (f"sim://cut-{uuid.uuid4().hex}?clock=virtual&board=fipy&release=1.20.2.r4"
           f"&version={FROM}")
    sim = serial.serial_for_url(url).sim
    args = ["upgrade", "--board", "pycom", "--port", url, str(images.diff), "--json",
            "--journal", str(tmp_path / "journal.db")]
    ctrl_c = CtrlC(patches, sim, _third_sent)
    assert main(args) == Interrupted.exit_code == 130
    assert ctrl_c.seconds_since() < 5.0  # it was 90 s (a wait for a modem inside STP)
    error = _json(capsys.readouterr().out)[-1]
    assert error["code"] == "SQF-E901"
    assert "still bridges" in error["modem_state"]
    assert "run the same command again" in error["modem_state"]
    assert "power-cycle the board" in error["modem_state"]
    assert "unchanged" in error["modem_state"]
    assert sim.board.mirror and sim.summary()["version"] == FROM

    # info reads the modem through the bridge the first run left: back in its application.
    assert main(["info", "--board", "pycom", "--port", url, "--json"]) == 0
    found = _json(capsys.readouterr().out)[-1]
    assert found["board"]["bridging"] is True
    assert found["mode"] == "application" and found["software_build"] == FROM

    patches.undo()
    assert main(args) == 0
    lines = _json(capsys.readouterr().out)
    assert lines[-1]["type"] == "result" and lines[-1]["after"]["software_build"] == TO
    assert sim.board.calls == ["uart()"]  # the bridge of the first run carried both
    assert sim.summary()["version"] == TO


def test_a_board_found_bridging_is_read_and_planned_through_its_bridge(
        images: Images, capsys: pytest.CaptureFixture[str]) -> None:
    url = (f"sim://bridging-{uuid.uuid4().hex}?clock=virtual&board=gpy&release=1.20.2.r4"
           f"&version={FROM}")
    open_through_board(serial.serial_for_url(url, baudrate=115200)).modem.close()
    assert main(["info", "--board", "pycom", "--port", url, "--json"]) == 0
    result = _json(capsys.readouterr().out)[-1]
    assert result["software_build"] == FROM and result["board"]["bridging"] is True
    assert main(["upgrade", "--board", "pycom", "--dry-run", "--port", url,
                 str(images.diff), "--json"]) == 0
    plan = _json(capsys.readouterr().out)[-1]
    assert any("already bridges" in note for note in plan["plan"]["notes"])
    assert main(["plan", "--board", "pycom", "--port", url, str(images.diff), "--json"]) == 0
    plan = _json(capsys.readouterr().out)[-1]
    assert plan["plan"]["steps"][1]["id"] == "store-image"
    assert any("already bridges" in note for note in plan["plan"]["notes"])
    assert main(["info", "--board", "pycom", "--port", url]) == 0
    assert "bridging its USB port" in capsys.readouterr().out


def test_recover_through_a_board_left_bridging_mid_image(
        images: Images, tmp_path: Path, patches: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """ON_THE_FLY cut in the middle of the image: the modem is in RECOVERY, inside the session,
    behind a board that bridges. `recover --board pycom IMAGE` ends the session and rewrites."""
    url = (f"sim://otf-{uuid.uuid4().hex}?clock=virtual&board=fipy&release=1.20.2.r4"
           f"&version={FROM}")
    sim = serial.serial_for_url(url).sim
    ctrl_c = CtrlC(patches, sim, _third_sent)
    assert main(["upgrade", "--board", "pycom", "--port", url, str(images.small_full),
                 "--method", "on-the-fly", "--json",
                 "--journal", str(tmp_path / "journal.db")]) == 130
    assert ctrl_c.seconds_since() < 5.0
    assert "still bridges" in _json(capsys.readouterr().out)[-1]["modem_state"]
    assert sim.summary()["mode"] == "RECOVERY" and sim.board.mirror
    patches.undo()
    recover = ["recover", "--board", "pycom", "--port", url, str(images.small_full), "--json",
               "--journal", str(tmp_path / "journal.db")]
    # recover cut short in its turn: as quick, and it says the same.
    ctrl_c = CtrlC(patches, sim, _third_sent)
    assert main(recover) == 130
    assert ctrl_c.seconds_since() < 5.0
    assert "still bridges" in _json(capsys.readouterr().out)[-1]["modem_state"]
    patches.undo()
    assert main(recover) == 0
    result = _json(capsys.readouterr().out)[-1]
    assert result["after"]["mode"] == "application" and result["reflashed"]
    assert sim.summary()["version"] == TO and sim.summary()["mode"] == "FFF"


def test_info_on_a_boards_port_without_board_says_to_add_it(
        capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sim://repl-{uuid.uuid4().hex}?clock=virtual&board=fipy&release=1.20.2.r4"
    assert main(["info", "--port", url, "--json"]) == ReplNotModem.exit_code == 57
    error = _json(capsys.readouterr().out)[-1]
    assert error["code"] == "SQF-E608" and "MicroPython REPL" in error["cause"]
    assert "<stdin>" in error["cause"] and "\\x" not in error["cause"]  # what it said, no garbage
    assert "--board pycom" in error["advice"] and "ESP32" in error["advice"]
    sim = serial.serial_for_url(url).sim
    assert sim.modem.received_commands == []  # nothing reached the modem


def test_upgrade_on_a_boards_port_without_board_stops_before_feeding_it_stp(
        images: Images, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Binary STP frames typed into a REPL would put it into raw mode (0x01) or run (0x04)."""
    url = f"sim://repl-{uuid.uuid4().hex}?clock=virtual&board=gpy&release=1.20.2.r4"
    assert main(["upgrade", "--port", url, str(images.diff), "--journal",
                 str(tmp_path / "journal.db")]) == 57
    out = capsys.readouterr()
    assert "--board pycom" in " ".join((out.out + out.err).split())
    port = serial.serial_for_url(url, baudrate=115200, timeout=1.0)
    port.write(b"\r")
    assert bytes(port.read(64)).endswith(b">>> ")  # still at its friendly prompt
    assert all(code.endswith("AT") for code in port.sim.board.executed)  # only ever "AT"


def test_sqnsupgrade_through_a_board_cut_short_then_run_again(
        images: Images, patches: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Pycom's API, `board='pycom'`: the same as the CLI, without a journal (the interrupted
    session is ended and the store starts over)."""
    url = (f"sim://drop-in-{uuid.uuid4().hex}?clock=virtual&board=gpy&release=1.20.2.r4"
           f"&version={FROM}")
    sim = serial.serial_for_url(url).sim
    shown = sqnsupgrade._Printer.__call__
    cut: list[float] = []

    def printer(self: Any, event: Event) -> None:
        shown(self, event)
        if not cut and _third_sent(event):
            cut.append(sim.clock.now())
            raise KeyboardInterrupt

    patches.setattr(sqnsupgrade._Printer, "__call__", printer)
    assert sqnsupgrade.run(url, str(images.diff), board="pycom") is False
    assert sim.clock.now() - cut[0] < 5.0
    out = " ".join(capsys.readouterr().out.split())
    assert "SQF-E901" in out and "still bridges" in out and "power-cycle the board" in out
    # The run ended its transfer session: the modem answers through the bridge, as before.
    assert sqnsupgrade.state(url, board="pycom") == 2
    capsys.readouterr()
    patches.undo()
    assert sqnsupgrade.run(url, str(images.diff), board="pycom") is True
    assert "successfully updated" in capsys.readouterr().out
    assert sqnsupgrade.state(url, board="pycom") == 2  # read through the bridge
    assert sim.board.calls == ["uart()"] and sim.summary()["version"] == TO


def test_ctrl_c_while_the_board_starts_its_bridge_lets_it_finish(
        images: Images, patches: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = (f"sim://starting-{uuid.uuid4().hex}?clock=virtual&board=fipy&release=1.20.2.r4"
           f"&version={FROM}")
    sim = serial.serial_for_url(url).sim
    ctrl_c = CtrlC(patches, sim, lambda e: isinstance(e, Note)
                   and e.text.startswith("board: ") and "Welcome" in e.text)
    args = ["upgrade", "--board", "pycom", "--port", url, str(images.diff), "--json"]
    assert main(args) == 130
    assert ctrl_c.seconds_since() < 5.0
    error = _json(capsys.readouterr().out)[-1]
    assert "uart() goes on without sqnflash" in error["modem_state"]
    assert "still bridges" in error["modem_state"]
    patches.undo()
    # The next run hears the board's uart() still at work and waits for its bridge: a Ctrl-C
    # from it would cut what the board does to the modem.
    assert main(args) == 0
    lines = _json(capsys.readouterr().out)
    assert lines[-1]["after"]["software_build"] == TO
    assert any("still runs sqnsupgrade.uart()" in line["text"]
               for line in lines if line["type"] == "note")
    assert sim.board.calls == ["uart()"]
    assert not any("KeyboardInterrupt" in line["text"] for line in lines if line["type"] == "note")


def test_ctrl_c_while_the_board_writes_the_bootrom_does_not_cut_it_next_time(
        images: Images, patches: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """uart(True) on a factory modem: Ctrl-C while the board sends its bootrom copy, which it
    does silently. The next run must not send the Ctrl-C that would stop the board mid-bootrom."""
    url = (f"sim://bootrom-{uuid.uuid4().hex}?clock=virtual&board=gpy&release=1.20.2.r4"
           f"&old_bootrom=1")
    sim = serial.serial_for_url(url).sim
    ctrl_c = CtrlC(patches, sim, lambda e: isinstance(e, Note)
                   and e.text.startswith("board: Session opened"))
    args = ["upgrade", "--board", "pycom", "--port", url, str(images.full), "--updater",
            str(images.updater), "--json"]
    assert main(args) == 130
    assert ctrl_c.seconds_since() < 5.0
    assert "writing the modem's bootrom" in _json(capsys.readouterr().out)[-1]["modem_state"]
    patches.undo()
    assert main(args) == 0
    assert _json(capsys.readouterr().out)[-1]["after"]["software_build"] == TO
    assert sim.board.calls == ["uart(True)"] and sim.board.summary()["bootrom_sent"] == 55_570
    assert sim.summary()["bootrom"] == 41065


def test_a_port_where_neither_a_board_nor_a_bridge_answers_is_named_so(
        capsys: pytest.CaptureFixture[str]) -> None:
    # A modem in its boot loader at 115200 on the port itself: no REPL, and nothing at 921600.
    url = "sim://?clock=virtual&mode=ffh"
    assert main(["recover", "--board", "pycom", "--port", url, "--json"]) == \
        BoardUnreachable.exit_code
    lines = _json(capsys.readouterr().out)
    assert lines[-1]["code"] == "SQF-E609" and "no MicroPython raw REPL" in lines[-1]["cause"]
    assert LEAVE_BRIDGE not in [line.get("text") for line in lines]  # no bridge to leave
