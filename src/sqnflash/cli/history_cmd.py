"""`sqnflash history`, and the --journal option of the commands that write the journal."""

from __future__ import annotations

import csv
import os
import re
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from sqnflash.cli.common import given_as, output_path_error
from sqnflash.cli.output import console, emit_json
from sqnflash.errors import BadOption, FolderMissing
from sqnflash.upgrade.journal import (
    ENV_VAR,
    STATION_ENV_VAR,
    Journal,
    default_path,
    is_url,
)

F = TypeVar("F", bound=Callable[..., Any])


def _check_journal(ctx: click.Context, param: click.Parameter, value: str | None
                   ) -> Path | str | None:
    """A journal path that cannot be a file is refused before anything else; a missing folder
    is created by the commands that write (only `history` refuses it: it only reads). A
    postgresql:// URL is checked by connecting to it."""
    if value is None:
        return None
    if is_url(value):
        return value.strip()
    path = Path(value)
    error = output_path_error(path.expanduser(), given_as(ctx, param))
    if isinstance(error, FolderMissing):
        return path
    if error is not None:
        raise error
    return path


def station_option(func: F) -> F:
    return click.option(
        "--station", envvar=STATION_ENV_VAR, metavar="NAME",
        help="The name this computer's upgrades carry in the journal (for a journal shared by "
             "the stations of a line). Default: $SQNFLASH_STATION, else the host name.")(func)


def journal_option(func: F) -> F:
    return click.option(
        "--journal", "journal_path", type=str, metavar="PATH|URL",
        envvar=ENV_VAR, callback=_check_journal,
        help="The upgrade journal that lets an interrupted upgrade continue where it stopped: "
             "an SQLite file, or postgresql://user:password@host/db to share one journal "
             "between stations (needs `pip install 'sqnflash[postgres]'`). Default: "
             "$SQNFLASH_JOURNAL, else ~/.local/state/sqnflash/journal.db "
             "($XDG_STATE_HOME).")(func)


def open_journal(path: Path | str | None, station: str | None = None) -> Journal:
    return Journal.open(path, station=station)


_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: float | None = None) -> float:
    """--since: a date (2026-11-30), a local time (2026-11-30T08:00) or an age (90m, 12h, 7d)."""
    value = text.strip()
    relative = _RELATIVE.match(value.lower())
    if relative:
        amount, unit = relative.groups()
        return (time.time() if now is None else now) - float(amount) * _UNIT_S[unit]
    try:
        return datetime.fromisoformat(value.replace(" ", "T", 1)).timestamp()
    except ValueError:
        raise BadOption(f"--since {text!r} is neither a date (2026-11-30, 2026-11-30T08:00) "
                        "nor an age (90m, 12h, 7d)") from None


CSV_FIELDS = ("id", "started_at", "finished_at", "station", "port", "imei", "image",
              "before_build", "after_build", "outcome", "error_code", "modem_state", "resumes")


def _offset(record: dict[str, Any]) -> str:
    offset, size = record.get("confirmed_offset"), record.get("image_size")
    if offset is None or record["outcome"] == "completed" or not size:
        return ""
    return f"{offset}/{size} B ({100 * offset / size:.0f} %)"


@click.command("history")
@click.option("--imei", help="Only the upgrades of the modem with this IMEI.")
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True,
              help="At most this many upgrades, newest first.")
@click.option("--since", metavar="WHEN",
              help="Only upgrades started since then: a date (2026-11-30), a local time "
                   "(2026-11-30T08:00) or an age (90m, 12h, 7d).")
@click.option("--outcome", type=click.Choice(["completed", "failed", "interrupted", "running",
                                              "superseded"]),
              help="Only upgrades that ended so.")
@click.option("--station", metavar="NAME", help="Only upgrades run at that station.")
@click.option("--summary", is_flag=True,
              help="How many modems run which build (each modem counted once, with the build "
                   "its latest completed upgrade installed), instead of the list.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per upgrade.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header line, for a spreadsheet.")
@click.option("--create", is_flag=True,
              help="Create the journal (and its folder) if it does not exist yet.")
@journal_option
def history(imei: str | None, limit: int, since: str | None, outcome: str | None,
            station: str | None, summary: bool, as_json: bool, as_csv: bool, create: bool,
            journal_path: Path | str | None) -> None:
    """List past upgrades from the journal, newest first (all stations of a shared journal)."""
    if as_json and as_csv:
        raise BadOption("--json and --csv: choose one")
    since_t = parse_since(since) if since is not None else None
    if is_url(journal_path) or (journal_path is None and is_url(_env_journal())):
        with open_journal(journal_path) as journal:
            _show(journal, imei=imei, limit=limit, since=since_t, outcome=outcome,
                  station=station, summary=summary, as_json=as_json, as_csv=as_csv)
        return
    target = (Path(journal_path).expanduser() if journal_path is not None
              else default_path())
    if not create and not target.exists():
        # Reading must not leave a folder and an empty database behind a typo. A configured
        # ($SQNFLASH_JOURNAL) or default journal is only missing until the first upgrade.
        typed = (click.get_current_context().get_parameter_source("journal_path")
                 == ParameterSource.COMMANDLINE)
        if typed and not target.parent.is_dir():
            raise FolderMissing(
                f"--journal {journal_path}: the folder {target.parent} does not exist",
                advice="Check the path for a typo (`sqnflash history` without --journal reads "
                       "the default journal); pass --create to start a new journal there.")
        if not as_json:
            console.print(f"no upgrades in {target}: the journal does not exist yet"
                          + (f" (no upgrade of IMEI {imei})" if imei else ""))
        return
    with open_journal(target) as journal:
        _show(journal, imei=imei, limit=limit, since=since_t, outcome=outcome,
              station=station, summary=summary, as_json=as_json, as_csv=as_csv)


def _env_journal() -> str:
    return os.environ.get(ENV_VAR, "").strip()


def _show(journal: Journal, *, imei: str | None, limit: int, since: float | None,
          outcome: str | None, station: str | None, summary: bool, as_json: bool,
          as_csv: bool) -> None:
    where = journal.where
    if summary:
        per_build = journal.builds(station=station)
        if as_json:
            for build, modems in per_build:
                emit_json({"type": "build", "build": build, "modems": modems})
        elif as_csv:
            table = csv.writer(sys.stdout, lineterminator="\n")
            table.writerow(("build", "modems"))
            table.writerows(per_build)
        elif not per_build:
            console.print(f"no completed upgrade in {where}")
        else:
            console.print(f"modems per build in {where} (latest completed upgrade of each):")
            for name, modems in per_build:
                console.print(f"  build {name:<12} {modems} modem{'s' if modems != 1 else ''}")
        return
    records = [r.to_dict() for r in journal.history(
        imei=imei, limit=limit, since=since, outcome=outcome, station=station)]
    if as_json:
        for record in records:
            emit_json({"type": "upgrade", **record})
        return
    if as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=CSV_FIELDS, extrasaction="ignore",
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        return
    if not records:
        console.print(f"no upgrades in {where}" + (f" for IMEI {imei}" if imei else ""))
        return
    console.print(f"upgrades in {where}, newest first:")
    colours = {"completed": "green", "running": "yellow", "interrupted": "yellow"}
    for record in records:
        builds = f"{record['before_build'] or '?'} -> {record['after_build'] or '?'}"
        progress = f"{len(record['completed'])}/{len(record['steps'])} steps"
        if record["outcome"] != "completed":
            extra = record["error_code"] or record["current_step"] or ""
            progress += "".join(f" {part}" for part in (_offset(record), extra) if part)
        outcome = record["outcome"]
        at = f" @{record['station']}" if record.get("station") else ""
        console.print(f"#{record['id']} {record['started_at']}{at} {record['modem']} "
                      f"{record['image']} {builds} [{colours.get(outcome, 'red')}]{outcome}[/] "
                      f"({progress})", soft_wrap=True)
