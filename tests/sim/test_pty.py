"""`sqnflash sim --pty`: the simulated modem on a pseudo-terminal, driven from another process."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import serial

from sqnflash.sim.images import ImageKind
from tests.support import host
from tests.support.pty import StartSim, needs_pty

pytestmark = [
    pytest.mark.slow,
    needs_pty,
]

QUICK = ["--set", "reboot_s=0.2", "--set", "apply_s=0.5", "--set", "updater_load_s=0.2"]


def test_pty_full_upgrade_with_the_fff_method(start_sim: StartSim) -> None:
    sim = start_sim(*QUICK)
    with serial.Serial(str(sim.link), 921600, timeout=0.5) as port:
        assert host.command(port, "AT") == b"\r\nOK\r\n"
        assert host.command(port, "AT+SMOD?") == b"\r\n2\r\nOK\r\n"
        showver = host.lines_of(host.command(port, 'AT!="showver"'))
        assert showver[:3] == ["SYSTEM VERSION", "==============", "FIRMWARE VERSION"]
        assert any(line.startswith("Software") and "[38638]" in line for line in showver)
        full = host.image(ImageKind.FULL, size=60_000)
        assert host.command(port, "AT+SMSTPU") == b"\r\nOK\r\n"
        sent = host.upload(port, full)
        assert sent.done and sent.offset == len(full)
        assert host.command(port, "AT+SMUPGRADE") == b"\r\nOK\r\n"
        assert host.poll_upgrade(port, every_s=0.1)[-1] == "success"
        host.read_until(port, b"+SYSSTART\r\n")
        assert host.lines_of(host.command(port, "ATI1"))[1] == f"LR5.1.1.0-{host.TO}"
    summary = sim.stop()
    assert len(sim.output) == 1, sim.output  # the summary is all it prints after READY
    assert summary["version"] == host.TO
    assert summary["upgrades_applied"] == 1
    assert summary["mode"] == "FFF" and summary["report"] == "success"
    assert not sim.link.exists()  # the link is removed on the way out


def test_pty_boot_loader_talks_at_115200(start_sim: StartSim) -> None:
    sim = start_sim("--mode", "ffh", *QUICK)
    with serial.Serial(str(sim.link), 921600, timeout=0.5) as port:
        assert host.heard_only_at(port, 115200) == b"OK\r\n"
        assert host.command(port, "AT+SMOD?") == b"0\r\nOK\r\n"
        assert host.command(port, "AT+IPR=921600", "\n") == b"OK\r\n"
        port.baudrate = 921600
        time.sleep(0.1)
        assert host.command(port, "AT+SMOD?") == b"0\r\nOK\r\n"
    summary = sim.stop()
    assert summary["mode"] == "FFH" and summary["baud"] == 921600


def test_pty_refuses_bad_settings(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sqnflash", "sim", "--pty", "--link", str(tmp_path / "x"),
         "--fault", "no_such_fault=1"],
        capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "no_such_fault" in result.stderr
    assert "READY" not in result.stdout
    assert not (tmp_path / "x").exists()


def test_pty_will_not_replace_a_file_with_its_link(tmp_path: Path) -> None:
    precious = tmp_path / "notes.txt"
    precious.write_text("keep me")
    result = subprocess.run(
        [sys.executable, "-m", "sqnflash", "sim", "--pty", "--link", str(precious)],
        capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "--link" in result.stderr and "READY" not in result.stdout
    assert precious.read_text() == "keep me"


def test_pty_variants_are_repeatable_and_checked(start_sim: StartSim, tmp_path: Path) -> None:
    sim = start_sim("--variant", "lf", "--variant", "smod-blank", *QUICK)
    with serial.Serial(str(sim.link), 921600, timeout=0.5) as port:
        port.write(b"AT+SMOD?\r\n")
        assert host.read_for(port, 0.5) == b"\n2\n\nOK\n"
    sim.stop()
    result = subprocess.run(
        [sys.executable, "-m", "sqnflash", "sim", "--pty", "--link", str(tmp_path / "y"),
         "--variant", "smod5"], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "unknown variant 'smod5'" in result.stderr
    assert "smod4" in result.stderr  # the known ones are named
