"""The journal in SQLite and in PostgreSQL: one schema, the station of each upgrade, the filters
of `history`, and stations that write to one PostgreSQL journal at once."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from sqnflash.errors import JournalDriverMissing, JournalUnreachable
from sqnflash.protocol.stp import Checkpoint
from sqnflash.upgrade import journal as journal_mod
from sqnflash.upgrade.journal import Journal


def begin(journal: Journal, *, imei: str | None = "354346090000009", port: str = "/dev/ttyUSB0",
          sha: str = "ab" * 32, after_build: int | None = None) -> journal_mod.UpgradeRecord:
    return journal.begin(imei=imei, port=port, image_name="CATM1-41019.dup", image_sha256=sha,
                         image_size=6_059_510, updater_sha256=None, flow="application",
                         method="on-the-fly", steps=["prepare", "send-image", "verify"],
                         plan={"flow": "application"},
                         before={"software_build": 38638, "smod": 2})


def run_one(journal: Journal, imei: str, exchanges: int, build: int = 41019) -> int:
    """One whole upgrade as the runner journals it: steps, a checkpoint per exchange, the end."""
    record = begin(journal, imei=imei, port=f"/dev/ttyUSB{imei[-1]}")
    for step in ("prepare", "send-image"):
        record.step_started(step)
        if step == "send-image":
            for n in range(1, exchanges + 1):
                record.checkpoint(step, Checkpoint("block", 6_059_510, n * 2016, 7, 2016, 2016,
                                                   n, 8192), 921600)
        record.step_done(step)
    record.finish("completed", after={"software_build": build})
    return record.id


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    if request.param == "sqlite":
        return tmp_path / "journal.db"
    url: str = request.getfixturevalue("postgresql_url")
    return url


@pytest.fixture
def postgresql_url(postgres_url: str) -> str:
    return postgres_url


def test_both_back_ends_keep_the_same_record_with_its_station(target: Path | str) -> None:
    with Journal.open(target, station="line-2") as journal:
        record = begin(journal)
        record.step_started("send-image")
        record.checkpoint("send-image", Checkpoint("block", 6_059_510, 40320, 42, 2016, 2016, 1,
                                                   8192), 921600)
    with Journal.open(target, station="line-2") as journal:
        found = journal.unfinished(image_sha256="ab" * 32, port="/dev/ttyUSB0",
                                   imei="354346090000009")
        assert found is not None and found.id == record.id
        assert found.station == "line-2" and found.transfer is not None
        assert (found.confirmed_offset, found.transfer_baud) == (40320, 921600)
        found.finish("completed", after={"software_build": 41019})
        rows = journal.history()
    assert [r.to_dict()["station"] for r in rows] == ["line-2"]
    assert rows[0].outcome == "completed" and rows[0].to_dict()["after_build"] == 41019


def test_another_stations_port_is_another_modem(target: Path | str) -> None:
    """/dev/ttyUSB0 at one station is not /dev/ttyUSB0 at the next: a modem without a known IMEI
    is only continued from the station that began it."""
    with Journal.open(target, station="a") as a, Journal.open(target, station="b") as b:
        begin(a, imei=None)
        assert b.unfinished(image_sha256="ab" * 32, port="/dev/ttyUSB0") is None
        assert a.unfinished(image_sha256="ab" * 32, port="/dev/ttyUSB0") is not None
        begin(b, imei=None)  # does not supersede station a's unfinished upgrade
        assert a.unfinished(image_sha256="ab" * 32, port="/dev/ttyUSB0") is not None


def test_history_filters_and_the_per_build_summary(target: Path | str) -> None:
    with Journal.open(target, station="a") as a, Journal.open(target, station="b") as b:
        run_one(a, "354346090000001", 2)
        run_one(a, "354346090000002", 2)
        run_one(b, "354346090000003", 2, build=41065)
        failed = begin(b, imei="354346090000004")
        failed.finish("failed")
        cut = time.time() + 1
        assert [r.station for r in a.history(station="b")] == ["b", "b"]
        assert [r.imei for r in a.history(outcome="failed")] == ["354346090000004"]
        assert a.history(since=cut) == []
        assert len(a.history(since=cut - 60)) == 4
        assert a.builds() == [("41019", 2), ("41065", 1)]
        assert a.builds(station="b") == [("41065", 1)]
        # A modem upgraded twice counts once, with its latest build.
        run_one(b, "354346090000001", 1, build=41065)
        assert a.builds() == [("41065", 2), ("41019", 1)]


def test_an_sqlite_journal_of_the_previous_version_gains_the_station_column(
        tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(journal_mod._SCHEMA.replace("    pid INTEGER,\n    station TEXT\n",
                                                 "    pid INTEGER\n"))
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()
    with Journal.open(path, station="s1") as journal:
        assert begin(journal).station == "s1"
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 3


def test_two_stations_writing_to_one_postgresql_journal_at_once_lose_no_record(
        postgres_url: str) -> None:
    """Two stations, each upgrading modems one after the other with a journal write per
    exchange, start together on a database nobody has created the table in yet."""
    per_station, exchanges = 12, 25
    ids: dict[str, list[int]] = {"north": [], "south": []}
    failures: list[BaseException] = []
    start = threading.Barrier(2)

    def station(name: str, digit: int) -> None:
        try:
            start.wait()
            with Journal.open(postgres_url, station=name) as journal:
                for n in range(per_station):
                    ids[name].append(run_one(journal, f"35434609{digit}{n:06d}", exchanges))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=station, args=(name, digit))
               for digit, name in enumerate(ids, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with Journal.open(postgres_url) as journal:
        rows = journal.history(limit=None)
    assert len(rows) == 2 * per_station
    assert {r.id for r in rows} == set(ids["north"]) | set(ids["south"])
    for row in rows:
        # Each row holds its own upgrade only: its station's IMEIs, its own last exchange.
        digit = "1" if row.station == "north" else "2"
        assert row.imei is not None and row.imei[8] == digit
        assert row.outcome == "completed" and row.completed == ["prepare", "send-image"]
        assert row.confirmed_offset == exchanges * 2016
    assert journal_mod.Journal.open(postgres_url).builds() == [("41019", 2 * per_station)]


def test_an_unreachable_server_and_a_missing_driver_have_their_own_codes(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    url = f"postgresql://nobody:secret@/none?host={tmp_path}&port=1&connect_timeout=2"
    with pytest.raises(JournalUnreachable) as caught:
        Journal.open(url)
    assert caught.value.code == "SQF-E513" and caught.value.exit_code == 117
    assert "secret" not in caught.value.cause
    real_import = __import__

    def no_psycopg(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "psycopg" or name.startswith("psycopg."):
            raise ImportError("No module named 'psycopg'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr("builtins.__import__", no_psycopg)
    with pytest.raises(JournalDriverMissing) as missing:
        Journal.open(url)
    assert missing.value.exit_code == 113 and "sqnflash[postgres]" in missing.value.hint
