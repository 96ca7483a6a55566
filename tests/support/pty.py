"""`sqnflash sim --pty` in another process: the simulated modem behind a pseudo-terminal, reached
the way a real USB serial adapter is. Real clock, so tests using it are marked slow."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

needs_pty = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs pseudo-terminals")
READY_TIMEOUT_S = 30.0


class PtySim:
    """The simulator serving a pty whose symlink is `link`, once it printed its READY line."""

    def __init__(self, link: Path, *args: str, cwd: Path | None = None) -> None:
        self.link = link
        self.output: list[str] = []  # the non-empty stdout lines after READY, once stopped
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sqnflash", "sim", "--pty", "--link", str(link), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)
        try:
            self.device = self._ready()
        except BaseException:
            self.kill()
            raise

    def _ready(self) -> str:
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            if not selector.select(READY_TIMEOUT_S):
                raise AssertionError("no READY line from `sqnflash sim --pty`")
        line = self.proc.stdout.readline()
        assert line.startswith("READY "), (line, self.proc.stderr.read() if self.proc.stderr
                                           else "")
        device = line.split(None, 1)[1].strip()
        assert self.link.is_symlink() and str(self.link.readlink()) == device
        return device

    def stop(self) -> dict[str, Any]:
        """SIGTERM, then the JSON summary the command prints on its way out."""
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=20)
        assert self.proc.returncode == 0, err
        self.output = [line for line in out.splitlines() if line.strip()]
        assert self.output, err
        summary: dict[str, Any] = json.loads(self.output[-1])
        return summary

    def kill(self) -> None:
        """The pty's server gone at once: the same EIO an unplugged USB adapter gives."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=10)


StartSim = Callable[..., PtySim]


@pytest.fixture
def start_sim(tmp_path: Path) -> Iterator[StartSim]:
    """`start_sim(*args)`: a new `sqnflash sim --pty` with those arguments, its link in
    tmp_path; every one still running is killed after the test."""
    started: list[PtySim] = []

    def start(*args: str, cwd: Path | None = None) -> PtySim:
        started.append(PtySim(tmp_path / f"modem{len(started)}", *args, cwd=cwd))
        return started[-1]

    yield start
    for sim in started:
        sim.kill()
