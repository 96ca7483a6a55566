"""The kill test: `sqnflash upgrade` killed at a random moment of a transfer, then run again.

A real subprocess talks to `sqnflash sim --pty` on the real clock, so the kill lands wherever the
operating system happens to be (the seed of the moment is in the test's id and in any failure).
The same command run again must finish the upgrade: from the last confirmed offset while the
modem still holds the transfer session, or with a clean restart of the transfer when it does not,
and it must say which.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from sqnflash.sim.images import Family, ImageKind, make_image
from sqnflash.upgrade.journal import Journal
from tests.support.cli import json_lines
from tests.support.images import TO
from tests.support.pty import StartSim, needs_pty

pytestmark = [
    pytest.mark.slow,
    needs_pty,
]

IMAGE_SIZE = 200_000  # about 3 s over the pty at 921600 baud: room for a kill anywhere in it
QUICK = ["--set", "reboot_s=0.2", "--set", "apply_s=0.5"]
TIMEOUT_S = 60.0


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / f"CATM1-{TO}.dup"
    path.write_bytes(make_image(ImageKind.FULL, Family.CATM1, TO, size=IMAGE_SIZE))
    return path


def upgrade_command(link: Path, image: Path, journal: Path) -> list[str]:
    return [sys.executable, "-m", "sqnflash", "upgrade", "--port", str(link), str(image),
            "--json", "--journal", str(journal)]


def run_until_killed(command: list[str], kill_at: float) -> int:
    """Start the upgrade and SIGKILL it once its transfer has confirmed `kill_at` of the image;
    returns the bytes the last progress event reported."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    done = 0
    deadline = time.monotonic() + TIMEOUT_S
    try:
        for line in proc.stdout:
            event = json.loads(line)
            if event["type"] == "progress":
                done = event["done"]
                if done >= kill_at * event["total"]:
                    proc.send_signal(signal.SIGKILL)
                    break
            assert event["type"] != "result", "the upgrade finished before it could be killed"
            assert time.monotonic() < deadline
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    return done


def run(command: list[str]) -> list[dict[str, Any]]:
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return json_lines(result.stdout)


def notes(events: list[dict[str, Any]]) -> list[str]:
    return [e["text"] for e in events if e["type"] == "note"]


def journaled(journal: Path) -> tuple[int, int]:
    with Journal.open(journal) as opened:
        (record,) = opened.history()
        assert record.outcome == "running"  # killed: nobody wrote an outcome
        assert record.transfer is not None
        return record.id, record.transfer.offset


@pytest.mark.parametrize("seed", [1])
def test_killed_mid_transfer_continues_the_session_the_modem_holds(
        start_sim: StartSim, image: Path, tmp_path: Path, seed: int) -> None:
    kill_at = random.Random(seed).uniform(0.1, 0.9)
    sim = start_sim("--mode", "recovery", *QUICK)
    journal = tmp_path / "journal.db"
    command = upgrade_command(sim.link, image, journal)
    run_until_killed(command, kill_at)
    record_id, confirmed = journaled(journal)
    assert 0 < confirmed < IMAGE_SIZE, f"kill at {kill_at:.2f}"

    events = run(command)
    said = [n for n in notes(events) if "still holds the transfer session" in n]
    assert said and f"from byte {confirmed} of {IMAGE_SIZE}" in said[0], notes(events)
    (finished,) = [e for e in events if e["type"] == "transfer-finished"]
    result = events[-1]
    assert result["type"] == "result" and result["after"]["software_build"] == TO
    # Sent again: exactly what the journal had not confirmed (the block in flight at the kill
    # is in there, and the modem answers it as a repeat without writing it twice).
    assert result["transfers"]["send-image"]["bytes"] == IMAGE_SIZE - confirmed
    assert finished["total"] == IMAGE_SIZE
    summary = sim.stop()
    assert summary["version"] == TO and summary["mode"] == "FFF"
    assert summary["stp_sessions"] == 1  # the same session, continued
    assert summary["stp_repeats"] <= 1  # at most one block was sent beyond the confirmed offset
    assert summary["upgrades"] == [{"via": "on-the-fly", "kind": "full", "from": 38638,
                                    "to": TO, "result": "success"}]
    with Journal.open(journal) as opened:
        record = opened.get(record_id)
        assert record is not None and record.outcome == "completed" and record.resumes == 1


def test_killed_and_the_modem_gave_up_the_session_restarts_the_transfer_cleanly(
        start_sim: StartSim, image: Path, tmp_path: Path) -> None:
    sim = start_sim("--mode", "recovery", *QUICK, "--set", "stp_idle_timeout_s=0.5")
    journal = tmp_path / "journal.db"
    command = upgrade_command(sim.link, image, journal)
    run_until_killed(command, random.Random(3).uniform(0.2, 0.8))
    journaled(journal)
    time.sleep(1.0)  # the modem abandons the silent session: the partial image is dropped

    events = run(command)
    said = notes(events)
    assert any("no longer holds the transfer session" in n and "restarts cleanly" in n
               for n in said), said
    assert any("continuing the interrupted upgrade" in n for n in said), said
    result = events[-1]
    assert result["type"] == "result" and result["after"]["software_build"] == TO
    assert result["transfers"]["send-image"]["bytes"] == IMAGE_SIZE  # the whole image again
    summary = sim.stop()
    assert summary["stp_sessions"] == 2 and summary["version"] == TO


def test_info_after_a_kill_leaves_the_session_the_journal_can_continue(
        start_sim: StartSim, image: Path, tmp_path: Path) -> None:
    # What a user does first after a crash: look at the modem. Ending the session there would
    # make the upgrade send its whole image again.
    sim = start_sim("--mode", "recovery", *QUICK)
    journal = tmp_path / "journal.db"
    command = upgrade_command(sim.link, image, journal)
    run_until_killed(command, 0.5)
    _, confirmed = journaled(journal)
    looked = subprocess.run([sys.executable, "-m", "sqnflash", "info", "--port", str(sim.link),
                             "--journal", str(journal)], capture_output=True, text=True,
                            timeout=TIMEOUT_S)
    said = " ".join(looked.stdout.split() + looked.stderr.split())
    assert looked.returncode == 78, said  # SQF-E509: inside a transfer session
    assert "SQF-E509" in said and f"{confirmed} bytes confirmed" in said, said
    assert "continues from the last confirmed byte" in said and "left open" in said, said
    # A bug report's bundle asks the modem the same way, and leaves the session too.
    report = tmp_path / "report.zip"
    packed = subprocess.run([sys.executable, "-m", "sqnflash", "bundle", "--port", str(sim.link),
                             "--journal", str(journal), "-o", str(report)],
                            capture_output=True, text=True, timeout=TIMEOUT_S)
    assert packed.returncode == 0, packed.stdout + packed.stderr
    with zipfile.ZipFile(report) as bundle:
        asked = json.loads(bundle.read("info.json"))
    assert asked["ok"] is False and asked["code"] == "SQF-E509", asked
    events = run(command)
    said_notes = [n for n in notes(events) if "still holds the transfer session" in n]
    assert said_notes and f"from byte {confirmed} of {IMAGE_SIZE}" in said_notes[0]
    assert events[-1]["after"]["software_build"] == TO
    assert sim.stop()["stp_sessions"] == 1  # the same session, continued
