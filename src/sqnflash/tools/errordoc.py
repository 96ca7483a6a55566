"""docs/errors.md, generated from the error catalogue in errors.py.

    python -m sqnflash.tools.errordoc > docs/errors.md

A test compares the file with this output, so the page never lags behind the code.
"""

from __future__ import annotations

import sys

from sqnflash.errors import CATALOGUE, SqnflashError

GROUPS = {
    "1": "Files and options (nothing was sent to the modem)",
    "2": "Serial ports and links",
    "3": "Talking to the modem",
    "4": "STP transfers",
    "5": "The upgrade and recovery",
    "6": "Pycom boards",
    "9": "Interruptions and internal errors",
}


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render() -> str:
    lines = [
        "# sqnflash errors",
        "",
        "Every error sqnflash reports has a stable code, a process exit status, a cause and",
        "advice on what to do next. The CLI prints them as `error SQF-Ennn: <cause>`, then the",
        "modem's state and the advice (`--json`: an object with `code`, `cause`, `advice`,",
        "`exit_code`, `modem_state`). The cause printed names the file, port or step concerned;",
        "the cause below is the general one.",
        "",
        "This page is generated from `src/sqnflash/errors.py` by",
        "`python -m sqnflash.tools.errordoc > docs/errors.md`.",
    ]
    errors: list[type[SqnflashError]] = sorted(CATALOGUE.values(), key=lambda e: e.code)
    group = None
    for error in errors:
        first = error.code.removeprefix("SQF-E")[:1]
        if first != group:
            group = first
            lines += ["", f"## E{first}xx: {GROUPS.get(first, 'Other')}", "",
                      "| code | exit | name | cause | what to do |",
                      "|---|---|---|---|---|"]
        lines.append(f"| {error.code} | {error.exit_code} | {error.__name__} | "
                     f"{_cell(error.summary)} | {_cell(error.advice)} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
