"""Bad command lines, options, paths and ports: each one ends in its own documented error (code,
exit status, a message that names what is wrong), in text and in JSON, and the simulated modem
receives nothing that changes it."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sqnflash.cli.main import main
from sqnflash.errors import CATALOGUE
from sqnflash.sim.images import Family, ImageKind, make_image
from tests.support.cli import json_lines
from tests.support.files import make_unreadable
from tests.support.images import FROM, Images

from .test_preflight_cli import SimModem

LONG = "a" * 300 + ".dup"  # 304 bytes: over the 255 a file name may have


@dataclass
class Ctx:
    tmp: Path
    images: Images
    url: str
    monkeypatch: pytest.MonkeyPatch

    def file(self, name: str, data: bytes = b"x" * 200) -> Path:
        path = self.tmp / name
        path.write_bytes(data)
        return path


def refused_port() -> str:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"socket://127.0.0.1:{sock.getsockname()[1]}"


def unreadable(ctx: Ctx) -> Path:
    return make_unreadable(ctx.file("CATM1-41019.dup", ctx.images.small_full.read_bytes()),
                           ctx.monkeypatch)


def env_baud(ctx: Ctx) -> list[str]:
    ctx.monkeypatch.setenv("SQNFLASH_BAUD", "12")
    return ["info", "--port", ctx.url]


# argv, then what the message must name
Case = Callable[[Ctx], tuple[list[str], str]]

BAD: dict[str, tuple[Case, str]] = {
    # --baud: only rates a modem's UART takes, refused before any port is opened
    "baud 0": (lambda c: (["info", "--port", c.url, "--baud", "0"], "'0'"), "SQF-E125"),
    "baud too large": (lambda c: (["upgrade", "--port", c.url, "--baud", "99999999999",
                                   str(c.images.diff)], "99999999999"), "SQF-E125"),
    "baud negative": (lambda c: (["plan", "--port", c.url, "--baud", "-1", str(c.images.diff)],
                                 "'-1'"), "SQF-E125"),
    "baud not a number": (lambda c: (["info", "--port", c.url, "-b", "fast"], "'fast'"),
                          "SQF-E125"),
    "baud off the list": (lambda c: (["recover", "--port", c.url, "--baud", "100000"],
                                     "100000"), "SQF-E125"),
    "baud from the environment": (lambda c: (env_baud(c), "$SQNFLASH_BAUD"), "SQF-E125"),
    # paths
    "image name too long": (lambda c: (["upgrade", "--port", c.url, "--dry-run",
                                        str(c.tmp / LONG)], "304 bytes"), "SQF-E126"),
    "updater name too long": (lambda c: (["upgrade", "--port", c.url, str(c.images.full),
                                          "--updater", str(c.tmp / LONG)], "--updater"),
                              "SQF-E126"),
    "check: name too long": (lambda c: (["check", str(c.tmp / LONG)], "255"), "SQF-E126"),
    "trace file in a missing folder": (lambda c: (["info", "--port", c.url, "--trace-file",
                                                   str(c.tmp / "nowhere" / "trace.txt")],
                                                  "nowhere"), "SQF-E127"),
    "trace file is a folder": (lambda c: (["info", "--port", c.url, "--trace-file",
                                           str(c.tmp)], "is a folder"), "SQF-E129"),
    "trace file name too long": (lambda c: (["info", "--port", c.url, "--trace-file",
                                             str(c.tmp / LONG)], "--trace-file"), "SQF-E126"),
    "unreadable image": (lambda c: (["upgrade", "--port", c.url, str(unreadable(c))],
                                    "CATM1-41019.dup"), "SQF-E103"),
    "check: unreadable file": (lambda c: (["check", str(unreadable(c))], "CATM1-41019.dup"),
                               "SQF-E103"),
    "journal name too long": (lambda c: (["upgrade", "--port", c.url, str(c.images.diff),
                                          "--journal", str(c.tmp / LONG)], "--journal"),
                              "SQF-E126"),
    "journal is a folder": (lambda c: (["recover", "--port", c.url, "--journal", str(c.tmp)],
                                       "is a folder"), "SQF-E129"),
    "history: journal in a missing folder": (lambda c: (["history", "--journal", str(
        c.tmp / "typo" / "journal.db")], "typo"), "SQF-E127"),
    # ports
    "a regular file as port": (lambda c: (["info", "--port", str(c.file("notes.txt"))],
                                          "regular file"), "SQF-E208"),
    "/dev/null as port": (lambda c: (["upgrade", "--port", os.devnull, str(c.images.diff)],
                                     "/dev/null"), "SQF-E208"),
    "a folder as port": (lambda c: (["info", "--port", str(c.tmp)], "folder"), "SQF-E208"),
    "refused socket": (lambda c: (["info", "--port", refused_port()], "connection refused"),
                       "SQF-E209"),
    # usage errors, which click reports
    "unknown option": (lambda c: (["upgrade", "--port", c.url, "--bogus", str(c.images.diff)],
                                  "--bogus"), "SQF-E128"),
    "missing image": (lambda c: (["upgrade", "--port", c.url], "IMAGE"), "SQF-E128"),
    "bad choice": (lambda c: (["upgrade", "--port", c.url, "--method", "warp",
                               str(c.images.diff)], "warp"), "SQF-E128"),
    "out of range": (lambda c: (["history", "--limit", "0"], "--limit"), "SQF-E128"),
    "unknown command": (lambda c: (["upgarde", "--port", c.url], "upgarde"), "SQF-E128"),
}


@pytest.fixture
def target() -> Iterator[SimModem]:
    from sqnflash.sim.simulator import forget

    made = SimModem(f"&version={FROM}")
    yield made
    forget(made.name)


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_gets_its_documented_error_in_json(
        case: str, tmp_path: Path, images: Images, target: SimModem,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    build, code = BAD[case]
    args, named = build(Ctx(tmp_path, images, target.url, monkeypatch))
    status = main([*args, "--json"])
    out = capsys.readouterr().out
    lines = json_lines(out)
    error = lines[-1]
    assert error["type"] == "error" and error["code"] == code, error
    assert status == error["exit_code"] == CATALOGUE[code].exit_code
    assert named in error["cause"], error["cause"]
    assert error["advice"]
    assert all(line["type"] != "error" for line in lines[:-1])  # one error object
    target.assert_untouched()


@pytest.mark.parametrize("case", ["baud 0", "trace file in a missing folder",
                                  "a regular file as port", "refused socket", "unknown option"])
def test_bad_input_reads_well_in_text_too(case: str, tmp_path: Path, images: Images,
                                          target: SimModem, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    build, code = BAD[case]
    args, named = build(Ctx(tmp_path, images, target.url, monkeypatch))
    status = main(args)
    captured = capsys.readouterr()
    err = " ".join(captured.err.split())
    assert status == CATALOGUE[code].exit_code
    assert f"error {code}:" in err and named in err and "what to do:" in err
    assert captured.out == ""
    target.assert_untouched()


def test_a_usage_error_in_text_still_shows_the_usage_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["upgrade", "--nope"]) == 108
    err = capsys.readouterr().err
    assert err.startswith("Usage: sqnflash upgrade [OPTIONS] IMAGE")
    assert "SQF-E128" in err and "sqnflash upgrade --help" in err


@pytest.mark.parametrize("rate", ["9600", "115200", "921600", "3686400"])
def test_every_supported_rate_is_accepted(rate: str, target: SimModem,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--port", target.url, "--baud", rate, "--json"]) == 0
    result = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert result["software_build"] == FROM


def test_trace_file_in_an_existing_folder_is_written(tmp_path: Path, target: SimModem,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "trace.txt"
    assert main(["info", "--port", target.url, "--trace-file", str(trace), "--json"]) == 0
    assert "AT+SMOD?" in trace.read_text(encoding="utf-8")


def test_history_reads_without_creating_and_creates_only_when_asked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "journal.db"
    assert main(["history", "--journal", str(missing)]) == 0
    assert "does not exist yet" in capsys.readouterr().out
    assert not missing.exists()  # a typo leaves nothing behind
    new = tmp_path / "new" / "journal.db"
    assert main(["history", "--journal", str(new), "--create"]) == 0
    assert new.exists() and "no upgrades in" in capsys.readouterr().out


def test_diff_advice_leads_to_a_plan_that_works(tmp_path: Path, images: Images,
                                                target: SimModem,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """E109 names a file the planner then accepts."""
    wrong = images.make(ImageKind.DIFF, source=37781)
    assert main(["plan", "--port", target.url, str(wrong), "--json"]) == 18
    advice = json.loads(capsys.readouterr().out.splitlines()[-1])["advice"]
    assert "upgdiff_38638-to-39529.dup" in advice
    right = tmp_path / "upgdiff_38638-to-39529.dup"
    right.write_bytes(make_image(ImageKind.DIFF, Family.CATM1, 39529, source=FROM,
                                 size=452_000))
    assert main(["plan", "--port", target.url, str(right), "--json"]) == 0, capsys.readouterr()


def test_diff_advice_for_a_factory_bootrom_modem_asks_for_a_full_image(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sqnflash.sim.simulator import forget

    factory = SimModem("&old_bootrom=1")
    try:
        wrong = tmp_path / "upgdiff_38638-to-39529.dup"
        wrong.write_bytes(make_image(ImageKind.DIFF, Family.CATM1, 39529, source=FROM,
                                     size=452_000))
        assert main(["plan", "--port", factory.url, str(wrong), "--json"]) == 18
        advice = json.loads(capsys.readouterr().out.splitlines()[-1])["advice"]
        assert "upgdiff_33080" not in advice  # no diff goes through updater.elf
        assert "full image" in advice and "updater.elf" in advice
        image = tmp_path / "CATM1-39529.dup"
        image.write_bytes(make_image(ImageKind.FULL, Family.CATM1, 39529))
        updater = tmp_path / "updater.elf"
        updater.write_bytes(make_image(ImageKind.UPDATER, Family.CATM1, 39529))
        assert main(["plan", "--port", factory.url, str(image), str(updater), "--json"]) == 0
        factory.assert_untouched()
    finally:
        forget(factory.name)


def test_make_image_into_a_missing_folder_is_refused(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "nope" / "CATM1-39529.dup"
    assert main(["sim", "make-image", "--kind", "full", "--version", "39529", "-o",
                 str(out)]) == 107
    err = " ".join(capsys.readouterr().err.split())
    assert "error SQF-E127: --output" in err and "nope does not exist" in err
    assert not out.parent.exists()


def test_history_of_a_configured_journal_not_written_yet_is_empty_not_an_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    configured = tmp_path / "state" / "sqnflash" / "journal.db"
    monkeypatch.setenv("SQNFLASH_JOURNAL", str(configured))
    assert main(["history"]) == 0
    assert "the journal does not exist yet" in capsys.readouterr().out
    assert not configured.parent.exists()
