"""Runs that end badly, as a user meets them: the installed CLI in subprocesses against
`sqnflash sim --pty` on the real clock.

- a second run started on a port the first one is upgrading through;
- a run whose port disappears mid-transfer (the pty's server killed: the same EIO a pulled USB
  adapter gives), or that is stopped by SIGTERM, Ctrl-C (SIGINT) or SIGKILL.

Each must end with a typed error that says where the modem is, and the journal (and `sqnflash
history`) must never show a dead run as running.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sqnflash.sim.images import Family, ImageKind, make_image
from sqnflash.upgrade.journal import Journal
from tests.support.cli import json_lines, sqnflash
from tests.support.images import TO
from tests.support.pty import PtySim, StartSim, needs_pty

pytestmark = [
    pytest.mark.slow,
    needs_pty,
]

IMAGE_SIZE = 300_000  # several seconds over the pty: room to act in the middle of the transfer
LONG_IMAGE_SIZE = 900_000  # the first of two runs must still be sending when the second gives up
QUICK = ["--set", "reboot_s=0.2", "--set", "apply_s=0.5"]
TIMEOUT_S = 90.0


@pytest.fixture
def sim(start_sim: StartSim) -> PtySim:
    return start_sim("--mode", "recovery", *QUICK)


def image(folder: Path, size: int) -> Path:
    path = folder / f"CATM1-{TO}.dup"
    path.write_bytes(make_image(ImageKind.FULL, Family.CATM1, TO, size=size))
    return path


def upgrade_args(sim: PtySim, image: Path, journal: Path, *more: str) -> list[str]:
    return sqnflash("upgrade", "--port", str(sim.link), str(image), "--json", "--journal",
                    str(journal), *more)


class Upgrade:
    """An upgrade subprocess whose JSON events are read as they come."""

    def __init__(self, command: list[str]) -> None:
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.events: list[dict[str, Any]] = []

    def until_progress(self, fraction: float) -> None:
        """Read events until the transfer has confirmed `fraction` of the image."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            event = json.loads(line)
            self.events.append(event)
            assert event["type"] not in ("result", "error"), event
            if event["type"] == "progress" and event["done"] >= fraction * event["total"]:
                return
        raise AssertionError(f"the upgrade ended before {fraction:.0%}: {self.finish()}")

    def finish(self) -> int:
        out, err = self.proc.communicate(timeout=TIMEOUT_S)
        self.events += json_lines(out)
        self.stderr = err
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)


def history(journal: Path) -> list[dict[str, Any]]:
    done = subprocess.run(sqnflash("history", "--json", "--journal", str(journal)),
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    return json_lines(done.stdout)


def history_text(journal: Path) -> str:
    done = subprocess.run(sqnflash("history", "--journal", str(journal)), capture_output=True,
                          text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    return done.stdout


# --------------------------------------------------------------------------- one owner per port


def test_a_second_run_on_the_same_port_stops_at_once_and_the_first_completes(
        sim: PtySim, tmp_path: Path) -> None:
    dup = image(tmp_path, LONG_IMAGE_SIZE)
    journal = tmp_path / "journal.db"
    first = Upgrade(upgrade_args(sim, dup, journal))
    try:
        first.until_progress(0.05)
        trace = tmp_path / "second.trace"
        second = subprocess.run(upgrade_args(sim, dup, journal, "--trace-file", str(trace)),
                                capture_output=True, text=True, timeout=TIMEOUT_S)
        # Checked before the first run is waited for: the second gave up while it was sending.
        first_still_running = first.proc.poll() is None
        code = first.finish()
    finally:
        first.kill()
    assert second.returncode == 31, second.stdout + second.stderr
    (error,) = json_lines(second.stdout)
    assert error["type"] == "error" and error["code"] == "SQF-E202"
    assert f"in use by pid {first.proc.pid} (sqnflash upgrade) since " in error["cause"]
    assert first_still_running
    assert trace.read_text() == ""  # the port was not even opened: not one byte was sent

    assert code == 0, first.stderr[-2000:]
    result = first.events[-1]
    assert result["type"] == "result" and result["after"]["software_build"] == TO
    assert result["transfers"]["send-image"]["bytes"] == LONG_IMAGE_SIZE  # sent once, no restart
    summary = sim.stop()
    assert summary["stp_sessions"] == 1 and summary["stp_repeats"] == 0
    assert summary["upgrades"] == [{"via": "on-the-fly", "kind": "full", "from": 38638,
                                    "to": TO, "result": "success"}]
    (record,) = history(journal)  # the second run journaled nothing
    assert record["outcome"] == "completed"


def test_the_same_modem_through_a_second_port_is_left_to_the_run_that_has_it(
        start_sim: StartSim, tmp_path: Path) -> None:
    # Two ports, one modem (the same IMEI answers on both): a board's USB port and an adapter.
    first_port, second_port = start_sim("--mode", "app", *QUICK), start_sim("--mode", "app", *QUICK)
    dup = image(tmp_path, LONG_IMAGE_SIZE)
    journal = tmp_path / "journal.db"
    first = Upgrade(upgrade_args(first_port, dup, journal))
    try:
        first.until_progress(0.05)
        second = subprocess.run(upgrade_args(second_port, dup, journal), capture_output=True,
                                text=True, timeout=TIMEOUT_S)
        code = first.finish()
    finally:
        first.kill()
    assert second.returncode == 34, second.stdout + second.stderr
    error = json.loads(second.stdout.splitlines()[-1])
    assert error["code"] == "SQF-E205"
    assert error["cause"].startswith(f"the modem with IMEI 354346090000009 is in use through "
                                     f"{first_port.link} by pid {first.proc.pid} ")
    assert code == 0, first.stderr[-2000:]
    assert first.events[-1]["after"]["software_build"] == TO
    untouched = second_port.stop()  # the second run only read the modem
    assert untouched["version"] == 38638 and untouched["stp_sessions"] == 0
    (record,) = history(journal)
    assert record["outcome"] == "completed" and record["port"] == str(first_port.link)


# --------------------------------------------------------------------------- how a run ends


@dataclass(frozen=True)
class Ending:
    name: str
    stop: Callable[[Upgrade, PtySim], None]
    exit_code: int
    error_code: str | None  # what the run prints (None: killed, it prints nothing)
    cause: str  # in the error's cause
    journaled: str  # the outcome the journal stores


def _signal(sig: int) -> Callable[[Upgrade, PtySim], None]:
    def send(run: Upgrade, sim: PtySim) -> None:
        run.proc.send_signal(sig)
    return send


def _pull_the_cable(run: Upgrade, sim: PtySim) -> None:
    sim.kill()


ENDINGS = [
    Ending("port-lost", _pull_the_cable, 32, "SQF-E203", "Input/output error", "interrupted"),
    Ending("sigterm", _signal(signal.SIGTERM), 130, "SQF-E901",
           "stopped by SIGTERM during 'Send CATM1-41019.dup ON_THE_FLY'", "interrupted"),
    Ending("ctrl-c", _signal(signal.SIGINT), 130, "SQF-E901",
           "interrupted during 'Send CATM1-41019.dup ON_THE_FLY'", "interrupted"),
    Ending("sigkill", _signal(signal.SIGKILL), -signal.SIGKILL, None, "", "running"),
]


@pytest.mark.parametrize("ending", ENDINGS, ids=[e.name for e in ENDINGS])
def test_a_run_that_ends_mid_transfer_says_where_the_modem_is_and_is_journaled_interrupted(
        sim: PtySim, tmp_path: Path, ending: Ending) -> None:
    journal = tmp_path / "journal.db"
    run = Upgrade(upgrade_args(sim, image(tmp_path, IMAGE_SIZE), journal))
    try:
        run.until_progress(0.2)
        ending.stop(run, sim)
        code = run.finish()
    finally:
        run.kill()
    assert code == ending.exit_code, run.stderr[-2000:]
    if ending.error_code is not None:
        error = run.events[-1]
        assert error["type"] == "error" and error["code"] == ending.error_code, error
        assert ending.cause in error["cause"]
        assert error["modem_state"].startswith("in RECOVERY with a partly written image")
        assert error["exit_code"] == ending.exit_code
        assert "Traceback" not in run.stderr

    with Journal.open(journal) as opened:
        (stored,) = opened.history()
    assert stored.outcome == ending.journaled
    assert stored.pid == run.proc.pid
    assert stored.confirmed_offset is not None and 0 < stored.confirmed_offset < IMAGE_SIZE
    (shown,) = history(journal)
    assert shown["outcome"] == "interrupted"  # never "running": that process is gone
    assert shown["error_code"] == ending.error_code
    if ending.error_code is None:
        assert shown["stopped"] == (f"process {run.proc.pid} ended without recording an "
                                    "outcome (killed)")
    assert " interrupted (0/4 steps" in history_text(journal)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_the_same_command_continues_and_takes_over_only_a_lock_left_behind(
        sim: PtySim, tmp_path: Path, sig: int) -> None:
    journal = tmp_path / "journal.db"
    command = upgrade_args(sim, image(tmp_path, IMAGE_SIZE), journal)
    run = Upgrade(command)
    try:
        run.until_progress(0.3)
        run.proc.send_signal(sig)
        assert run.finish() == (130 if sig == signal.SIGTERM else -signal.SIGKILL)
    finally:
        run.kill()
    with Journal.open(journal) as opened:
        (record,) = opened.history()
    assert record.transfer is not None
    confirmed = record.transfer.offset

    again = Upgrade(command)
    try:
        assert again.finish() == 0, again.stderr[-2000:]
    finally:
        again.kill()
    notes = [e["text"] for e in again.events if e["type"] == "note"]
    assert any(f"from byte {confirmed} of {IMAGE_SIZE}" in n for n in notes), notes
    took_over = [n for n in notes if n.startswith("took over the lock")]
    if sig == signal.SIGKILL:  # no chance to let go of it: the next run says whose it was
        (note,) = took_over
        assert note.startswith(f"took over the lock on {sim.link} left by pid {run.proc.pid} "
                               "(sqnflash upgrade) since ")
        assert note.endswith(", which no longer runs: it was stopped before it could let go "
                             "of it")
    else:
        assert took_over == []  # SIGTERM let go of it on the way out
    assert again.events[-1]["after"]["software_build"] == TO
    (shown,) = history(journal)
    assert shown["outcome"] == "completed" and shown["resumes"] == 1
