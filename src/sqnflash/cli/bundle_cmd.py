"""`sqnflash bundle`: one zip with what a bug report needs, redacted by default."""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path
from typing import Any

import click

from sqnflash.cli.common import (
    check_baud,
    check_input_paths,
    check_output_path,
    open_modem,
)
from sqnflash.cli.history_cmd import journal_option
from sqnflash.cli.output import console, emit_json
from sqnflash.cli.upgrade_cmd import session_to_keep
from sqnflash.errors import OutputUnwritable, SqnflashError
from sqnflash.events import discard
from sqnflash.link.lock import state_dir
from sqnflash.link.record import environment, load_capture, redact_capture, redact_text
from sqnflash.modem import APP_BAUD
from sqnflash.modem.rescue import wake_or_end_session
from sqnflash.upgrade.journal import Journal, default_path

JOURNAL_LIMIT = 20


def last_capture() -> Path | None:
    """The capture the last `--record` run wrote, if it is still there."""
    try:
        text = (state_dir() / "last-capture").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    path = Path(text) if text else None
    return path if path is not None and path.is_file() else None


def _json(data: Any, redact: bool) -> str:
    text = json.dumps(data, indent=1, default=str) + "\n"
    return redact_text(text) if redact else text


def _capture_text(path: Path, redact: bool) -> str:
    capture = load_capture(path)
    if not redact or capture.header.get("redacted"):
        return path.read_text(encoding="utf-8", errors="surrogateescape")
    header, records = redact_capture(capture)
    lines = [json.dumps(item, separators=(",", ":")) for item in (header, *records)]
    return "\n".join(lines) + "\n"


def _journal(path: Path | None) -> list[dict[str, Any]] | str:
    target = path.expanduser() if path is not None else default_path()
    if not target.exists():
        return f"no journal at {target}"
    try:
        with Journal.open(target) as journal:
            return [r.to_dict() for r in journal.history(limit=JOURNAL_LIMIT)]
    except SqnflashError as exc:
        return f"{exc.code}: {exc.cause}"


def _info(port: str, baud: int, journal_path: Path | None) -> dict[str, Any]:
    try:
        with open_modem(port, baud, False, False, None, discard) as modem:
            # As `info`: a transfer session the journal can still continue is left open.
            wake_or_end_session(modem, session_to_keep(journal_path, modem.link.name))
            return {"ok": True, **modem.info().to_dict()}
    except SqnflashError as exc:
        return {"ok": False, **exc.to_dict()}


@click.command("bundle")
@click.option("-o", "--output", type=click.Path(path_type=Path), callback=check_output_path,
              help="The zip to write [sqnflash-report-DATE-TIME.zip in the current folder].")
@click.option("--capture", "capture_path", type=click.Path(path_type=Path),
              callback=check_input_paths,
              help="The capture to include [the one the last --record run wrote].")
@click.option("--port", "-p", envvar="SQNFLASH_PORT",
              help="Also ask the modem on this port (`sqnflash info`) [$SQNFLASH_PORT].")
@click.option("--baud", "-b", default=str(APP_BAUD), envvar="SQNFLASH_BAUD",
              callback=check_baud, metavar="RATE", help="Baud rate to start at with --port.")
@click.option("--no-redact", is_flag=True,
              help="Keep IMEIs and serial numbers (they are masked by default).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@journal_option
def bundle_cmd(output: Path | None, capture_path: Path | None, port: str | None, baud: int,
               no_redact: bool, as_json: bool, journal_path: Path | None) -> None:
    """Pack what a bug report needs into one zip: the last run's capture (--record), the
    journal's last upgrades, `sqnflash info` when a modem answers on --port, and the versions of
    sqnflash, Python, pyserial and the OS. IMEIs and serial numbers are masked unless
    --no-redact. docs/reporting.md says how to use it."""
    redact = not no_redact
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = output or Path(f"sqnflash-report-{stamp}.zip")
    capture = capture_path or last_capture()
    contents: dict[str, str] = {}
    notes: list[str] = []
    versions = environment()
    contents["versions.json"] = _json(versions, False)
    if capture is not None:
        contents["capture.jsonl"] = _capture_text(capture, redact)
    else:
        notes.append("no capture: run the failing command again with --record FILE, then "
                     "`sqnflash bundle` (or pass --capture FILE)")
    contents["journal.json"] = _json(_journal(journal_path), redact)
    if port:
        contents["info.json"] = _json(_info(port, baud, journal_path), redact)
    else:
        notes.append("no modem asked: pass --port to include `sqnflash info`")
    manifest = {"made": stamp, "redacted": redact, "files": sorted(contents),
                "capture": capture.name if capture is not None else None, "notes": notes}
    contents["manifest.json"] = _json(manifest, False)
    try:
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, text in contents.items():
                archive.writestr(name, text)
    except OSError as exc:
        raise OutputUnwritable(f"{target}: {exc.strerror or exc}") from exc
    if as_json:
        emit_json({"type": "result", "ok": True, "bundle": str(target), **manifest})
        return
    console.print(f"[bold green]wrote {target}[/] ({', '.join(sorted(contents))}"
                  f"{'; IMEIs and serial numbers masked' if redact else ''})")
    for note in notes:
        console.print(f"[dim]{note}[/]")
