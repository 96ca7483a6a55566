"""A run killed with SIGKILL mid-transfer leaves a capture that loads and replays up to there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sqnflash.cli.main import cli
from sqnflash.cli.replay_cmd import run_replay
from sqnflash.link.record import load_capture
from sqnflash.sim.images import Family, ImageKind, make_image

BLOCKS_BEFORE_KILL = 20


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX only")
def test_a_capture_cut_by_sigkill_loads_and_replays_to_its_end(tmp_path: Path) -> None:
    image = tmp_path / "CATM1-41019.dup"
    image.write_bytes(make_image(ImageKind.FULL, Family.CATM1, 41019, size=600_000))
    capture_path = tmp_path / "killed.jsonl"
    url = "sim://?clock=real&mode=recovery&reboot_s=0.2&apply_s=0.5"
    process = subprocess.Popen(
        [sys.executable, "-m", "sqnflash", "upgrade", "--port", url, "--record",
         str(capture_path), "--json", str(image)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    try:
        # No timing assumption: wait (however long the machine takes) until blocks are on disk.
        while process.poll() is None:
            if capture_path.exists() and capture_path.read_text().count('"len":') >= \
                    BLOCKS_BEFORE_KILL:
                break
            time.sleep(0.02)
        assert process.poll() is None, "the upgrade ended before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    capture = load_capture(capture_path)
    assert not capture.complete
    blocks = [r for r in capture.records if r.kind == "tx" and r.payload_len is not None]
    assert len(blocks) >= BLOCKS_BEFORE_KILL
    outcome = run_replay(capture, cli, folders=[tmp_path])
    assert outcome.problem() is None, outcome.problem()
    peer = outcome.simulator.peer
    assert peer.finished  # every recorded request was asked for again...
    assert peer.divergence is not None and peer.divergence.at_end  # ...then the capture ended
    assert outcome.exit_code != 0  # a modem that goes silent mid-transfer fails the run
