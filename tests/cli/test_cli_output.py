"""What the text output says when nobody watches a terminal (a pipe, a log, CI), and what it says
after an interrupted upgrade is continued."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from sqnflash.cli import render
from sqnflash.cli.main import main
from sqnflash.events import (
    Event,
    TransferFinished,
    TransferProgress,
    TransferStarted,
)
from sqnflash.sim.simulator import forget
from tests.support.images import FROM, TO, Images

PROGRESS = re.compile(r"^ {4}[\d.]+ MiB of ([\d.]+) MiB \((\d+) %\), [\d.]+ KiB/s"
                      r"(, about .+ left)?$")


@pytest.fixture
def url() -> Iterator[str]:
    name = f"output-{uuid.uuid4().hex}"
    yield f"sim://{name}?clock=virtual&version={FROM}"
    forget(name)


def test_piped_output_shows_a_progress_line_every_5_s_in_one_unit(
        url: str, images: Images, capsys: pytest.CaptureFixture[str]) -> None:
    # At the field-proven 921600 baud and 2016-byte blocks the transfer lasts long enough to
    # show progress lines while it runs.
    assert main(["upgrade", "--port", url, "--baud", "921600", "--block-size", "2016",
                 str(images.small_full)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    progress = [line for line in lines if PROGRESS.match(line)]
    sent = re.search(r"sent \d+ bytes in ([\d.]+) s \(([\d.]+) KiB/s\)", out)
    assert sent is not None, out
    seconds = float(sent.group(1))
    # Lines while it runs (not one per percent), and one at the end of the transfer.
    assert 2 <= len(progress) <= seconds / render.PLAIN_PROGRESS_S + 2, progress
    assert PROGRESS.match(progress[-1]) and "(100 %)" in progress[-1]
    assert "kB/s" not in out and "KiB/s" in out.split("Upgrade complete")[1]
    assert re.search(r"^\[\d/\d\] ", out, re.MULTILINE)  # a line per step


def cut_short(argv: list[str], monkeypatch: pytest.MonkeyPatch, handler: str,
              when: Callable[[Any], bool]) -> None:
    """`sqnflash ARGV` stopped by Ctrl-C at the first event the renderer's `handler` is given
    that `when` accepts (exit status 130); the renderer is itself again afterwards."""
    shown = getattr(render.RichRenderer, handler)

    def ctrl_c(self: render.RichRenderer, event: Event) -> None:
        if when(event):
            raise KeyboardInterrupt
        shown(self, event)

    with monkeypatch.context() as patch:
        patch.setattr(render.RichRenderer, handler, ctrl_c)
        assert main(argv) == 130


def test_a_continued_upgrade_shows_the_modem_as_found_now_and_the_build_before(
        url: str, images: Images, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["upgrade", "--port", url, str(images.small_full), "--method", "on-the-fly"]
    cut_short(argv, monkeypatch, "_on_Waiting", lambda event: event.step == "apply")
    first = capsys.readouterr().out
    assert "Modem: application (FFF), build 38638" in first
    assert main(argv) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("Modem: "))
    assert "application" not in header and "build 38638" not in header, header
    assert f"Upgrade complete: build {FROM} -> {TO}" in " ".join(out.split())


def test_a_modem_found_in_the_boot_loader_says_the_build_before_is_unknown(
        images: Images, capsys: pytest.CaptureFixture[str]) -> None:
    name = f"output-{uuid.uuid4().hex}"
    try:
        assert main(["upgrade", "--port", f"sim://{name}?clock=virtual&mode=ffh",
                     str(images.small_full), "--updater", str(images.updater)]) == 0
    finally:
        forget(name)
    summary = " ".join(capsys.readouterr().out.split("Upgrade complete")[1].split())
    assert "None" not in summary
    assert summary.startswith(f": now build {TO} ")
    assert "the build before is unknown (the modem was found in boot loader (FFH)" in summary


def test_a_transfer_continued_in_the_held_session_says_where_the_modem_is(
        url: str, images: Images, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["upgrade", "--port", url, str(images.small_full), "--method", "on-the-fly"]
    cut_short(argv, monkeypatch, "_on_TransferProgress",
              lambda event: event.step == "send-image" and event.done >= 200_000)
    capsys.readouterr()
    assert main(argv) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "the modem still holds the transfer session" in out
    assert ("Modem: inside the transfer session of 'Send CATM1-41019.dup ON_THE_FLY' that the "
            "interrupted run left open") in out
    assert f"Upgrade complete: build {FROM} -> {TO}" in out


def test_the_readme_make_image_example_writes_the_file_it_names(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    example = re.search(r"sqnflash (sim make-image [^#\n]+?)\s+# writes \./(\S+)", readme)
    assert example is not None
    monkeypatch.chdir(tmp_path)
    assert main(example.group(1).split()) == 0
    assert [p.name for p in tmp_path.iterdir()] == [example.group(2)]


def test_the_live_bar_on_a_terminal_uses_the_same_units_as_the_summary() -> None:
    screen = io.StringIO()
    renderer = render.RichRenderer(Console(file=screen, force_terminal=True, width=120))
    renderer(TransferStarted("send-image", "CATM1-41019.dup", 6_000_000, 2016, 8192, 921600))
    renderer(TransferProgress("send-image", 3_000_000, 6_000_000, 70_000.0, 40.0))
    assert renderer._progress is not None
    renderer._progress.refresh()
    renderer(TransferFinished("send-image", 6_000_000, 80.0, 70_000.0, 0))
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    assert "2.9/5.7 MiB" in shown and "68.4 KiB/s" in shown  # the bar
    assert "sent 6000000 bytes in 80.0 s (68.4 KiB/s)" in shown  # the line after it
    assert "kB/s" not in shown and "MiB of" not in shown  # no plain lines on a terminal
