"""`sqnflash info` and `sqnflash upgrade`: the commands that talk to a real (or simulated) modem."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from sqnflash.board import BRIDGE_BAUD
from sqnflash.cli.common import (
    board_option,
    check_input_paths,
    inspect_board_modem,
    open_modem,
    port_options,
)
from sqnflash.cli.history_cmd import journal_option, open_journal
from sqnflash.cli.output import console, emit_json
from sqnflash.cli.plan_cmd import note_sink, print_plan
from sqnflash.cli.render import RichRenderer, json_sink, print_summary
from sqnflash.events import EventSink
from sqnflash.firmware import FirmwareFile, load_bootrom, load_image, load_updater
from sqnflash.modem import ModemInfo
from sqnflash.modem.rescue import wake_or_end_session
from sqnflash.protocol.stp import PYCOM_BLOCK_CAP
from sqnflash.upgrade import Method, Plan, Settings, plan_for, plan_upgrade, upgrade
from sqnflash.upgrade.bridge import board_note


@click.command()
@port_options
@board_option
def info(port: str, baud: int, rtscts: bool, trace: bool, trace_file: Path | None,
         as_json: bool, board: str | None) -> None:
    """Show the modem's mode, firmware and bootrom builds, versions and IMEI.

    With --board pycom the board's firmware is shown too, and the modem is read through the
    board's REPL: no bridge is started, the board stays usable."""
    sink: EventSink = json_sink if as_json else RichRenderer(console)
    board_data = None
    if board is not None:
        board_info, details = inspect_board_modem(port, trace, trace_file, sink)
        # A board found bridging (an earlier run cut short) has no REPL to read it through.
        board_data = board_info.to_dict() if board_info else {"port": port, "bridging": True}
    else:
        with open_modem(port, baud, rtscts, trace, trace_file, sink) as modem:
            # A modem an interrupted transfer left inside its STP session answers no AT command:
            # the stale session is ended (as `recover` does) so that its state can be read.
            wake_or_end_session(modem)
            details = modem.info()
    data = details.to_dict()
    if board_data is not None:
        data["board"] = board_data
    if as_json:
        emit_json({"type": "result", "ok": True, **data})
        return
    rows = [
        ("mode", f"{details.mode.label} (AT+SMOD? {int(details.mode)}; Pycom: "
                 f"{details.mode.pycom_name})"),
        ("software", f"{details.software_version or '?'} [{details.software_build}]"
         if details.software_build else "unknown (not readable in this mode)"),
        ("bootrom", f"{details.bootrom_build}" + (" (factory bootrom: an upgrade needs "
                                                   "updater.elf)" if details.old_bootrom else "")
         if details.bootrom_build else "unknown"),
        ("LR / UE", f"{details.lr_version or '?'} / {details.ue_version or '?'}"),
        ("family", details.family or "unknown"),
        ("IMEI", details.imei or "unknown"),
        ("baud", str(details.baud)),
    ]
    if board_data is not None and board_data.get("bridging"):
        rows.append(("board", "bridging its USB port to the modem (its REPL is back after a "
                              "reset or power cycle)"))
    elif board_data is not None:
        rows.append(("board", f"{board_data['machine']}, firmware {board_data['release']}, "
                              f"sqnsupgrade {board_data['sqnsupgrade'] or 'none'}"
                              + ("" if board_data["uart"] else " (no uart(): cannot bridge)")))
    for name, value in rows:
        console.print(f"[bold]{name:<9}[/] {value}")


def load_inputs(image: Path, updater: Path | None, bootrom: Path | None, *, force: bool = False
                ) -> tuple[FirmwareFile, FirmwareFile | None, FirmwareFile | None]:
    """Every file is read and checked before the port is opened."""
    return (load_image(image, force=force),
            load_updater(updater, force=force) if updater else None,
            load_bootrom(bootrom, force=force) if bootrom else None)


def run_upgrade(port: str, image: Path, *, updater: Path | None = None,
                bootrom: Path | None = None, method: str | None = None, baud: int = 921600,
                rtscts: bool = False, trace: bool = False, trace_file: Path | None = None,
                as_json: bool = False, block_size: int = PYCOM_BLOCK_CAP, retries: int = 4,
                force: bool = False, dry_run: bool = False, allow_downgrade: bool = False,
                allow_family_change: bool = False, board: str | None = None,
                journal: Path | None = None, use_journal: bool = False) -> None:
    """`use_journal` records the upgrade in `journal` (default: the user's journal) and
    continues an interrupted one from it."""
    files = load_inputs(image, updater, bootrom, force=force)
    if board is not None:
        # The bridge runs at one rate: the modem is never moved to another.
        baud = BRIDGE_BAUD
    # The rate the transfers run at: the boot loader is moved up to it, never below 115200.
    settings = Settings(baud=max(baud, 115200), block_size=block_size, retries=retries)

    def check(before: ModemInfo) -> Plan:
        return plan_for(before, files[0], updater=files[1], bootrom=files[2],
                        method=Method(method) if method else None, force=force,
                        allow_downgrade=allow_downgrade, allow_family_change=allow_family_change,
                        settings=settings)

    if dry_run and board is not None:
        # Read through the board's REPL and plan from that: nothing is bridged.
        found, before = inspect_board_modem(port, trace, trace_file, note_sink(as_json))
        plan = check(before)
        plan.notes.append(board_note(before, bridging=found is None))
        print_plan(before, plan, as_json=as_json)
        return
    if dry_run:
        with open_modem(port, baud, rtscts, trace, trace_file, note_sink(as_json)) as modem:
            before, plan = plan_upgrade(
                modem, files[0], updater=files[1], bootrom=files[2],
                method=Method(method) if method else None, force=force,
                allow_downgrade=allow_downgrade, allow_family_change=allow_family_change,
                settings=settings)
        print_plan(before, plan, as_json=as_json)
        return
    renderer = None if as_json else RichRenderer(console)
    sink: EventSink = json_sink if renderer is None else renderer
    try:
        with contextlib.ExitStack() as stack:
            opened = stack.enter_context(open_journal(journal)) if use_journal else None
            modem = stack.enter_context(open_modem(
                port, baud, rtscts, trace, trace_file, sink, board=board,
                check=check if board is not None else None))
            result = upgrade(modem, files[0], updater=files[1], bootrom=files[2],
                             method=Method(method) if method else None, settings=settings,
                             force=force, allow_downgrade=allow_downgrade,
                             allow_family_change=allow_family_change, emit=sink,
                             journal=opened)
    finally:
        if renderer is not None:
            renderer.close()
    if as_json:
        emit_json(result.to_dict())
    else:
        print_summary(console, result.to_dict())


@click.command("upgrade")
@port_options
@click.argument("image", type=click.Path(path_type=Path), callback=check_input_paths)
@click.option("--updater", type=click.Path(path_type=Path), callback=check_input_paths,
              help="updater.elf from the same firmware package (needed by modems with the "
                   "factory bootrom or in the boot loader).")
@click.option("--bootrom", type=click.Path(path_type=Path), callback=check_input_paths,
              help="A bootrom upgrade package, for modems with the factory bootrom (33080); a "
                   "full image carries its own.")
@click.option("--method", type=click.Choice([m.value for m in Method]),
              help="Force the FFF (store, then apply) or ON_THE_FLY method [automatic].")
@click.option("--block-size", type=click.IntRange(64, 65535), default=PYCOM_BLOCK_CAP,
              show_default=True, help="Largest STP block payload.")
@click.option("--retries", type=click.IntRange(0, 50), default=4, show_default=True,
              help="Retransmissions of an STP exchange before a silent modem is given up on "
                   "(after a minute of silence; a noisy line that still carries frames gets "
                   "as many as it needs).")
@click.option("--force", is_flag=True, help="Flash even if the modem already runs this build, "
              "or a file whose size differs from the official release of its name.")
@click.option("--dry-run", is_flag=True,
              help="Read the modem, check the files and print the plan; change nothing.")
@click.option("--allow-downgrade", is_flag=True, help="Install an image older than the modem's.")
@click.option("--allow-family-change", is_flag=True,
              help="Switch the modem between CAT-M1 and NB-IoT firmware.")
@board_option
@journal_option
def upgrade_cmd(port: str, baud: int, rtscts: bool, trace: bool, trace_file: Path | None,
                as_json: bool, image: Path, updater: Path | None, bootrom: Path | None,
                method: str | None, block_size: int, retries: int, force: bool,
                dry_run: bool, allow_downgrade: bool, allow_family_change: bool,
                board: str | None, journal_path: Path | None) -> None:
    """Upgrade the modem's firmware to IMAGE (.dup), from whatever state it is in.

    With --board pycom, PORT is a Pycom board's USB port: the board's firmware is checked, the
    modem is read and the files checked against it through the board's REPL, then the board
    bridges the modem (doing its own bootrom step first when the modem needs it) and the
    upgrade runs through the bridge."""
    run_upgrade(port, image, updater=updater, bootrom=bootrom, method=method, baud=baud,
                rtscts=rtscts, trace=trace, trace_file=trace_file, as_json=as_json,
                block_size=block_size, retries=retries, force=force, dry_run=dry_run,
                allow_downgrade=allow_downgrade, allow_family_change=allow_family_change,
                board=board, journal=journal_path, use_journal=True)
