"""The drop-in `sqnsupgrade` module: Pycom's PC-side calls, answered by sqnflash."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import sqnsupgrade
from sqnflash.sim.images import Family, ImageKind, make_image
from tests.support.cli import json_lines
from tests.support.images import FROM, TO, Images
from tests.support.pty import StartSim, needs_pty

VIRTUAL = f"sim://?clock=virtual&version={FROM}"
QUICK = ["--set", "reboot_s=0.3", "--set", "apply_s=0.5", "--set", "updater_load_s=0.3"]


def test_run_upgrades_and_prints_like_pycoms_script(
        images: Images, capsys: pytest.CaptureFixture[str]) -> None:
    assert sqnsupgrade.run(VIRTUAL, str(images.small_full), str(images.updater)) is True
    out = capsys.readouterr().out
    assert out.startswith("<<< Welcome to the SQN3330 firmware updater")
    assert "updater.elf is not needed" in out  # Pycom: "... is not required"
    assert f"Sending {images.small_full.stat().st_size} bytes" in out and "100%" in out
    assert "Your modem has been successfully updated." in out
    assert f"LR5.1.1.0-{TO}" in out.splitlines()[-2]
    assert out.splitlines()[-1] == "IMEI: 354346090000009"


def test_run_prints_sqnflash_errors_instead_of_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "CATM1-41065.dup"
    assert sqnsupgrade.run(VIRTUAL, str(missing)) is False
    out = capsys.readouterr().out
    assert "SQF-E101" in out and "CATM1-41065.dup" in out
    assert "what to do:" in out and "Traceback" not in out


def test_queries_return_what_pycoms_functions_returned(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert sqnsupgrade.state(f"sim://?clock=virtual&mode=ffh&version={FROM}") == 0
    assert sqnsupgrade.state(VIRTUAL) == 2
    assert sqnsupgrade.imei(VIRTUAL) == "354346090000009"
    assert sqnsupgrade.imei(f"sim://?clock=virtual&mode=recovery&version={FROM}") is None
    sqnsupgrade.info(f"sim://?clock=virtual&mode=recovery&version={FROM}")
    assert "Your modem is in upgrade mode! Use firmware.dup" in capsys.readouterr().out
    sqnsupgrade.version(VIRTUAL)  # prints, returns nothing (as Pycom's did)
    assert capsys.readouterr().out.splitlines() == ["UE5.0.0.0d", f"LR5.1.1.0-{FROM}",
                                                    "IMEI: 354346090000009"]


def test_a_modem_that_never_answers_is_state_none_not_an_exception(
        capsys: pytest.CaptureFixture[str]) -> None:
    # At 1500000 baud, a rate sqnflash never tries, the modem hears only garbage: it is silent.
    assert sqnsupgrade.state("sim://?clock=virtual&app_baud=1500000") is None
    assert capsys.readouterr().out == ""
    assert sqnsupgrade.imei("sim://?clock=virtual&app_baud=1500000") is None
    assert "SQF-E301" in capsys.readouterr().out


def test_run_through_a_board_in_one_call(images: Images,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sim://?clock=virtual&board=fipy&release=1.20.2.r4&version={FROM}"
    assert sqnsupgrade.run(url, str(images.small_full), board="pycom") is True
    out = capsys.readouterr().out
    assert "board: Going into MIRROR mode" in out and "press its reset button" in out


# --------------------------------------------------------------------------- other processes


@pytest.mark.slow
@needs_pty
def test_pycoms_one_liner_works_against_the_pty_simulator(start_sim: StartSim,
                                                         tmp_path: Path) -> None:
    (tmp_path / "CATM1-41065.dup").write_bytes(
        make_image(ImageKind.FULL, Family.CATM1, 41065, size=120_000))
    (tmp_path / "updater.elf").write_bytes(
        make_image(ImageKind.UPDATER, Family.CATM1, 41065, size=60_000))
    sim = start_sim(*QUICK, "--version", str(FROM), cwd=tmp_path)
    device = sim.device
    try:
        script = f"import sqnsupgrade; sqnsupgrade.run({device!r}, 'CATM1-41065.dup', " \
                 "'updater.elf')"
        done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, text=True,
                              capture_output=True, timeout=120)
    finally:
        summary = sim.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Your modem has been successfully updated." in done.stdout, done.stdout
    assert "LR5.1.1.0-41065" in done.stdout
    assert summary["version"] == 41065 and summary["mode"] == "FFF"


@pytest.mark.slow
@needs_pty
def test_cli_upgrades_a_fipy_served_on_a_pty(start_sim: StartSim, tmp_path: Path) -> None:
    image = tmp_path / f"CATM1-{TO}.dup"
    image.write_bytes(make_image(ImageKind.FULL, Family.CATM1, TO, size=80_000))
    sim = start_sim(*QUICK, "--board", "fipy", "--release", "1.18.1.r4", "--version", str(FROM),
                    cwd=tmp_path)
    device = sim.device
    try:
        done = subprocess.run(
            [sys.executable, "-m", "sqnflash", "upgrade", "--board", "pycom", "--port", device,
             str(image), "--json"], cwd=tmp_path, text=True, capture_output=True, timeout=120)
    finally:
        summary = sim.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    lines = json_lines(done.stdout)
    assert lines[-1]["after"]["software_build"] == TO
    assert summary["version"] == TO
    board = summary["board"]
    assert isinstance(board, dict) and board["bridged"] and board["calls"] == ["uart()"]
