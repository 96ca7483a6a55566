"""The driver against modems that frame their replies differently from our simulator.

docs/protocol.md leaves the reply framing open (leading blank line or not, CRLF or bare LF, echo),
so a scripted port answers with each variant and the driver must read the same facts from all of
them.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sqnflash.modem import Modem
from sqnflash.protocol.modes import Mode
from tests.support.ports import ScriptedPort, per_line

SHOWVER = [
    "SYSTEM VERSION", "==============", "  FIRMWARE VERSION",
    "    Bootloader0* : 5.1.1.0 [33080]", "    Bootloader1  : NA", "    Bootloader2  : NA",
    "    NV Info      : 1.1,0,0",
    "    Software     : 5.1.1.0 [33080] by robot-soft at 2017-10-27 07:49:11",
    "    UE           : Unknown", "  COMPONENTS", "    ZSP0         : 1.0.98-12323",
]
ANSWERS = {
    "AT": [],
    "AT+SMOD?": ["2"],
    'AT!="showver"': SHOWVER,
    "ATI1": ["UE5.0.0.0d", "LR5.1.1.0-33080"],
    "AT+CGSN": ["354346091234567"],
}


def crlf_leading(command: str, lines: list[str]) -> bytes:
    body = "".join(f"{line}\r\n" for line in lines)
    return (f"\r\n{body}\r\nOK\r\n" if lines else "\r\nOK\r\n").encode()


def bare_lf(command: str, lines: list[str]) -> bytes:
    return "".join(f"{line}\n" for line in [*lines, "OK"]).encode()


def echo_and_crlf(command: str, lines: list[str]) -> bytes:
    return f"{command}\r".encode() + crlf_leading(command, lines)


def no_blank_line(command: str, lines: list[str]) -> bytes:
    return "".join(f"{line}\r\n" for line in [*lines, "OK"]).encode()


def urc_inside(command: str, lines: list[str]) -> bytes:
    body = [*lines[:1], "+CEREG: 2", *lines[1:]] if lines else ["+SYSSTART"]
    return crlf_leading(command, body)


def named_smod(command: str, lines: list[str]) -> bytes:
    if command == "AT+SMOD?":
        return crlf_leading(command, ["+SMOD: 2"])
    return crlf_leading(command, lines)


@pytest.mark.parametrize("frame", [crlf_leading, bare_lf, echo_and_crlf, no_blank_line,
                                   urc_inside, named_smod])
def test_info_reads_the_same_facts_from_every_framing(
        frame: Callable[[str, list[str]], bytes]) -> None:
    port = ScriptedPort(per_line(lambda line: frame(line, ANSWERS.get(line, ["?"]))),
                        timeout=0.1)
    modem = Modem.open(port)
    assert modem.wake(timeout_s=1.0) == 921600
    info = modem.info()
    assert info.mode == Mode.APPLICATION
    assert info.software_build == 33080 and info.bootrom_build == 33080 and info.old_bootrom
    assert info.lr_version == "5.1.1.0" and info.family == "CAT-M1"
    assert info.imei == "354346091234567"
