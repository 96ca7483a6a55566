"""Preflight through the command line: every bad input is refused with its own code, a message
that names the file, and a modem that received nothing but read-only queries."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sqnflash.cli import output
from sqnflash.cli.main import main
from sqnflash.sim.images import Family, ImageKind, make_image
from sqnflash.sim.simulator import Simulator, forget, named
from tests.support.cli import json_lines
from tests.support.files import make_unreadable
from tests.support.images import FROM, Images

# What `plan` and `upgrade --dry-run` may send: none of these changes the modem's state.
# (AT+IPR=? is a test command: it lists the rates and changes nothing)
READ_ONLY = {"AT", "AT+SMOD?", 'AT!="showver"', "ATI1", "AT+CGSN", "ATI", "AT+IPR=?"}


@dataclass
class Ctx:
    tmp: Path
    images: Images
    monkeypatch: pytest.MonkeyPatch

    def file(self, name: str, data: bytes) -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path


class SimModem:
    def __init__(self, settings: str = "") -> None:
        self.name = f"preflight-{uuid.uuid4().hex}"
        self.url = f"sim://{self.name}?clock=virtual{settings}"

    @property
    def sim(self) -> Simulator | None:
        return named(self.name)

    def assert_untouched(self) -> None:
        sim = self.sim
        if sim is None:
            return  # refused before the port was even opened
        assert set(sim.modem.received_commands) <= READ_ONLY, sim.modem.received_commands
        assert sim.modem.stp_sessions == 0


@pytest.fixture
def modem() -> Iterator[Callable[[str], SimModem]]:
    made: list[SimModem] = []

    def make(settings: str = f"&version={FROM}") -> SimModem:
        made.append(SimModem(settings))
        return made[-1]

    yield make
    for sim in made:
        forget(sim.name)


def unreadable(ctx: Ctx) -> Path:
    return make_unreadable(ctx.file("CATM1-41019.dup", ctx.images.small_full.read_bytes()),
                           ctx.monkeypatch)


def flipped(ctx: Ctx) -> Path:
    data = bytearray(ctx.images.small_full.read_bytes())
    data[len(data) // 2] ^= 0x01
    return ctx.file("CATM1-41019.dup", bytes(data))


Case = Callable[[Ctx], tuple[list[str], str]]  # argv after --port URL, the file to be named

BAD_INPUT: dict[str, tuple[Case, int, str]] = {
    "missing file": (lambda c: (["upgrade", "--dry-run", str(c.tmp / "CATM1-41019.dup")],
                                "CATM1-41019.dup"), 10, "SQF-E101"),
    "directory": (lambda c: (["upgrade", "--dry-run", str(c.tmp)], c.tmp.name), 11, "SQF-E102"),
    "unreadable": (lambda c: (["upgrade", "--dry-run", str(unreadable(c))], "CATM1-41019.dup"),
                   12, "SQF-E103"),
    "empty": (lambda c: (["upgrade", "--dry-run", str(c.file("CATM1-41019.dup", b""))],
                         "CATM1-41019.dup"), 13, "SQF-E104"),
    "under 128 bytes": (lambda c: (["upgrade", "--dry-run",
                                    str(c.file("CATM1-41019.dup", b"PACK" + bytes(60)))],
                                   "CATM1-41019.dup"), 14, "SQF-E105"),
    "truncated known file": (lambda c: (["upgrade", "--dry-run", str(c.file(
        "CATM1-38638.dup", make_image(ImageKind.FULL, Family.CATM1, 38638)[:5_000_000]))],
        "CATM1-38638.dup"), 15, "SQF-E106"),
    "one flipped byte": (lambda c: (["upgrade", "--dry-run", str(flipped(c))],
                                    "CATM1-41019.dup"), 16, "SQF-E107"),
    "ELF as the image": (lambda c: (["upgrade", "--dry-run", str(c.images.updater)],
                                    "updater.elf"), 17, "SQF-E108"),
    ".dup as the updater": (lambda c: (["upgrade", "--dry-run", str(c.images.full),
                                        "--updater", str(c.images.small_full)],
                                       "CATM1-41019.dup"), 28, "SQF-E119"),
    "diff for another build": (lambda c: (["upgrade", "--dry-run", str(c.images.make(
        ImageKind.DIFF, source=37781))], "upgdiff_37781-to-41019.dup"), 18, "SQF-E109"),
    "NB1 image on a CAT-M1 modem": (lambda c: (["upgrade", "--dry-run", str(c.images.make(
        ImageKind.FULL, 41019, family=Family.NB1))], "NB1-41019.dup"), 19, "SQF-E110"),
    "two images at once": (lambda c: (["plan", str(c.images.full), str(c.images.make(
        ImageKind.DIFF, source=FROM))], "CATM1-41019.dup"), 20, "SQF-E111"),
    "too large for the method": (lambda c: (["upgrade", "--dry-run", "--method", "fff",
                                             str(c.images.full)], "CATM1-41019.dup"),
                                 21, "SQF-E112"),
    # Beyond the list: the other refusals of the planner.
    "known name, other size": (lambda c: (["upgrade", "--dry-run", str(c.file(
        "NB1-37781.dup", make_image(ImageKind.FULL, Family.NB1, 37781, size=5_300_000)))],
        "NB1-37781.dup"), 100, "SQF-E120"),
    "downgrade": (lambda c: (["upgrade", "--dry-run", str(c.images.make(
        ImageKind.FULL, 36417, size=300_000))], "CATM1-36417.dup"), 24, "SQF-E115"),
    "intermediate release needed": (lambda c: (["plan", str(c.file(
        "CATM1-5.2-48829-2.dup", make_image(ImageKind.FULL, Family.CATM1, 48829,
                                            size=300_000)))], "CATM1-5.2-48829-1.dup"),
                                    25, "SQF-E116"),
    "updater alone": (lambda c: (["plan", str(c.images.updater)], "updater.elf"), 101,
                      "SQF-E121"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_refused_before_the_modem_is_touched(
        case: str, tmp_path: Path, images: Images, monkeypatch: pytest.MonkeyPatch,
        modem: Callable[[str], SimModem], capsys: pytest.CaptureFixture[str]) -> None:
    build, exit_code, error_code = BAD_INPUT[case]
    target = modem(f"&version={FROM}")
    args, named_file = build(Ctx(tmp_path, images, monkeypatch))
    code = main([args[0], "--port", target.url, *args[1:], "--json"])
    lines = json_lines(capsys.readouterr().out)
    error = lines[-1]
    assert (code, error["type"], error["code"]) == (exit_code, "error", error_code)
    assert named_file in error["cause"]
    assert error["advice"]
    target.assert_untouched()


def test_the_refusal_reads_well_in_text_too(images: Images, modem: Callable[[str], SimModem],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    target = modem(f"&version={FROM}")
    wrong = images.make(ImageKind.DIFF, source=37781)
    assert main(["plan", "--port", target.url, str(wrong)]) == 18
    err = " ".join(capsys.readouterr().err.split())
    assert "error SQF-E109" in err and "patches build 37781; the modem runs 38638" in err
    assert "what to do" in err and f"Use upgdiff_{FROM}-to-39529.dup" in err
    target.assert_untouched()


def test_an_updater_of_another_release_is_refused(tmp_path: Path,
                                                  modem: Callable[[str], SimModem],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    target = modem("&old_bootrom=1")
    image = tmp_path / "CATM1-39529.dup"
    image.write_bytes(make_image(ImageKind.FULL, Family.CATM1, 39529))
    old = tmp_path / "updater.elf"
    old.write_bytes(make_image(ImageKind.UPDATER, Family.CATM1, 38638))  # 306 076 bytes
    assert main(["plan", "--port", target.url, str(image), str(old), "--json"]) == 23
    error = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert error["code"] == "SQF-E114"
    assert "306 076 bytes, the size of the updater of release 37781, 38638" in error["cause"]
    assert "429 340" in error["cause"]
    target.assert_untouched()


# --------------------------------------------------------------------------- plans per state


def plan_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main([*argv, "--json"]) == 0, capsys.readouterr()
    result: dict[str, Any] = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert result["type"] == "result" and result["dry_run"] is True
    return result


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Catalogue-sized synthetic files of two real releases."""
    folder = tmp_path_factory.mktemp("release")
    files = {
        "CATM1-39529.dup": make_image(ImageKind.FULL, Family.CATM1, 39529),
        "updater-39529.elf": make_image(ImageKind.UPDATER, Family.CATM1, 39529),
        "NB1-41019.dup": make_image(ImageKind.FULL, Family.NB1, 41019),
    }
    out = {}
    for name, data in files.items():
        out[name] = folder / name
        out[name].write_bytes(data)
    return out


@pytest.mark.parametrize(("state", "files", "flow", "steps"), [
    ("&version=38638", ["CATM1-39529.dup"], "application",
     ["prepare", "switch-recovery", "send-image", "apply", "switch-application", "verify"]),
    ("&old_bootrom=1", ["CATM1-39529.dup", "updater-39529.elf"], "old-bootrom",
     ["prepare", "switch-recovery", "send-bootrom", "switch-ffh", "negotiate-baud",
      "send-updater", "send-image", "apply", "switch-application", "verify"]),
    ("&mode=ffh", ["CATM1-39529.dup", "updater-39529.elf"], "resume-from-boot-loader",
     ["negotiate-baud", "send-updater", "send-image", "apply", "switch-application", "verify"]),
    ("&mode=recovery", ["CATM1-39529.dup"], "resume-from-upgrade-mode",
     ["send-image", "apply", "switch-application", "verify"]),
    ("&family=nb1&version=37781&bootrom=38638", ["NB1-41019.dup"], "application",
     ["prepare", "switch-recovery", "send-image", "apply", "switch-application", "verify"]),
])
def test_plan_in_each_modem_state(state: str, files: list[str], flow: str, steps: list[str],
                                  release: dict[str, Path], modem: Callable[[str], SimModem],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    target = modem(state)
    result = plan_json(["plan", "--port", target.url, *(str(release[f]) for f in files)],
                       capsys)
    plan = result["plan"]
    assert plan["flow"] == flow and [s["id"] for s in plan["steps"]] == steps
    assert all(s["reason"] and s["estimate_s"] > 0 for s in plan["steps"])
    assert any("size matches the official file" in c for c in plan["checks"])
    if "updater-39529.elf" in files:
        assert any("the updater of release 39529" in c for c in plan["checks"])
    if "mode=" not in state:  # the application reports its family and build: both checked
        assert any(c.startswith("family: ") for c in plan["checks"])
        assert any(c.startswith("direction: ") for c in plan["checks"])
    else:
        assert any("was not checked" in n for n in plan["notes"])
    target.assert_untouched()


def test_plan_text_shows_steps_reasons_times_and_checks(
        release: dict[str, Path], modem: Callable[[str], SimModem],
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(output.console, "width", 250)  # one table row per line
    target = modem("&old_bootrom=1")
    assert main(["plan", "--port", target.url, str(release["updater-39529.elf"]),
                 str(release["CATM1-39529.dup"])]) == 0
    out = capsys.readouterr().out
    assert "Modem: application (FFF)" in out and "bootrom 33080" in out
    assert "Plan: old-bootrom, on-the-fly method, about" in out
    assert re.search(r"│ +3 │ Flash the new bootrom +│ bootrom 33080 cannot boot the updater; "
                     r"the new one can +│ +\d+ s │", out)  # number, title, reason, time
    assert "Checks passed:" in out and "direction: 33080 -> 39529 is an upgrade" in out
    assert "Nothing was changed on the modem" in out
    target.assert_untouched()


def test_upgrade_dry_run_changes_nothing(images: Images, modem: Callable[[str], SimModem],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    target = modem(f"&version={FROM}")
    result = plan_json(["upgrade", "--port", target.url, str(images.diff), "--dry-run"], capsys)
    assert result["plan"]["method"] == "fff" and result["modem"]["software_build"] == FROM
    target.assert_untouched()
    sim = target.sim
    assert sim is not None and sim.summary()["version"] == FROM
    assert sim.summary()["mode"] == "FFF" and sim.summary()["upgrades"] == []


def test_two_step_release_forces_on_the_fly_and_names_the_next_step(
        tmp_path: Path, modem: Callable[[str], SimModem],
        capsys: pytest.CaptureFixture[str]) -> None:
    target = modem("&version=41065")
    step1 = tmp_path / "CATM1-5.2-48829-1.dup"
    step1.write_bytes(make_image(ImageKind.FULL, Family.CATM1, 48829, size=300_000))
    result = plan_json(["plan", "--port", target.url, str(step1)], capsys)
    plan = result["plan"]
    assert plan["method"] == "on-the-fly"  # small enough for FFF, but the rule says otherwise
    assert plan["expected_build"] == 39529
    assert any("CATM1-5.2-48829-2.dup" in n for n in plan["notes"])
    target.assert_untouched()


def test_downgrade_and_family_change_are_allowed_when_asked(
        images: Images, release: dict[str, Path], modem: Callable[[str], SimModem],
        capsys: pytest.CaptureFixture[str]) -> None:
    target = modem(f"&version={FROM}")
    old = images.make(ImageKind.FULL, 36417, size=300_000)
    result = plan_json(["plan", "--port", target.url, str(old), "--allow-downgrade"], capsys)
    assert any("downgrade from 38638 to 36417" in n for n in result["plan"]["notes"])
    result = plan_json(["plan", "--port", target.url, str(release["NB1-41019.dup"]),
                        "--allow-family-change"], capsys)
    assert any("from CAT-M1 to NB-IoT" in n for n in result["plan"]["notes"])
    target.assert_untouched()


# --------------------------------------------------------------------------- check, offline


def test_check_reports_catalogue_sized_files_as_known(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    files = {
        "CATM1-38638.dup": make_image(ImageKind.FULL, Family.CATM1, 38638),
        "NB1-37781.dup": make_image(ImageKind.FULL, Family.NB1, 37781),
        "updater.elf": make_image(ImageKind.UPDATER, Family.CATM1, 38638),
        "bootrom.dup": make_image(ImageKind.BOOTROM, Family.CATM1, 41065),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    paths = [str(tmp_path / name) for name in files]
    assert main(["check", *paths, "--json"]) == 0
    lines = json_lines(capsys.readouterr().out)
    by_name = {o["name"]: o for o in lines if o["type"] == "file"}
    assert by_name["CATM1-38638.dup"]["known"] == "CATM1-38638.dup"
    assert by_name["NB1-37781.dup"]["known"] == "NB1-37781.dup"
    assert by_name["NB1-37781.dup"]["family"] == "NB-IoT"
    assert all(o["verdict"] == "usable" and len(o["sha256"]) == 64 for o in by_name.values())
    assert lines[-1] == {"type": "result", "ok": True, "usable": 4, "refused": 0}
    assert main(["check", *paths]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "official release CATM1-38638.dup: size matches" in out
    assert "the updater.elf of release 37781, 38638" in out
    assert "Pycom's built-in bootrom 5.1.1.0 [41065] (size and MD5 match)" not in out  # synthetic
    assert "4 of 4 file(s) usable" in out


def test_check_exits_non_zero_when_any_file_is_unusable(images: Images, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    empty = tmp_path / "NB1-41019.dup"
    empty.write_bytes(b"")
    code = main(["check", str(images.small_full), str(empty), "--json"])
    lines = json_lines(capsys.readouterr().out)
    assert code == 13
    assert [o.get("verdict") for o in lines[:2]] == ["usable", "refused"]
    assert lines[1]["error"]["code"] == "SQF-E104" and lines[-1]["type"] == "error"


def test_check_sections_prints_the_container_tree(images: Images,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(images.small_full), "--sections"]) == 0
    out = re.sub(r"\s+", " ", capsys.readouterr().out)
    assert "└── package (PACK 'Packed dup files') at 0" in out
    for part in ("bootrom", "updater", "fff", "fs"):
        assert f"{part} (UPGR '{part} upgrade package')" in out
