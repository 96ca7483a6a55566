"""The modem's parts seen through `Modem`: rates on a bridged line, stepping back after a rate
change the modem did not survive, boot waits that remember the wrong mode, where notes go."""

from __future__ import annotations

import pytest

from sqnflash.errors import BaudNegotiationFailed, ModeSwitchFailed
from sqnflash.events import Event, Note
from sqnflash.link import open_link
from sqnflash.modem import Modem
from sqnflash.protocol.modes import Mode
from tests.support.ports import ScriptedPort, per_line


def ok(*lines: str) -> bytes:
    return "".join(f"\r\n{line}" for line in lines).encode() + b"\r\n\r\nOK\r\n"


def notes(events: list[Event]) -> list[str]:
    return [e.text for e in events if isinstance(e, Note)]


def test_a_bridged_line_is_looked_at_only_at_its_rate_and_never_moved() -> None:
    port = ScriptedPort(per_line(lambda line: ok()), timeout=0.1)
    modem = Modem(open_link(port, baud=921600), fixed_baud=921600)
    assert modem.candidate_rates(115200, extended=True) == [921600]
    with pytest.raises(BaudNegotiationFailed) as caught:
        modem.negotiate_baud(3000000)
    assert caught.value.hint == "Run again without --baud."
    assert b"AT+IPR" not in port.sent and modem.link.baud == 921600


def test_a_modem_that_moved_alone_is_told_the_old_rate_at_the_new_one() -> None:
    modem_rate = [3000000]  # it took AT+IPR=3000000, the line there is too bad for a probe

    def answer(data: bytes) -> list[bytes]:
        if port.baudrate != modem_rate[0]:
            return []
        if data.startswith(b"AT+IPR="):
            modem_rate[0] = int(data[7:].strip())
        return [ok()]

    port = ScriptedPort(answer, timeout=0.1)
    modem = Modem(open_link(port, baud=921600))
    assert modem.step_back(921600, 3000000)
    assert b"AT+IPR=921600\n" in port.sent and modem.link.baud == 921600


def test_a_modem_seen_in_another_mode_then_silent_is_reported_in_that_mode() -> None:
    def answer(line: str) -> bytes:
        if port.sim_clock.now() > 3.0:  # answered in the application, then went away
            return b""
        return ok("+SMOD: 2") if line == "AT+SMOD?" else ok()

    port = ScriptedPort(per_line(answer), timeout=0.1)
    modem = Modem.open(port)
    with pytest.raises(ModeSwitchFailed) as caught:
        modem.wait_ready(Mode.UPDATER, timeout_s=30.0)
    assert "came back in" in caught.value.cause and Mode.APPLICATION.label in caught.value.cause
    assert modem.mode_seen == Mode.APPLICATION


def test_notes_go_to_the_operations_sink_for_its_length_then_back() -> None:
    port = ScriptedPort(per_line(lambda line: ok()), timeout=0.1)
    usual: list[Event] = []
    borrowed: list[Event] = []
    modem = Modem(open_link(port, baud=921600), emit=usual.append)
    with modem.reporting_to(borrowed.append):
        modem.negotiate_baud(460800)
    modem.note("after")
    assert notes(borrowed) == ["baud rate negotiated: 921600 -> 460800"]
    assert notes(usual) == ["after"]
