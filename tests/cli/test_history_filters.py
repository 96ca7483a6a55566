"""`sqnflash history`: the filters, CSV and JSON, the per-build summary, a PostgreSQL journal."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from sqnflash.cli.main import main
from sqnflash.upgrade.journal import Journal
from tests.support.cli import json_lines


def record(journal: Journal, imei: str, outcome: str, build: int = 41019) -> None:
    row = journal.begin(imei=imei, port="/dev/ttyUSB0", image_name=f"CATM1-{build}.dup",
                        image_sha256="cd" * 32, image_size=1000, updater_sha256=None,
                        flow="application", method="fff", steps=["store-image"], plan={},
                        before={"software_build": 38638})
    row.finish(outcome, after={"software_build": build} if outcome == "completed" else None)


def fill(target: Path | str) -> None:
    with Journal.open(target, station="north") as north, \
            Journal.open(target, station="south") as south:
        record(north, "354346090000011", "completed")
        record(north, "354346090000012", "completed")
        record(south, "354346090000013", "completed", build=41065)
        record(south, "354346090000014", "failed")


def test_filters_csv_and_summary(_journal_in_tmp: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    fill(_journal_in_tmp)
    assert main(["history", "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 4 and {r["station"] for r in rows} == {"north", "south"}
    assert rows[0]["imei"] == "354346090000014" and rows[0]["outcome"] == "failed"

    assert main(["history", "--json", "--station", "south", "--outcome", "completed"]) == 0
    only = json_lines(capsys.readouterr().out)
    assert [(o["imei"], o["after_build"]) for o in only] == [("354346090000013", 41065)]

    assert main(["history", "--json", "--since", "1h"]) == 0
    assert len(json_lines(capsys.readouterr().out)) == 4
    assert main(["history", "--json", "--since", "2999-01-01"]) == 0
    assert json_lines(capsys.readouterr().out) == []

    assert main(["history", "--summary", "--json"]) == 0
    assert json_lines(capsys.readouterr().out) == [
        {"type": "build", "build": "41019", "modems": 2},
        {"type": "build", "build": "41065", "modems": 1}]
    assert main(["history", "--summary"]) == 0
    assert "41019" in capsys.readouterr().out

    assert main(["history", "--since", "yesterday-ish", "--json"]) == 27
    assert "--since" in json_lines(capsys.readouterr().out)[-1]["cause"]


def test_history_reads_a_postgresql_journal(postgres_url: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    fill(postgres_url)
    assert main(["history", "--journal", postgres_url, "--json", "--outcome", "failed"]) == 0
    out = json_lines(capsys.readouterr().out)
    assert [(o["imei"], o["station"]) for o in out] == [("354346090000014", "south")]
    assert main(["history", "--journal", postgres_url, "--summary", "--csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["build,modems", "41019,2", "41065,1"]


def test_the_environment_can_name_a_postgresql_journal(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SQNFLASH_JOURNAL", postgres_url)
    monkeypatch.setenv("SQNFLASH_STATION", "east")
    with Journal.open(None) as journal:  # the environment's journal, this station's name
        assert journal.station == "east" and journal.where.startswith("postgresql://")
        record(journal, "354346090000021", "completed")
    assert main(["history", "--json"]) == 0
    assert [(o["imei"], o["station"]) for o in json_lines(capsys.readouterr().out)] == [
        ("354346090000021", "east")]
