"""Where the CLI writes: rich text for people, one JSON object per line for programs."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

from sqnflash.errors import SqnflashError

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def emit_json(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


def print_error(error: SqnflashError, *, as_json: bool) -> None:
    if as_json:
        emit_json({"type": "error", **error.to_dict()})
        return
    err_console.print(f"[bold red]error {error.code}[/]: {error.cause}")
    if error.modem_state:
        err_console.print(f"[yellow]modem state[/]: {error.modem_state}")
    err_console.print(f"[cyan]what to do[/]: {error.hint}")
