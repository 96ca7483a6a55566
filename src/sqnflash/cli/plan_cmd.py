"""`sqnflash plan`: read the modem, check the files against it and print the plan. Nothing on the
modem is changed: only `AT`, `AT+SMOD?`, `AT!="showver"`, `ATI1`, `AT+CGSN`, `ATI` and (with
`--baud auto`, once the files passed their checks) `AT+IPR=?` are sent."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sqnflash.board import BRIDGE_BAUD
from sqnflash.cli.common import (
    board_option,
    check_input_paths,
    inspect_board_modem,
    line_settings,
    open_modem,
    port_options,
    upgrade_choice_options,
)
from sqnflash.cli.history_cmd import journal_option
from sqnflash.cli.output import console, emit_json
from sqnflash.cli.ports_cmd import single_port
from sqnflash.cli.render import json_sink
from sqnflash.errors import BadOption, NoImage, TooManyImages
from sqnflash.events import Event, EventSink, Note
from sqnflash.firmware import FileKind, FirmwareFile, identify, load_bootrom, load_updater
from sqnflash.modem import ModemInfo
from sqnflash.upgrade import Method, Plan, plan_for, plan_upgrade
from sqnflash.upgrade.bridge import board_note
from sqnflash.upgrade.estimate import format_duration
from sqnflash.upgrade.journal import Journal, default_target, is_url
from sqnflash.upgrade.line_plan import LineSeen


def sort_inputs(files: Sequence[Path], updater: Path | None = None, bootrom: Path | None = None,
                *, force: bool = False
                ) -> tuple[FirmwareFile, FirmwareFile | None, FirmwareFile | None]:
    """Check every file and tell the image, the updater and the bootrom apart by what they are,
    not by the order they were given in. Runs before any port is opened."""
    images: list[FirmwareFile] = []
    updaters = [load_updater(updater, force=force)] if updater is not None else []
    bootroms = [load_bootrom(bootrom, force=force)] if bootrom is not None else []
    for path in files:
        file = identify(path, force=force)
        if file.kind == FileKind.UPDATER:
            updaters.append(file)
        elif file.kind == FileKind.BOOTROM:
            bootroms.append(file)
        else:
            images.append(file)
    if len(images) > 1:
        names = " and ".join(f.name for f in images)
        raise TooManyImages(f"{names} are both firmware images; sqnflash installs one at a time",
                            advice="Give one .dup image (with its updater.elf if the modem "
                                   "needs it); for a two-step release, run the steps one "
                                   "after the other.")
    if not images:
        given = ", ".join(p.name for p in files) or "nothing"
        raise NoImage(f"no firmware image among the files given ({given})")
    for what, found in (("updater.elf", updaters), ("bootrom package", bootroms)):
        if len(found) > 1:
            raise BadOption(f"two {what} files were given: "
                            + " and ".join(f.name for f in found),
                            advice=f"Give one {what}, from the same package (zip) as the image.")
    return images[0], updaters[0] if updaters else None, bootroms[0] if bootroms else None


@contextlib.contextmanager
def reading_journal(path: Path | str | None, *, use: bool = True) -> Iterator[Journal | None]:
    """The journal at `path` (default: the user's), only if there is one (and `use`): a plan
    reads what it remembers of the modem's line and creates nothing."""
    target = path if path is not None else default_target()
    if not use or (not is_url(target) and not Path(target).expanduser().is_file()):
        yield None
        return
    with Journal.open(target) as journal:
        yield journal


def note_sink(as_json: bool) -> EventSink:
    """The driver's own notes while it reads the modem (a baud rate found, data mode left)."""
    if as_json:
        return json_sink

    def show(event: Event) -> None:
        if isinstance(event, Note):
            console.print(f"    [dim]{escape(event.text)}[/]")

    return show


def print_plan(info: ModemInfo, plan: Plan, *, as_json: bool, out: Console = console) -> None:
    if as_json:
        emit_json({"type": "result", "ok": True, "dry_run": True, "modem": info.to_dict(),
                   "plan": plan.to_dict()})
        return
    where = f"build {info.software_build}" if info.software_build else "build unknown"
    bootrom = f", bootrom {info.bootrom_build}" if info.bootrom_build else ""
    family = f", {info.family}" if info.family else ""
    imei = f", IMEI {info.imei}" if info.imei else ""
    numbers = info.mode_numbers(monarch2=plan.image.family == "Monarch 2")
    out.print(f"Modem: [bold]{info.mode.label}[/] ({numbers}), "
              f"{where}{bootrom}{family}{imei}, at {info.baud} baud")
    target = plan.expected_build
    out.print(f"Image: {escape(plan.image.name)} ({plan.image.kind.value}"
              + (f", installs build {target}" if target else "") + ")"
              + (f"; updater: {escape(plan.updater.name)}" if plan.updater else "")
              + (f"; bootrom: {escape(plan.bootrom_source)}" if plan.bootrom_source else ""))
    table = Table(title=f"Plan: {plan.flow.value}, {plan.method.value} method, about "
                        f"{format_duration(plan.estimate_s)} at {plan.baud} baud",
                  expand=False)
    table.add_column("#", justify="right")
    table.add_column("step")
    table.add_column("why")
    table.add_column("time", justify="right")
    for number, step in enumerate(plan.steps, 1):
        table.add_row(str(number), escape(step.title), escape(step.reason),
                      format_duration(step.estimate_s) if step.estimate_s else "")
    out.print(table)
    if plan.line is not None:
        out.print("Line:")
        for text in plan.line.describe():
            out.print(f"  {escape(text)}")
    if plan.checks:
        out.print("Checks passed:")
        for text in plan.checks:
            out.print(f"  [green]ok[/] {escape(text)}")
    if plan.notes:
        out.print("Not checked / worth knowing:")
        for text in plan.notes:
            out.print(f"  [yellow]![/] {escape(text)}")
    out.print("[dim]Nothing was changed on the modem. Run `sqnflash upgrade` with the same "
              "files to carry out this plan.[/]")


@click.command("plan")
@port_options
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path),
                callback=check_input_paths)
@click.option("--updater", type=click.Path(path_type=Path), callback=check_input_paths,
              help="updater.elf (it can also be given among FILES).")
@click.option("--bootrom", type=click.Path(path_type=Path), callback=check_input_paths,
              help="A bootrom upgrade package (a full image carries its own).")
@upgrade_choice_options
@click.option("--force", is_flag=True,
              help="Accept a file whose size differs from the official release of its name, "
                   "and plan even if the modem already runs this build.")
@board_option
@journal_option
def plan_cmd(port: str, baud: int, rtscts: bool | None, trace: bool, trace_file: Path | None,
             as_json: bool, files: tuple[Path, ...], updater: Path | None, bootrom: Path | None,
             method: str | None, block_size: int | None, max_baud: int | None,
             no_compress: bool, allow_downgrade: bool, allow_family_change: bool, force: bool,
             board: str | None, journal_path: Path | str | None) -> None:
    """Show how FILES would be installed on the modem at PORT, with the reason for each step,
    its estimated time and the checks that passed; changes nothing on the modem.

    FILES are the image (.dup) and, if the modem needs them, updater.elf and a bootrom package,
    in any order.
    """
    image, updater_file, bootrom_file = sort_inputs(files, updater, bootrom, force=force)
    settings = line_settings(baud, max_baud=max_baud, block_size=block_size,
                             compress=not no_compress)
    port = single_port(port, rtscts=rtscts)
    if board is not None:
        # Through the board's REPL: the modem is read without starting the bridge.
        found, info = inspect_board_modem(port, trace, trace_file, note_sink(as_json))
        plan = plan_for(info, image, updater=updater_file, bootrom=bootrom_file,
                        method=Method(method) if method else None, force=force,
                        allow_downgrade=allow_downgrade, allow_family_change=allow_family_change,
                        settings=settings, seen=LineSeen(fixed=BRIDGE_BAUD))
        plan.notes.append(board_note(info, bridging=found is None))
        print_plan(info, plan, as_json=as_json)
        return
    with open_modem(port, baud, rtscts, trace, trace_file, note_sink(as_json)) as modem, \
            reading_journal(journal_path) as journal:
        info, plan = plan_upgrade(modem, image, updater=updater_file, bootrom=bootrom_file,
                                  method=Method(method) if method else None, force=force,
                                  allow_downgrade=allow_downgrade,
                                  allow_family_change=allow_family_change, settings=settings,
                                  journal=journal)
    print_plan(info, plan, as_json=as_json)
