"""`sqnflash history`, and the journal the CLI's upgrades write ($SQNFLASH_JOURNAL in tests)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from sqnflash.cli.main import main
from sqnflash.sim.simulator import forget, named
from tests.support.cli import json_lines
from tests.support.images import FROM, TO, Firmware

IMEI = "354346090000009"


def history(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["history", "--json", *args]) == 0
    return json_lines(capsys.readouterr().out)


def test_upgrades_are_journaled_where_the_environment_says(
        firmware: Firmware, capsys: pytest.CaptureFixture[str], _journal_in_tmp: Path) -> None:
    url = f"sim://?clock=virtual&version={FROM}"
    assert main(["upgrade", "--port", url, str(firmware.path_of_full()), "--json"]) == 0
    assert _journal_in_tmp.exists()
    (record,) = history(capsys)
    assert record["outcome"] == "completed" and record["imei"] == IMEI
    assert (record["before_build"], record["after_build"]) == (FROM, TO)
    assert record["image"] == "CATM1-41019.dup" and record["completed"] == record["steps"]


def test_failures_are_listed_with_their_code_and_the_imei_filter_works(
        firmware: Firmware, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    journal = tmp_path / "other.db"
    url = f"sim://?clock=virtual&version={FROM}&fault_apply_fail=2"
    assert main(["upgrade", "--port", url, str(firmware.path_of_full()), "--method",
                 "on-the-fly", "--journal", str(journal), "--json"]) == 70
    (record,) = history(capsys, "--journal", str(journal), "--imei", IMEI)
    assert record["outcome"] == "failed" and record["error_code"] == "SQF-E501"
    assert record["modem_state"]
    assert history(capsys, "--journal", str(journal), "--imei", "999999999999999") == []
    assert main(["history", "--journal", str(journal)]) == 0
    text = capsys.readouterr().out
    assert "CATM1-41019.dup" in text and "failed" in text and "SQF-E501" in text


def test_the_same_command_again_continues_and_says_so(
        firmware: Firmware, capsys: pytest.CaptureFixture[str]) -> None:
    """The modem refused the image once (the run stops in RECOVERY, after the point of no
    return, without sending it again); running the same command again continues the journaled
    upgrade."""
    name = f"hist-{uuid.uuid4().hex}"
    url = f"sim://{name}?clock=virtual&version={FROM}&fault_apply_fail=1"
    command = ["upgrade", "--port", url, str(firmware.path_of_full()), "--method", "on-the-fly"]
    try:
        assert main(command) == 70
        capsys.readouterr()
        assert main(command) == 0
        out = capsys.readouterr().out
        assert "continuing the interrupted upgrade to CATM1-41019.dup from step 3" in out
        assert "Upgrade complete" in out
        sim = named(name)
        assert sim is not None and sim.summary()["version"] == TO
        (record,) = history(capsys)
        assert record["outcome"] == "completed" and record["resumes"] == 1
    finally:
        forget(name)
