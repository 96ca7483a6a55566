"""The replay modem: answers what the capture answered, and names the first request it lacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sqnflash.cli.main import cli, main
from sqnflash.cli.replay_cmd import run_replay
from sqnflash.link.port import Link
from sqnflash.link.record import load_capture
from tests.captures import HERE, firmware_folders

SEED = HERE / "demo-diff.jsonl"


def test_a_changed_request_fails_the_replay_naming_request_and_record(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = Link.write

    def changed(self: Link, data: bytes) -> None:  # a client that asks one thing differently
        original(self, data.replace(b"AT+SMOD?", b"AT+SMOX?"))

    monkeypatch.setattr(Link, "write", changed)
    outcome = run_replay(load_capture(SEED), cli, folders=firmware_folders(SEED, tmp_path))
    problem = outcome.problem()
    assert problem is not None
    assert "the host sent 'AT+SMOX?" in problem
    assert "where the capture has 'AT+SMOD?" in problem
    record = outcome.simulator.peer.divergence.record  # type: ignore[union-attr]
    assert record is not None and f"(record {record.index}, line {record.line})" in problem
    assert load_capture(SEED).records[record.index].data.startswith(b"AT+SMOD?")


def test_the_replay_command_exits_111_on_a_diverging_client(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    original = Link.write

    def extra(self: Link, data: bytes) -> None:
        if data.startswith(b"AT+CGSN"):
            original(self, b"AT+CIMI\r\n")  # a command no recorded run ever sent
        original(self, data)

    monkeypatch.setattr(Link, "write", extra)
    folders = firmware_folders(SEED, tmp_path)
    code = main(["replay", str(SEED), "--files", str(folders[0]), "--json"])
    assert code == 111
    error = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert error["code"] == "SQF-E131"
    assert "AT+CIMI" in error["cause"] and "record" in error["cause"]


def test_an_edited_block_in_the_capture_is_caught_by_its_crc(tmp_path: Path) -> None:
    lines = SEED.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if '"crc32"' in line)
    record = json.loads(lines[index])
    record["crc32"] = f"{int(record['crc32'], 16) ^ 1:08x}"
    lines[index] = json.dumps(record)
    edited = tmp_path / "edited.jsonl"
    edited.write_text("\n".join(lines) + "\n")
    scratch = tmp_path / "fw"
    scratch.mkdir()
    outcome = run_replay(load_capture(edited), cli,
                         folders=firmware_folders(SEED, scratch))
    problem = outcome.problem()
    assert problem is not None and f"line {index + 1})" in problem
    assert "STP request op=0x03" in problem


def test_missing_firmware_is_e132(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["replay", str(SEED), "--files", str(tmp_path)])
    assert code == 112
    assert "SQF-E132" in capsys.readouterr().err


def test_a_pty_replay_serves_another_process(tmp_path: Path) -> None:
    import subprocess
    import sys

    folder = firmware_folders(SEED, tmp_path)[0]
    capture = load_capture(SEED)
    image = next(f["name"] for f in capture.files if f["role"] == "image")
    server = subprocess.Popen([sys.executable, "-m", "sqnflash", "sim", "--pty", "--replay",
                               str(SEED)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        ready = server.stdout.readline().split()
        assert ready[0] == "READY", ready
        result = subprocess.run([sys.executable, "-m", "sqnflash", "upgrade", "--port",
                                 ready[1], "--json", str(folder / image)],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=30)
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["divergence"] is None and summary["requests_left"] == 0
