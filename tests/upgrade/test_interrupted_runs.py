"""Runs that end early (a bug, a lost port, a killed process) leave a journal record that says so:
never "running" for a run that is gone."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import serial

from sqnflash.errors import PortLost, SessionLost
from sqnflash.modem import Modem
from sqnflash.upgrade import upgrade
from sqnflash.upgrade.journal import Journal
from tests.support.images import FROM, Firmware
from tests.support.processes import dead_pid

# --------------------------------------------------------------------------- the journal


def test_a_run_that_crashes_with_a_bug_is_journaled_interrupted(
        firmware: Firmware, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(Modem, "upload", broken)
    port = serial.serial_for_url(f"sim://?clock=virtual&version={FROM}", baudrate=921600)
    with Journal.open(tmp_path / "j.db") as journal, Modem.open(port) as modem:
        with pytest.raises(RuntimeError):
            upgrade(modem, firmware.full, journal=journal)
        (record,) = journal.history()
    assert record.outcome == "interrupted" and record.pid == os.getpid()
    assert (record.error_code, record.error) == ("SQF-E999", "RuntimeError: a bug")
    assert record.to_dict()["outcome"] == "interrupted"


def _begin(journal: Journal) -> int:
    number = len(journal.history())  # a modem each: a new upgrade supersedes the same modem's
    record = journal.begin(imei=f"35434609000000{number}", port=f"/dev/ttyUSB{number}",
                           image_name="x.dup",
                           image_sha256="0" * 64, image_size=10, updater_sha256=None,
                           flow="application", method="fff", steps=["prepare"], plan={},
                           before={})
    return record.id


def test_a_running_record_whose_process_is_gone_is_shown_interrupted(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.db") as journal:
        alive, dead, unknown = _begin(journal), _begin(journal), _begin(journal)
        journal.update(dead, pid=dead_pid())
        journal.update(unknown, pid=None)  # written before runs recorded their process
        shown = {r.id: r.to_dict() for r in journal.history()}
    assert shown[alive]["outcome"] == "running" and shown[alive]["pid"] == os.getpid()
    assert shown[dead]["outcome"] == "interrupted"
    assert shown[dead]["stopped"].endswith("ended without recording an outcome (killed)")
    assert shown[unknown]["outcome"] == "running" and "stopped" not in shown[unknown]


def test_a_journal_from_before_the_pid_column_is_extended(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with Journal.open(path) as journal:
        first = _begin(journal)
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE upgrades DROP COLUMN pid")
    db.commit()
    db.close()
    with Journal.open(path) as journal:
        old = journal.get(first)
        assert old is not None and old.pid is None and old.outcome == "running"
        again = journal.get(_begin(journal))
        assert again is not None and again.pid == os.getpid()


# --------------------------------------------------------------------------- the runner


def _lost(*args: Any, **kwargs: Any) -> None:
    raise PortLost("/dev/ttyUSB0: read failed: [Errno 5] Input/output error")


def _session_lost(*args: Any, **kwargs: Any) -> None:
    raise SessionLost("the modem stopped answering inside the transfer")


@pytest.mark.parametrize("breaks", [
    # the port goes in a step before the point of no return: nothing can be put back
    {"prepare": _lost},
    # the modem goes silent in a transfer, and looking for it finds the port gone
    {"upload": _session_lost, "wait_ready": _lost},
], ids=["in-prepare", "looking-for-the-modem"])
def test_a_lost_port_ends_the_run_with_the_steps_state_and_an_interrupted_record(
        firmware: Firmware, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        breaks: dict[str, Callable[..., None]]) -> None:
    port = serial.serial_for_url(f"sim://?clock=virtual&version={FROM}", baudrate=921600)
    with Journal.open(tmp_path / "j.db") as journal, Modem.open(port) as modem:
        modem.wake()
        for name, broken in breaks.items():
            monkeypatch.setattr(Modem, name, broken)
        with pytest.raises(PortLost) as caught:
            upgrade(modem, firmware.diff, journal=journal)
        (record,) = journal.history()
    step = record.current_step
    assert caught.value.details["step"] == step
    assert caught.value.modem_state is not None
    assert "could not be put back" not in caught.value.modem_state  # nobody tried, no port
    assert record.outcome == "interrupted" and record.error_code == "SQF-E203"
    assert record.modem_state == caught.value.modem_state
    assert step == ("prepare" if "prepare" in breaks else "store-image")
