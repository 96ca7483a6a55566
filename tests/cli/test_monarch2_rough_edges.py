"""What a user reading a Monarch 2 (GM02S) run sees: the modes in its own words, the files it
needs in each mode, the methods it takes, and the figures and messages of its transfer."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sqnflash.cli.main import main
from tests.support.cli import run_cli
from tests.support.images import Images
from tests.support.named_sims import SMALL, m2_image, mtools, sim_of


def test_plan_and_info_show_a_gm02s_mode_without_pycoms_names(
        sim_url: Callable[[str], str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = sim_url("&family=monarch2&version=58000")
    assert main(["info", "--port", url]) == 0
    info = capsys.readouterr().out
    assert main(["plan", "--port", url, str(m2_image(tmp_path))]) == 0
    header = next(line for line in capsys.readouterr().out.splitlines()
                  if line.startswith("Modem: "))
    assert "Pycom" not in header and "normal mode" not in header, header
    assert "application (FFF) (AT+SMOD? 2)" in header
    assert "application (FFF) (AT+SMOD? 2)" in info and "Pycom" not in info
    # A Monarch 1 keeps Pycom's name in both, for the forum posts that use it.
    url = sim_url("")
    assert main(["info", "--port", url]) == 0
    assert "(AT+SMOD? 2; Pycom: normal mode)" in capsys.readouterr().out


def test_a_gm02s_in_its_boot_loader_is_asked_formtools(
        sim_url: Callable[[str], str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = sim_url("&family=monarch2&mode=ffh")
    code, lines = run_cli(["plan", "--port", url, str(m2_image(tmp_path)), "--json"], capsys)
    assert code == 22 and lines[-1]["code"] == "SQF-E113"
    error = lines[-1]
    assert "mtools.elf" in error["cause"] and "mtools.elf" in error["advice"]
    assert "updater.elf" not in error["cause"] + error["advice"], error
    assert "Pycom" not in error["cause"], error


def test_an_elf_for_a_gm02s_in_its_application_is_declined_for_the_right_reason(
        sim_url: Callable[[str], str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = sim_url("&family=monarch2&version=58000")
    code, lines = run_cli(["plan", "--port", url, str(m2_image(tmp_path)), "--updater",
                           str(mtools(tmp_path)), "--json"], capsys)
    assert code == 0, lines
    notes = lines[-1]["plan"]["notes"]
    (note,) = [n for n in notes if "is not needed" in n]
    assert "bootrom" not in note and "RECOVERY" in note, note


def test_method_fff_is_refused_for_a_monarch2_before_anything_changes(
        sim_url: Callable[[str], str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = sim_url("&family=monarch2&version=58000")
    for command in (["plan"], ["upgrade"]):
        code, lines = run_cli([*command, "--port", url, str(m2_image(tmp_path)), "--method",
                               "fff", "--json"], capsys)
        assert code == 27 and lines[-1]["code"] == "SQF-E118", lines[-1]
        assert "ON_THE_FLY" in lines[-1]["cause"] and "Monarch 2" in lines[-1]["cause"]
    sim = sim_of(url)
    assert sim.modem.stp_sessions == 0
    assert not any(c.startswith(("AT+SMSWBOOT=", "AT+SMSTPU", "AT+CFUN="))
                   for c in sim.modem.received_commands)
    code, lines = run_cli(["plan", "--port", url, str(m2_image(tmp_path)), "--method",
                           "on-the-fly", "--json"], capsys)
    assert code == 0


def test_a_zipped_transfer_reports_file_bytes_and_wire_bytes_apart(
        sim_url: Callable[[str], str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = sim_url("&family=monarch2&version=58000")
    code, lines = run_cli(["upgrade", "--port", url, str(m2_image(tmp_path)), "--json"], capsys)
    assert code == 0, lines[-1]
    started = next(e for e in lines if e["type"] == "transfer-started")
    finished = next(e for e in lines if e["type"] == "transfer-finished")
    assert started["total"] == finished["total"] == SMALL  # the file, as the bar counts it
    # The zlib stream the line carried (the twin's random bytes do not shrink: zlib adds some).
    assert finished["wire_bytes"] > 0 and finished["wire_bytes"] != SMALL


@pytest.mark.parametrize(("report", "said", "unsaid"), [
    ("success", "answers 'success': the bootrom is in place", "without waiting"),
    ("no-report", "answers 'No report' (no report of it yet); going on to the boot loader "
                  "without waiting for one", "in place"),
])
def test_the_report_after_the_bootrom_package_is_read_for_what_it_says(
        sim_url: Callable[[str], str], images: Images, report: str, said: str, unsaid: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = sim_url(f"&old_bootrom=1&bootrom_report={report}")
    code, lines = run_cli(["upgrade", "--port", url, str(images.small_full), "--updater",
                           str(images.updater), "--json"], capsys)
    assert code == 0, lines[-1]
    (note,) = [e["text"] for e in lines
               if e["type"] == "note" and "after the bootrom package" in e["text"]]
    assert said in note and unsaid not in note, note


def test_recover_with_mtools_alone_keeps_a_gm02s_boot_loader_at_115200(
        sim_url: Callable[[str], str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    # In FFH the modem does not say it is a Monarch 2; the ELF does, and Monarch 2 clients
    # never send AT+IPR there.
    url = sim_url("&family=monarch2&mode=ffh")
    code, lines = run_cli(["recover", "--port", url, "--updater", str(mtools(tmp_path)),
                           "--json"], capsys)
    started = [e for e in lines if e["type"] == "transfer-started"]
    assert started and started[0]["baud"] == 115200, lines
    sim = sim_of(url)
    assert not any(c.startswith("AT+IPR=") and c != "AT+IPR=?"
                   for c in sim.modem.received_commands), sim.modem.received_commands
    assert code == 0, lines[-1]


def test_recover_of_a_gm02s_in_its_boot_loader_asks_formtools(
        sim_url: Callable[[str], str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = sim_url("&family=monarch2&mode=ffh")
    code, lines = run_cli(["recover", "--port", url, str(m2_image(tmp_path)), "--json"], capsys)
    assert code == 22 and lines[-1]["code"] == "SQF-E113"
    assert "mtools.elf" in lines[-1]["cause"] and "mtools.elf" in lines[-1]["advice"]
    assert "Pycom" not in lines[-1]["cause"], lines[-1]


@pytest.mark.parametrize("compress", [[], ["--no-compress"]])
def test_a_monarch2_image_for_a_monarch1_in_recovery_stops_before_its_first_block(
        sim_url: Callable[[str], str], tmp_path: Path, compress: list[str],
        capsys: pytest.CaptureFixture[str]) -> None:
    # In RECOVERY the modem does not say its chip; its STP session does (a Monarch 1's is
    # version 1), as it opens. Raw, the image used to be written whole and fail to apply.
    url = sim_url("&mode=recovery")
    code, lines = run_cli(["upgrade", "--port", url, str(m2_image(tmp_path)), "--json",
                           *compress], capsys)
    error = lines[-1]
    assert code == 19 and error["code"] == "SQF-E110", error
    assert "evidently a Monarch 1" in error["cause"] and "version 1" in error["cause"]
    assert "nothing of GM02-59577.dup was written" in error["modem_state"]
    assert "Monarch 1 image" in error["advice"] and "sqnflash info" in error["advice"]
    assert not any(e["type"] == "progress" and e["done"] > 0 for e in lines)
    sim = sim_of(url)
    assert sim.modem.flash.software == 38638
    # As the advice says: the application is still there.
    code, lines = run_cli(["recover", "--port", url, "--json"], capsys)
    assert code == 0 and lines[-1]["after"]["software_build"] == 38638, lines[-1]


def test_a_plan_through_a_gm02s_boot_loader_speaks_ofmtools(
        sim_url: Callable[[str], str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = sim_url("&family=monarch2&mode=ffh")
    args = ["plan", "--port", url, str(m2_image(tmp_path)), "--updater", str(mtools(tmp_path))]
    code, lines = run_cli([*args, "--json"], capsys)
    assert code == 0, lines[-1]
    steps = lines[-1]["plan"]["steps"]
    assert [s["title"] for s in steps[:2]] == ["Wake the boot loader", "Load mtools.elf"]
    assert not any("updater" in s["reason"] or "runs faster" in s["reason"] for s in steps)
    assert main(args) == 0
    header = next(line for line in capsys.readouterr().out.splitlines()
                  if line.startswith("Modem: "))
    # The modem does not say its chip in FFH; the files do.
    assert "Pycom" not in header and "(AT+SMOD? 0)" in header, header


def test_an_uncatalogued_mtools_elf_is_checked_against_its_release_not_a_zip(
        sim_url: Callable[[str], str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    # Monarch 2 images and mtools.elf are not shipped together in one zip as Pycom's were.
    url = sim_url("&family=monarch2&version=58000&mode=ffh")
    assert main(["plan", "--port", url, "--updater", str(mtools(tmp_path)),
                 str(m2_image(tmp_path))]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "is not in the catalogue: make sure it comes from the same release as" in out, out
    assert "same zip" not in out
