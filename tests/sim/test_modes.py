"""Boot modes, reboots, baud rates and command sets of the simulated modem, over sim://."""

from __future__ import annotations

import pytest

from tests.support import host
from tests.support.host import OpenPort


def test_application_answers_at_and_smod(open_port: OpenPort) -> None:
    port = open_port()
    assert host.command(port, "AT") == b"\r\nOK\r\n"
    assert host.command(port, "AT+SMOD?") == b"\r\n2\r\nOK\r\n"  # as captured on a GPy
    assert host.command(port, "AT+SMSWBOOT?") == b"\r\n+SMSWBOOT: FFF\r\n\r\nOK\r\n"
    assert host.lines_of(host.command(port, "AT+CGSN")) == ["354346090000009", "OK"]


def test_commands_are_accepted_with_cr_lf_or_crlf(open_port: OpenPort) -> None:
    port = open_port()
    for terminator in ("\r", "\n", "\r\n"):
        assert host.command(port, "AT+SMOD?", terminator) == b"\r\n2\r\nOK\r\n"


def test_recovery_switch_reboots_silently_and_ignores_bytes_meanwhile(
        open_port: OpenPort) -> None:
    port = open_port("reboot_s=1.0")
    assert host.command(port, "AT+SMSWBOOT=3,1") == b"\r\nOK\r\n"
    assert host.read_until(port, b"+SHUTDOWN\r\n") == b"\r\n+SHUTDOWN\r\n"
    host.read_for(port, 0.2)  # the NUL of the UART going down
    # Half-way through the reboot: a command that would bring the application back is not heard.
    port.write(b"AT+SMSWBOOT=1,1\r\n")
    assert host.read_for(port, 0.3) == b""
    # Recovery boots without +SYSSTART.
    assert host.read_for(port, 1.5) == b""
    assert host.command(port, "AT+SMOD?") == b"\r\n4\r\nOK\r\n"
    assert "RECOVERY" in host.command(port, "AT+SMSWBOOT?").decode()


def test_back_to_application_announces_sysstart(open_port: OpenPort) -> None:
    port = open_port("mode=recovery&reboot_s=0.5")
    start = port.sim_clock.now()
    assert host.command(port, "AT+SMSWBOOT=1,1") == b"\r\nOK\r\n"
    after = host.read_until(port, b"+SYSSTART\r\n")
    assert after.replace(b"\x00", b"") == b"\r\n+SHUTDOWN\r\n\r\n+SYSSTART\r\n"
    assert port.sim_clock.now() - start >= 0.5  # the reboot took its time
    assert host.command(port, "AT+SMOD?") == b"\r\n2\r\nOK\r\n"


def test_at_reset_shuts_down_then_starts(open_port: OpenPort) -> None:
    port = open_port("reboot_s=0.5")
    assert host.command(port, "AT^RESET") == b"\r\nOK\r\n"
    assert host.read_until(port, b"+SHUTDOWN\r\n") == b"\r\n+SHUTDOWN\r\n"
    silent = host.read_for(port, 0.4)
    assert silent.replace(b"\x00", b"") == b""
    assert host.read_until(port, b"+SYSSTART\r\n").replace(b"\x00", b"") == b"\r\n+SYSSTART\r\n"
    assert host.command(port, "AT") == b"\r\nOK\r\n"


def test_ffh_comes_up_at_115200_and_speaks_without_leading_crlf(open_port: OpenPort) -> None:
    port = open_port("reboot_s=0.5")
    assert host.command(port, "AT+SMSWBOOT=0,1") == b"\r\nOK\r\n"
    host.read_for(port, 1.0)
    # Still at 921600: the boot loader hears garbage and says nothing useful.
    assert host.heard_only_at(port, 115200) == b"OK\r\n"
    assert host.command(port, "AT+SMOD?") == b"0\r\nOK\r\n"


def test_ffh_ipr_answers_at_the_old_rate_then_switches(open_port: OpenPort) -> None:
    port = open_port("mode=ffh", baudrate=115200)
    assert host.command(port, "AT+IPR=921600", "\n") == b"OK\r\n"  # readable at 115200
    assert host.heard_only_at(port, 921600) == b"OK\r\n"  # the modem is at 921600 now
    assert host.command(port, "AT+SMOD?") == b"0\r\nOK\r\n"


def test_ffh_rejects_bad_ipr(open_port: OpenPort) -> None:
    port = open_port("mode=ffh", baudrate=115200)
    assert host.command(port, "AT+IPR=12345", "\n").endswith(b"ERROR\r\n")
    assert host.command(port, "AT") == b"OK\r\n"  # still at 115200


def test_host_at_the_wrong_rate_hears_garbage(open_port: OpenPort) -> None:
    port = open_port("reboot_s=0.5")
    assert host.command(port, "AT^RESET") == b"\r\nOK\r\n"
    host.read_until(port, b"+SHUTDOWN\r\n")
    port.baudrate = 115200  # +SYSSTART leaves the modem at 921600
    heard = host.read_for(port, 1.0).replace(b"\x00", b"")
    assert heard, "a URC at another rate is garbage, not silence"
    assert b"SYSSTART" not in heard
    assert all(byte >= 0x80 for byte in heard)
    assert b"\r" not in heard and b"\n" not in heard


UNKNOWN_IN = {
    "ffh": ["AT+CGSN", "ATE0", "AT+SMSWBOOT?", "AT^RESET", 'AT+SMSTPU="ON_THE_FLY"'],
    "recovery": ["AT+CGSN", "ATI1", 'AT!="showver"', "AT+STP"],
    "updater": ["AT+CGSN", 'AT+SQNSUPGRADENTF="started"'],
    "app": ["AT+STP", "AT+NOSUCH"],
}


@pytest.mark.parametrize(("mode", "text"),
                         [(mode, text) for mode, texts in UNKNOWN_IN.items() for text in texts])
def test_each_mode_rejects_what_it_does_not_know(
        open_port: OpenPort, mode: str, text: str) -> None:
    # The boot loader runs at 115200 and answers without a leading CRLF.
    ffh = mode == "ffh"
    port = open_port(f"mode={mode}", baudrate=115200 if ffh else 921600)
    assert host.command(port, text) == (b"ERROR\r\n" if ffh else b"\r\nERROR\r\n")


@pytest.mark.parametrize(
    ("mode", "text", "expected"),
    [
        ("recovery", "AT+SMOD?", b"\r\n4\r\nOK\r\n"),
        ("recovery", "ATE0", b"\r\nOK\r\n"),
        ("recovery", "AT+SMLOG?", b"\r\n+SMLOG: LOG_INHERIT\r\nOK\r\n"),
        ("recovery", "AT+SMUPGRADE?", b"\r\n+SMUPGRADE: No report\r\n\r\nOK\r\n"),
        ("updater", "AT+SMOD?", b"\r\n3\r\nOK\r\n"),
        ("updater", "AT+SMSWBOOT?", b"\r\n+SMSWBOOT: FFH\r\n\r\nOK\r\n"),  # loaded by FFH
        ("app", "AT+BIND=AT", b"\r\nOK\r\n"),
        ("app", "AT+CFUN=4", b"\r\nOK\r\n"),
        ("app", "AT+SQNSUPGRADENTF=\"started\"", b"\r\nOK\r\n"),
        ("app", 'AT+FSRDFILE="/fs/crashdump"', b"\r\n\r\nERROR\r\n"),
        ("app", "ATI1", b"\r\nUE5.0.0.0d\r\nLR5.1.1.0-38638\r\n\r\nOK\r\n"),
    ],
)
def test_each_mode_answers_what_it_knows(
        open_port: OpenPort, mode: str, text: str, expected: bytes) -> None:
    port = open_port(f"mode={mode}")
    assert host.command(port, text) == expected


def test_echo_follows_ate(open_port: OpenPort) -> None:
    port = open_port("echo=1")
    assert host.command(port, "AT") == b"AT\r\r\nOK\r\n"
    assert host.command(port, "ATE0") == b"ATE0\r\r\nOK\r\n"
    assert host.command(port, "AT") == b"\r\nOK\r\n"


def test_updater_never_echoes_even_when_the_application_did(open_port: OpenPort) -> None:
    port = open_port("echo=1&reboot_s=0.2")
    assert host.command(port, "AT+SMSWBOOT=3,1").startswith(b"AT+SMSWBOOT=3,1\r")
    host.read_for(port, 0.5)
    assert host.command(port, "AT") == b"\r\nOK\r\n"


def test_recovery_selection_survives_a_reset(open_port: OpenPort) -> None:
    port = open_port("mode=recovery&reboot_s=0.2")
    assert host.command(port, "AT^RESET") == b"\r\nOK\r\n"
    assert host.read_for(port, 0.5).replace(b"\x00", b"") == b"\r\n+SHUTDOWN\r\n"
    assert host.command(port, "AT+SMOD?") == b"\r\n4\r\nOK\r\n"


def test_smswboot_without_reboot_only_selects(open_port: OpenPort) -> None:
    port = open_port("reboot_s=0.2")
    assert host.command(port, "AT+SMSWBOOT=3,0") == b"\r\nOK\r\n"
    assert host.read_for(port, 0.5) == b""
    assert host.command(port, "AT+SMOD?") == b"\r\n2\r\nOK\r\n"
    assert "RECOVERY" in host.command(port, "AT+SMSWBOOT?").decode()
    host.command(port, "AT^RESET")
    host.read_for(port, 0.5)
    assert host.command(port, "AT+SMOD?") == b"\r\n4\r\nOK\r\n"


def test_unknown_boot_mode_is_an_error(open_port: OpenPort) -> None:
    port = open_port()
    assert host.command(port, "AT+SMSWBOOT=7,1") == b"\r\nERROR\r\n"
    assert host.command(port, "AT+SMOD?") == b"\r\n2\r\nOK\r\n"


def test_data_mode_answers_only_after_the_escape(open_port: OpenPort) -> None:
    port = open_port("data_mode=1")
    port.write(b"AT\r\n")
    assert host.read_for(port, 1.5) == b""
    port.write(b"+++")
    assert host.read_for(port, 1.5) == b"\r\nOK\r\n"
    assert host.command(port, "AT") == b"\r\nOK\r\n"


def test_named_simulator_is_the_same_modem_when_reopened(
        open_port: OpenPort, unique_name: str) -> None:
    first = open_port("reboot_s=0.2", name=unique_name)
    host.command(first, "AT+SMSWBOOT=3,1")
    host.read_for(first, 0.5)
    first.close()
    again = open_port(name=unique_name)
    assert host.command(again, "AT+SMOD?") == b"\r\n4\r\nOK\r\n"
