"""`sqnflash history`, and the --journal option of the commands that write the journal."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from sqnflash.cli.common import given_as, output_path_error
from sqnflash.cli.output import console, emit_json
from sqnflash.errors import FolderMissing
from sqnflash.upgrade.journal import ENV_VAR, Journal, default_path

F = TypeVar("F", bound=Callable[..., Any])


def _check_journal(ctx: click.Context, param: click.Parameter, value: Path | None
                   ) -> Path | None:
    """A journal path that cannot be a file is refused before anything else; a missing folder
    is created by the commands that write (only `history` refuses it: it only reads)."""
    if value is None:
        return None
    error = output_path_error(value.expanduser(), given_as(ctx, param))
    if isinstance(error, FolderMissing):
        return value
    if error is not None:
        raise error
    return value


def journal_option(func: F) -> F:
    return click.option(
        "--journal", "journal_path", type=click.Path(path_type=Path),
        envvar=ENV_VAR, callback=_check_journal,
        help="The upgrade journal (SQLite) that lets an interrupted upgrade continue where it "
             "stopped. Default: $SQNFLASH_JOURNAL, else ~/.local/state/sqnflash/journal.db "
             "($XDG_STATE_HOME).")(func)


def open_journal(path: Path | None) -> Journal:
    return Journal.open(path)


def _offset(record: dict[str, Any]) -> str:
    offset, size = record.get("confirmed_offset"), record.get("image_size")
    if offset is None or record["outcome"] == "completed" or not size:
        return ""
    return f"{offset}/{size} B ({100 * offset / size:.0f} %)"


@click.command("history")
@click.option("--imei", help="Only the upgrades of the modem with this IMEI.")
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True,
              help="At most this many upgrades, newest first.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per upgrade.")
@click.option("--create", is_flag=True,
              help="Create the journal (and its folder) if it does not exist yet.")
@journal_option
def history(imei: str | None, limit: int, as_json: bool, create: bool,
            journal_path: Path | None) -> None:
    """List past upgrades from the journal, newest first."""
    target = journal_path.expanduser() if journal_path is not None else default_path()
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
        records = [r.to_dict() for r in journal.history(imei=imei, limit=limit)]
        where = journal.path
    if as_json:
        for record in records:
            emit_json({"type": "upgrade", **record})
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
            progress += f" {_offset(record)} {extra}".rstrip()
        outcome = record["outcome"]
        console.print(f"#{record['id']} {record['started_at']} {record['modem']} "
                      f"{record['image']} {builds} [{colours.get(outcome, 'red')}]{outcome}[/] "
                      f"({progress})", soft_wrap=True)
