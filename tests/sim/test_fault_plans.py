"""The simulator faults this issue added, seen from the wire, and how to ask for them."""

from __future__ import annotations

import pytest
import serial

from sqnflash.cli.main import main
from sqnflash.sim.faults import FAULTS, FaultPlan
from sqnflash.sim.images import ImageKind
from tests.support import host
from tests.support.host import OpenPort
from tests.support.pty import StartSim, needs_pty

FAST = "reboot_s=0.3&apply_s=1"


def test_a_noisy_line_damages_only_above_its_rate() -> None:
    plan = FaultPlan(seed=1, flip_rate=0.5, noisy_above=460800)
    data = bytes(1000)
    assert plan.inbound_stp(data, 0, 460800) == data
    assert plan.inbound_stp(data, 0, 921600) != data


def test_power_loss_after_a_command_comes_back_where_the_boot_choice_says(
        open_port: OpenPort) -> None:
    port = open_port(f"fault_power_loss_after=AT+SMSWBOOT=3&{FAST}")
    assert host.command(port, "AT+SMSWBOOT=3,1") == b"\r\nOK\r\n"  # answered, then the power went
    assert b"+SHUTDOWN" in host.read_until(port, b"+SHUTDOWN\r\n")  # the reboot it had started...
    host.read_for(port, 1.0)
    assert port.sim.modem.faults.injected == ["power loss after AT+SMSWBOOT=3,1"]
    assert host.command(port, "AT+SMOD?") == b"\r\n4\r\nOK\r\n"  # ...lands in RECOVERY all the same


def test_a_reset_after_a_command_announces_itself(open_port: OpenPort) -> None:
    port = open_port(f"fault_reboot_after=ATI1&{FAST}")
    assert b"UE5.0.0.0d" in host.command(port, "ATI1")
    assert b"+SHUTDOWN" in host.read_until(port, b"+SHUTDOWN\r\n")
    assert b"+SYSSTART" in host.read_until(port, b"+SYSSTART\r\n")
    assert b"UE5.0.0.0d" in host.command(port, "ATI1")  # once only


def test_a_cut_short_updater_does_not_start(open_port: OpenPort) -> None:
    """The boot loader checks the ELF it received reaches the end of its header tables."""
    port = open_port("mode=ffh&updater_load_s=0.3", baudrate=115200)
    elf = host.image(ImageKind.UPDATER, size=60_000)
    assert host.command(port, "AT+STP", "\n") == b"OK\r\n"
    assert host.upload(port, elf[:30_000]).done
    host.read_for(port, 1.0)
    assert host.command(port, "AT+SMOD?") == b"0\r\nOK\r\n"
    assert host.command(port, "AT+STP", "\n") == b"OK\r\n"
    assert host.upload(port, elf).done
    host.read_for(port, 1.0)
    assert host.command(port, "AT+SMOD?") == b"\r\n3\r\nOK\r\n"


def test_the_new_faults_are_listed_and_refused_when_malformed(
        capsys: pytest.CaptureFixture[str], open_port: OpenPort) -> None:
    assert {"noisy_above", "power_loss_after", "reboot_after"} <= set(FAULTS)
    assert main(["sim", "faults"]) == 0
    out = capsys.readouterr().out
    assert "power_loss_after" in out and "noisy_above" in out
    for query in ("fault_power_loss_after=SMSWBOOT", "fault_noisy_above=fast"):
        try:
            open_port(query)
        except serial.SerialException as exc:
            assert query.split("=")[0][len("fault_"):] in str(exc)
        else:
            raise AssertionError(f"{query} was accepted")


@pytest.mark.slow
@needs_pty
def test_faults_reach_a_pty_simulator_as_typed(start_sim: StartSim) -> None:
    """`--fault` values keep their `+` (they are URL-encoded on the way to the simulator)."""
    sim = start_sim("--seed", "5", "--fault", "reboot_after=AT+CGSN", "--set", "reboot_s=0.2")
    with serial.Serial(str(sim.link), 921600, timeout=1.0) as port:
        assert b"354346090000009" in host.command(port, "AT+CGSN")
        assert b"+SHUTDOWN" in host.read_until(port, b"+SHUTDOWN\r\n")
        assert b"+SYSSTART" in host.read_until(port, b"+SYSSTART\r\n")
    assert sim.stop()["mode"] == "FFF"
