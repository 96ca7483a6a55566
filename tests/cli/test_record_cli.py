"""--record on the commands that open a port, and a recorded run replayed by `sqnflash replay`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sqnflash.cli.main import cli, main
from sqnflash.link.record import load_capture


@pytest.mark.parametrize("command", ["info", "upgrade", "recover", "plan"])
def test_every_command_that_opens_a_port_records(command: str) -> None:
    text = CliRunner().invoke(cli, [command, "--help"]).output
    assert "--record " in text and "--record-redact" in text and "--record-payloads" in text


def test_record_into_a_missing_folder_is_refused_before_the_port_is_opened(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["info", "--port", "sim://?clock=virtual", "--record",
                 str(tmp_path / "nope" / "c.jsonl")])
    assert code != 0
    assert "nope" in capsys.readouterr().err


def test_a_recorded_info_names_its_command_and_replays(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    capture_path = tmp_path / "info.jsonl"
    assert main(["info", "--port", "sim://?clock=virtual&variant=echo", "--record",
                 str(capture_path), "--record-redact"]) == 0
    capture = load_capture(capture_path)
    assert capture.command[0] == "info" and "--record" not in capture.command
    assert capture.header["redacted"] is True and capture.complete
    assert capture.end is not None and capture.end.raw["exit"] == 0
    capsys.readouterr()
    assert main(["replay", str(capture_path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["ok"] is True and result["requests_left"] == 0


def test_a_failed_run_records_its_error_and_replays_to_the_same_failure(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture_path = tmp_path / "fail.jsonl"
    image = tmp_path / "CATM1-41019.dup"
    from sqnflash.sim.images import Family, ImageKind, make_image

    image.write_bytes(make_image(ImageKind.FULL, Family.CATM1, 41019, size=60_000))
    code = main(["upgrade", "--port", "sim://?clock=virtual&mode=ffh", "--record",
                 str(capture_path), str(image)])  # the boot loader needs updater.elf
    assert code != 0
    end = load_capture(capture_path).end
    assert end is not None and end.raw["exit"] == code and end.raw["error"]
    capsys.readouterr()
    assert main(["replay", str(capture_path)]) == 0


def test_a_recorded_demo_replays_on_its_own(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    capture_path = tmp_path / "demo.jsonl"
    assert main(["demo", "--virtual-time", "--json", "--record", str(capture_path)]) == 0
    capture = load_capture(capture_path)
    assert capture.command[0] == "upgrade" and capture.complete
    assert all("synthetic" in f for f in capture.files)  # its images are made again
    capsys.readouterr()
    assert main(["replay", str(capture_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["ok"] is True


def test_a_capture_that_cannot_be_written_on_does_not_stop_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from typing import Any

    from sqnflash.link import record

    class FullDisk:  # the disk fills up after the first records
        def __init__(self, handle: Any) -> None:
            self.handle, self.written = handle, 0

        def write(self, data: bytes) -> int:
            if self.written > 2000:
                raise OSError(28, "No space left on device")
            self.written += len(data)
            return int(self.handle.write(data))

        def __getattr__(self, name: str) -> Any:
            return getattr(self.handle, name)

    original = record.CaptureWriter.__init__

    def opened(self: record.CaptureWriter, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self._file = FullDisk(self._file)  # type: ignore[assignment]

    monkeypatch.setattr(record.CaptureWriter, "__init__", opened)
    capture_path = tmp_path / "c.jsonl"
    code = main(["info", "--port", "sim://?clock=virtual", "--record", str(capture_path)])
    assert code == 0
    assert "stopped early" in capsys.readouterr().err
    assert load_capture(capture_path).records  # what was written before still loads
