"""RTS/CTS on an open link: chosen by the modem's family unless the user chose, switched the way
pyserial documents (`rtscts` set while open), traced; a bridge keeps its own line."""

from __future__ import annotations

import io
from pathlib import Path

import serial

from sqnflash.link import WireTrace, open_link
from sqnflash.modem import Modem
from sqnflash.modem.flow import held_at_rate
from sqnflash.timing import REAL_CLOCK

M2 = "sim://?clock=virtual&family=monarch2"


def test_auto_turns_rtscts_on_for_a_monarch2_traced(tmp_path: Path) -> None:
    trace = io.StringIO()
    link = open_link(M2, baud=115200, rtscts=None, tracer=WireTrace(trace, REAL_CLOCK),
                     lock_dir=tmp_path)
    with link:
        assert not link.rtscts
        said = link.flow_control_for("Monarch 2")
        assert said is not None and said.startswith("RTS/CTS on: Monarch 2")
        assert link.rtscts and link.port.rtscts
        assert link.port.sim.wire.host_rtscts  # the other end sees it at once
        assert link.flow_control_for("Monarch 2") is None  # said once
    assert "RTS/CTS on: Monarch 2" in trace.getvalue()


def test_auto_leaves_a_monarch1_without_rtscts_and_turns_it_off(tmp_path: Path) -> None:
    with open_link(M2, baud=115200, rtscts=None, lock_dir=tmp_path) as link:
        assert link.flow_control_for("Monarch 1") is None and not link.rtscts
        link.flow_control_for("Monarch 2")
        assert link.flow_control_for("Monarch 1") == "RTS/CTS off: Monarch 1 (--rtscts keeps it on)"
        assert not link.rtscts and link.flow_control_for(None) is None


def test_an_explicit_choice_wins(tmp_path: Path) -> None:
    with open_link(M2, baud=115200, rtscts=False, lock_dir=tmp_path) as link:
        assert link.flow_control_for("Monarch 2") is None and not link.rtscts
    with open_link(M2, baud=115200, rtscts=True, lock_dir=tmp_path) as link:
        assert link.flow_control_for("Monarch 1") is None and link.rtscts


def test_a_bridge_keeps_its_line_settings() -> None:
    port = serial.serial_for_url(M2, baudrate=921600)
    modem = Modem(open_link(port, rtscts=None), fixed_baud=921600)
    modem.use_flow_control_of("Monarch 2")
    assert not modem.link.rtscts
    port.close()


def test_a_monarch2_line_is_held_at_115200_without_rtscts(tmp_path: Path) -> None:
    with open_link(M2, baud=115200, rtscts=False, lock_dir=tmp_path) as link:
        why = held_at_rate(link.baud, link.rtscts, monarch2=True)
        assert why is not None and "without RTS/CTS" in why and "115200" in why
        assert held_at_rate(link.baud, link.rtscts, monarch2=False) is None
        link.set_rtscts(True, "test")
        assert held_at_rate(link.baud, link.rtscts, monarch2=True) is None


def test_rtscts_stays_on_for_a_modem_silent_either_way(tmp_path: Path) -> None:
    # At a rate the modem does not talk at it is silent with or without RTS/CTS (a reboot looks
    # the same): nothing points at the wiring, so flow control stays as the family wants it.
    with Modem.open(f"{M2}&host_baud=921600", baud=921600, rtscts=None) as modem:
        modem.use_flow_control_of("Monarch 2")
        assert modem.link.rtscts and modem.link.flow_control_auto
