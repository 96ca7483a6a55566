"""Both families through the command line, as a user meets them: what is shown for a Monarch 1
and a Monarch 2 modem, and the inputs that belong to the other family."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sqnflash.cli.main import main
from sqnflash.sim.images import Family, ImageKind, default_name, make_image
from tests.support.cli import run_cli
from tests.support.images import FROM, Images
from tests.support.named_sims import SMALL, m2_image, mtools, sim_of


def _m1_updater(folder: Path) -> Path:
    updater = folder / "updater.elf"
    updater.write_bytes(make_image(ImageKind.UPDATER, Family.CATM1, 39529))
    return updater


@pytest.mark.parametrize("settings", ["&family=monarch2&mode=ffh", "&mode=ffh"])
def test_a_monarch1_updater_is_never_loaded_to_install_a_monarch2_image(
        sim_url: Callable[[str], str], settings: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    # In the boot loader the modem does not say which chip it is: the files have to agree.
    url = sim_url(settings)
    image, updater = m2_image(tmp_path), _m1_updater(tmp_path)
    for command in (["plan"], ["upgrade"], ["upgrade", "--dry-run"], ["recover"]):
        code, lines = run_cli([*command, "--port", url, str(image), "--updater", str(updater),
                               "--json"], capsys)
        assert code == 23, lines
        error = lines[-1]
        assert error["code"] == "SQF-E114"
        assert "Monarch 1 updater (version 5.1.1.0, CAT-M1)" in error["cause"]
        assert "GM02-59577.dup is a Monarch 2 image" in error["cause"]
        assert "mtools.elf" in error["advice"]
    sim = sim_of(url)
    assert "AT+STP" not in sim.modem.received_commands and sim.modem.stp_sessions == 0


def test_the_matching_updater_still_goes_through(sim_url: Callable[[str], str], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / default_name(ImageKind.FULL, Family.CATM1, 39529)
    image.write_bytes(make_image(ImageKind.FULL, Family.CATM1, 39529))
    url = sim_url("&mode=ffh")
    code, lines = run_cli(["plan", "--port", url, str(image), "--updater",
                           str(_m1_updater(tmp_path)), "--json"], capsys)
    assert code == 0 and lines[-1]["plan"]["flow"] == "resume-from-boot-loader"
    assert main(["plan", "--port", url, str(image)]) == 22  # and without one: SQF-E113
    capsys.readouterr()
    tool = mtools(tmp_path)  # and never a Monarch 2's tool ELF
    code, lines = run_cli(["plan", "--port", url, str(image), "--updater", str(tool), "--json"],
                          capsys)
    assert code == 23 and "mtools.elf is a Monarch 2 ELF (version 8.0.5.13" in lines[-1]["cause"]


def test_check_speaks_of_the_factory_bootrom_only_for_monarch1(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    catm1 = tmp_path / default_name(ImageKind.FULL, Family.CATM1, 39529)
    catm1.write_bytes(make_image(ImageKind.FULL, Family.CATM1, 39529))
    assert main(["check", str(catm1), str(m2_image(tmp_path))]) == 0
    out = " ".join(capsys.readouterr().out.split())
    m1_part, m2_part = out.split("GM02-59577.dup:", 1)
    assert "carries a bootrom package (for modems with the factory bootrom)" in m1_part
    assert "Monarch 2" in m2_part and "factory bootrom" not in m2_part
    assert "carries a bootrom package (sent with the rest of the image)" in m2_part
    assert main(["check", str(_m1_updater(tmp_path))]) == 0
    assert "updater · Monarch 1 (CAT-M1 or NB-IoT) · 429 340 bytes" in capsys.readouterr().out


@pytest.mark.parametrize("family", ["monarch2", "catm1"])
def test_piped_progress_never_repeats_a_line(sim_url: Callable[[str], str], tmp_path: Path,
                                             images: Images, family: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    # A Monarch 2 gets the image zipped: its bar moves in zlib chunks and reaches 100 % before
    # the last wire byte, which printed the same line twice.
    if family == "monarch2":
        # (at 115200, as its published clients send it: long enough for several lines)
        image, url = m2_image(tmp_path), sim_url("&family=monarch2&version=58000")
        args = ["--baud", "115200"]
    else:
        image, url = images.small_full, sim_url(f"&version={FROM}")
        args = ["--baud", "921600", "--block-size", "2016"]
    assert main(["upgrade", "--port", url, str(image), *args]) == 0
    out = capsys.readouterr().out
    progress = [line for line in out.splitlines() if " MiB of " in line]
    modem = next(line for line in out.splitlines() if line.startswith("Modem: "))
    assert ("bootrom" in modem) == (family == "catm1"), modem  # a GM02S does not report one
    assert len(progress) >= 2, progress
    assert len(set(progress)) == len(progress), progress
    assert sum("(100 %)" in line for line in progress) == 1, progress
    sent = " ".join(next(line for line in out.splitlines() if "    sent " in line).split())
    if family == "monarch2":  # the wire carries a zlib stream, not the file's own bytes
        assert f"bytes (the {SMALL}-byte image as a zlib stream) in" in sent, sent
    else:
        assert "zlib" not in sent and f"sent {image.stat().st_size} bytes in" in sent, sent


def test_a_renamed_image_is_taken_for_the_chip_its_packages_are_for(
        sim_url: Callable[[str], str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    # A CAT-M1 image under a Monarch 2 name used to pass as a Monarch 2 image, and a GM02S
    # would have been sent it; the reverse showed "Monarch 2 · build 41065 · LR5.1.1.0".
    m1_inside = tmp_path / "GM02RB6Q_LR8.2.1.0-61488.dup"
    m1_inside.write_bytes(make_image(ImageKind.FULL, Family.CATM1, 39529))
    m2_inside = tmp_path / "CATM1-41065.dup"
    m2_inside.write_bytes(make_image(ImageKind.FULL, Family.MONARCH2, 59577, size=SMALL))
    code, lines = run_cli(["check", str(m1_inside), str(m2_inside), "--json"], capsys)
    assert code == 0
    first, second = lines[0], lines[1]
    assert (first["family"], first["build"], first["lr_version"]) == ("CAT-M1", 39529,
                                                                     "5.1.1.0")
    assert (second["family"], second["installs_build"], second["lr_version"]) == (
        "Monarch 2", 59577, "8.0.5.13")
    assert any("named as a Monarch 2 file but its packages are CAT-M1 firmware" in w
               for w in first["warnings"])
    code, lines = run_cli(["plan", "--port", sim_url("&family=monarch2&version=58000"),
                           str(m1_inside), "--json"], capsys)
    assert code == 19 and lines[-1]["code"] == "SQF-E110"
    code, lines = run_cli(["plan", "--port", sim_url("&version=38638"), str(m2_inside),
                           "--json"], capsys)
    assert code == 19 and lines[-1]["code"] == "SQF-E110"


def test_recover_without_an_image_names_the_monarch2_file_too(
        sim_url: Callable[[str], str], capsys: pytest.CaptureFixture[str]) -> None:
    url = sim_url("&family=monarch2&mode=recovery&broken_app=1")
    code, lines = run_cli(["recover", "--port", url, "--json"], capsys)
    assert code == 77 and lines[-1]["code"] == "SQF-E508"
    assert "GM02RB6Q_LR<version>-<build>.dup" in lines[-1]["advice"]
    assert "CATM1-<build>.dup" in lines[-1]["advice"]


def test_history_lists_a_run_refused_before_any_byte_without_a_gap(
        sim_url: Callable[[str], str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    # A Monarch 1 in RECOVERY does not say what it is; a Monarch 2 image reaches its STP
    # session, which cannot take the zipped stream: the run stops before the first block.
    url = sim_url("&mode=recovery")
    code, lines = run_cli(["upgrade", "--port", url, str(m2_image(tmp_path)), "--json"], capsys)
    assert code != 0 and lines[-1]["type"] == "error"
    assert main(["history"]) == 0
    (line,) = [x for x in capsys.readouterr().out.splitlines() if "GM02-59577.dup" in x]
    assert line.endswith(f"failed (0/4 steps {lines[-1]['code']})"), line


def test_check_json_carries_every_fact_the_text_shows(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    catm1 = tmp_path / default_name(ImageKind.FULL, Family.CATM1, 39529)
    catm1.write_bytes(make_image(ImageKind.FULL, Family.CATM1, 39529))
    files = [str(catm1), str(m2_image(tmp_path))]
    assert main(["check", *files]) == 0
    text = " ".join(capsys.readouterr().out.split())
    code, lines = run_cli(["check", "--json", *files], capsys)
    assert code == 0
    m1, m2 = lines[0], lines[1]
    assert (m1["official"], m1["packages"], m1["check_values"]) == ("size matches", 5,
                                                                   ["Fletcher-32"])
    assert m1["content_release"] == {"lr_version": "5.1.1.0", "build": 39529}
    assert (m2["official"], m2["check_values"], m2["bootrom_package"]) == (None, ["CRC-32"],
                                                                          True)
    for fact in m1["facts"] + m2["facts"]:
        assert " ".join(fact.split()) in text, fact


def test_below_the_monarch2_gate_force_is_offered_and_then_not_called_a_pass(
        sim_url: Callable[[str], str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    url, image = sim_url("&family=monarch2&version=54000"), str(m2_image(tmp_path))
    code, lines = run_cli(["plan", "--port", url, image, "--json"], capsys)
    assert code == 25 and lines[-1]["code"] == "SQF-E116"
    assert "--force sends the image anyway" in lines[-1]["advice"]  # as `info`'s gate line says
    code, lines = run_cli(["plan", "--port", url, image, "--force", "--json"], capsys)
    plan = lines[-1]["plan"]
    assert code == 0 and not any(c.startswith("path rules") for c in plan["checks"]), plan
    assert any("below 8.0.4.0: sent anyway (--force)" in n for n in plan["notes"])


def test_an_updater_alone_is_refused_with_the_image_names_of_both_families(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = run_cli(["plan", "--port", "sim://?clock=virtual&family=monarch2",
                           str(_m1_updater(tmp_path)), "--json"], capsys)
    assert code == 101 and lines[-1]["code"] == "SQF-E121"
    assert "GM02RB6Q_LR<version>-<build>.dup" in lines[-1]["advice"]


@pytest.mark.parametrize("family", [Family.MONARCH2, Family.CATM1])
def test_a_file_cut_inside_a_package_is_not_offered_force(
        family: Family, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    whole = make_image(ImageKind.FULL, family, 59577 if family == Family.MONARCH2 else 39529,
                       size=SMALL)
    cut = tmp_path / "cut.dup"
    cut.write_bytes(whole[: len(whole) // 2])
    for force in ([], ["--force"]):
        code, lines = run_cli(["check", str(cut), "--json", *force], capsys)
        assert code == 15 and lines[-1]["code"] == "SQF-E106"
        assert "--force" not in lines[-1]["advice"], lines[-1]
