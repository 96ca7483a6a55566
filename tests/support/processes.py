"""Processes for the ownership tests."""

from __future__ import annotations

import subprocess
import sys


def dead_pid() -> int:
    """The id of a process that has ended: what a lock or journal record of a killed run names."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid
