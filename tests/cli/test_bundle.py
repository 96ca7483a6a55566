"""`sqnflash bundle`: one zip with the last capture, the journal, info and versions, redacted."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from sqnflash.cli.main import main
from sqnflash.sim.config import DEFAULT_IMEI


def test_bundle_packs_the_last_recorded_run_redacted(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    capture = tmp_path / "run.jsonl"
    assert main(["info", "--port", "sim://?clock=virtual", "--record", str(capture)]) == 0
    assert DEFAULT_IMEI in capture.read_text() or DEFAULT_IMEI.encode().hex() in \
        capture.read_text()
    out = tmp_path / "report.zip"
    code = main(["bundle", "-o", str(out), "--port", "sim://?clock=virtual&mode=recovery",
                 "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["redacted"] is True and result["capture"] == "run.jsonl"
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        assert {"capture.jsonl", "journal.json", "info.json", "versions.json",
                "manifest.json"} <= names
        everything = "".join(archive.read(n).decode() for n in names)
        versions = json.loads(archive.read("versions.json"))
        info = json.loads(archive.read("info.json"))
    assert DEFAULT_IMEI not in everything and DEFAULT_IMEI.encode().hex() not in everything
    assert {"sqnflash", "python", "pyserial", "platform"} <= set(versions)
    assert info["ok"] is True and info["mode"]


def test_bundle_without_capture_says_how_to_make_one(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.zip"
    assert main(["bundle", "-o", str(out)]) == 0
    assert "--record" in capsys.readouterr().out
    with zipfile.ZipFile(out) as archive:
        assert "capture.jsonl" not in archive.namelist()
        assert "versions.json" in archive.namelist()
