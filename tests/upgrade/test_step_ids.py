"""Step ids are stored in the journal as strings: an upgrade interrupted by one version of
sqnflash must resume under the next, so the stored strings never change."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from sqnflash.upgrade import StepId
from sqnflash.upgrade.journal import Journal

STORED = ["prepare", "switch-recovery", "send-bootrom", "switch-ffh", "negotiate-baud",
          "send-updater", "store-image", "apply-stored", "send-image", "apply",
          "switch-application", "verify", "refresh-bootrom", "finish-apply", "try-application",
          "radio-on"]


def test_the_stored_strings_are_those_older_journals_hold() -> None:
    assert sorted(step.value for step in StepId) == sorted(STORED)


def test_a_step_id_is_written_and_shown_as_its_stored_string() -> None:
    step = StepId.SEND_IMAGE
    assert (str(step), f"{step}", f"{step:>12}", json.dumps([step])) == (
        "send-image", "send-image", "  send-image", '["send-image"]')
    typed: dict[str, int] = {StepId.SEND_IMAGE: 1}
    assert typed["send-image"] == 1  # a stored string finds typed entries
    assert StepId("send-image") is StepId.SEND_IMAGE


def test_the_journal_keeps_the_plain_strings(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "journal.db")
    record = journal.begin(imei="354346090000009", port="sim://", image_name="CATM1-39529.dup",
                           image_sha256="0" * 64, image_size=1, updater_sha256=None,
                           flow="application", method="fff",
                           steps=[StepId.PREPARE, StepId.STORE_IMAGE], plan={}, before={})
    record.step_started(StepId.PREPARE)
    record.step_done(StepId.PREPARE)
    journal.close()
    with sqlite3.connect(tmp_path / "journal.db") as db:
        row = db.execute("SELECT steps, completed, current_step FROM upgrades").fetchone()
    assert row == ('["prepare", "store-image"]', '["prepare"]', "prepare")
