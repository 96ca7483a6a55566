"""Running the `sqnflash` command line from tests: in this process (fast, on sim:// with virtual
time) or as the installed command in a subprocess, and reading its JSON Lines output."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from sqnflash.cli.main import main


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every non-blank line of `text`, parsed: with --json every stdout line must be JSON."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def run_cli(args: list[str],
            capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, Any]]]:
    """`sqnflash <args>` in this process: its exit code and its stdout as JSON lines."""
    code = main(args)
    return code, json_lines(capsys.readouterr().out)


def sqnflash(*args: str) -> list[str]:
    """The command line that runs this checkout's `sqnflash` in a subprocess."""
    return [sys.executable, "-m", "sqnflash", *args]
