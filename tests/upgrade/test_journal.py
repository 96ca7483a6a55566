"""The upgrade journal: where it lives, what it keeps, and that it refuses what it cannot use."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sqnflash.errors import JournalError, TransferFailed
from sqnflash.protocol.stp import Checkpoint
from sqnflash.upgrade import journal as journal_mod
from sqnflash.upgrade.journal import Journal


def begin(journal: Journal, *, imei: str | None = "354346090000009", port: str = "/dev/ttyUSB0",
          sha: str = "ab" * 32, **extra: Any) -> journal_mod.UpgradeRecord:
    return journal.begin(imei=imei, port=port, image_name="CATM1-41019.dup", image_sha256=sha,
                         image_size=6_059_510, updater_sha256=None, flow="application",
                         method="on-the-fly", steps=["prepare", "send-image", "verify"],
                         plan={"flow": "application"},
                         before={"software_build": 38638, "smod": 2}, **extra)


def test_default_path_follows_the_environment(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.delenv("SQNFLASH_JOURNAL")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert journal_mod.default_path() == tmp_path / "state" / "sqnflash" / "journal.db"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert journal_mod.default_path() == tmp_path / "home/.local/state/sqnflash/journal.db"
    monkeypatch.setenv("SQNFLASH_JOURNAL", str(tmp_path / "mine.db"))
    assert journal_mod.default_path() == tmp_path / "mine.db"


def test_progress_survives_closing_and_reopening(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "journal.db"  # folders are made
    with Journal.open(path) as journal:
        record = begin(journal)
        record.step_started("prepare")
        record.step_done("prepare")
        record.step_started("send-image")
        record.checkpoint("send-image", Checkpoint("block", 6_059_510, 40320, 42, 2016, 2016, 1,
                                                  8192), 921600)
    with Journal.open(path) as journal:
        found = journal.unfinished(image_sha256="ab" * 32, port="/dev/ttyUSB0")
        assert found is not None and found.id == record.id
        assert found.completed == ["prepare"] and found.current_step == "send-image"
        assert found.transfer is not None and found.transfer.tid == 42
        assert (found.confirmed_offset, found.transfer_baud) == (40320, 921600)
        assert found.outcome == "running"


def test_an_unfinished_upgrade_is_found_by_imei_or_by_port(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.db") as journal:
        record = begin(journal)
        # The modem in RECOVERY does not tell its IMEI: the port finds it.
        assert journal.unfinished(image_sha256="ab" * 32, port="/dev/ttyUSB0") is not None
        # Replugged on another port, the IMEI finds it.
        assert journal.unfinished(image_sha256="ab" * 32, port="/dev/ttyUSB3",
                                  imei="354346090000009") is not None
        # Another modem on the same port is not this upgrade; nor is another image.
        assert journal.unfinished(image_sha256="ab" * 32, port="/dev/ttyUSB3",
                                  imei="111111111111111") is None
        assert journal.unfinished(image_sha256="cd" * 32, port="/dev/ttyUSB0") is None
        record.finish("completed", after={"software_build": 41019})
        assert journal.unfinished(image_sha256="ab" * 32, port="/dev/ttyUSB0") is None


def test_a_new_upgrade_of_the_same_modem_supersedes_the_unfinished_one(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.db") as journal:
        old = begin(journal)
        begin(journal, sha="cd" * 32)
        again = journal.get(old.id)
        assert again is not None and again.outcome == "superseded"
        resumed = journal.resume(again, port="/dev/ttyUSB1", imei=None)
        assert resumed.resumes == 1 and resumed.port == "/dev/ttyUSB1"


def test_history_is_newest_first_and_filters_by_imei(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.db") as journal:
        first = begin(journal, imei="354346090000009", port="a")
        second = begin(journal, imei="354346090000017", port="b")
        second.finish("failed", error=TransferFailed("BLOCK at byte 4032 failed"))
        assert [r.id for r in journal.history()] == [second.id, first.id]
        (only,) = journal.history(imei="354346090000017")
        data = only.to_dict()
        assert data["outcome"] == "failed" and data["error_code"] == "SQF-E401"
        assert data["before_build"] == 38638 and data["image"] == "CATM1-41019.dup"


def test_a_journal_from_a_newer_sqnflash_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version=99")
    with pytest.raises(JournalError, match="newer sqnflash"):
        Journal.open(path)


def test_an_unusable_path_is_a_journal_error_naming_it(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(JournalError) as caught:
        Journal.open(folder)
    assert str(folder) in caught.value.cause and caught.value.exit_code == 75
