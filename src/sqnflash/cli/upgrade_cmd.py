"""`sqnflash info` and `sqnflash upgrade`: the commands that talk to a real (or simulated) modem."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import click

from sqnflash.board import BRIDGE_BAUD
from sqnflash.cli.common import (
    board_option,
    check_input_paths,
    check_output_path,
    inspect_board_modem,
    line_settings,
    open_modem,
    port_options,
    repeatable_port_options,
    upgrade_choice_options,
)
from sqnflash.cli.history_cmd import journal_option, open_journal, station_option
from sqnflash.cli.output import console, emit_json, print_error
from sqnflash.cli.plan_cmd import note_sink, print_plan, reading_journal
from sqnflash.cli.ports_cmd import PortFilter, port_filter_options, select_ports, single_port
from sqnflash.cli.render import RichRenderer, json_sink, print_summary
from sqnflash.cli.station_view import (
    JsonStation,
    PlainStation,
    RichStation,
    print_table,
    write_report,
)
from sqnflash.errors import (
    BadOption,
    Interrupted,
    NothingToDo,
    SqnflashError,
    StationIncomplete,
)
from sqnflash.events import EventSink
from sqnflash.firmware import FirmwareFile, load_bootrom, load_image, load_updater
from sqnflash.modem import ModemInfo
from sqnflash.modem.rescue import SessionToKeep, wake_or_end_session
from sqnflash.upgrade import (
    Choices,
    Method,
    Plan,
    Settings,
    UpgradeResult,
    plan_for,
    plan_upgrade,
    upgrade,
)
from sqnflash.upgrade.bridge import board_note
from sqnflash.upgrade.journal import default_station
from sqnflash.upgrade.line_plan import LineSeen
from sqnflash.upgrade.station import Device, Station


@click.command()
@port_options
@board_option
@journal_option
def info(port: str, baud: int, rtscts: bool | None, trace: bool, trace_file: Path | None,
         as_json: bool, board: str | None, journal_path: Path | str | None) -> None:
    """Show the modem's mode, firmware and bootrom builds, versions and IMEI.

    With --board pycom the board's firmware is shown too, and the modem is read through the
    board's REPL: no bridge is started, the board stays usable."""
    sink: EventSink = json_sink if as_json else RichRenderer(console)
    board_data = None
    port = single_port(port, rtscts=rtscts)
    if board is not None:
        board_info, details = inspect_board_modem(port, trace, trace_file, sink)
        # A board found bridging (an earlier run cut short) has no REPL to read it through.
        board_data = board_info.to_dict() if board_info else {"port": port, "bridging": True}
    else:
        with open_modem(port, baud, rtscts, trace, trace_file, sink) as modem:
            # A modem an interrupted transfer left inside its STP session answers no AT command:
            # the stale session is ended (as `recover` does) so that its state can be read,
            # unless the journal can still continue that transfer.
            wake_or_end_session(modem, session_to_keep(journal_path, modem.link.name))
            details = modem.info()
    data = details.to_dict()
    if board_data is not None:
        data["board"] = board_data
    if as_json:
        emit_json({"type": "result", "ok": True, **data})
        return
    # Without showver's table (a Monarch 2: pysequans reads only ATI1) ATI1's LR line says it.
    version = details.software_version or details.lr_version or "?"
    rows = [
        ("mode", details.mode_text()),
        ("software", f"{version} [{details.software_build}]"
         if details.software_build else "unknown (not readable in this mode)"),
        ("bootrom", f"{details.bootrom_build}" + (" (factory bootrom: an upgrade needs "
                                                   "updater.elf)" if details.old_bootrom else "")
         if details.bootrom_build else "unknown"),
        ("LR / UE", f"{details.lr_version or '?'} / {details.ue_version or '?'}"),
        ("family", (details.family or "unknown")
         + (f" ({details.model})" if details.model else "")),
        ("IMEI", details.imei or "unknown"),
        ("baud", str(details.baud)),
    ]
    if details.full_upgrade_allowed is not None:
        rows.append(("gate", "full upgrade allowed (8.0.4.0 or newer)"
                     if details.full_upgrade_allowed else
                     "below 8.0.4.0: a raster upgrade is required before a full image "
                     "(--force overrides)"))
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


def _choices(files: tuple[FirmwareFile, FirmwareFile | None, FirmwareFile | None],
             method: str | None, settings: Settings, *, force: bool, allow_downgrade: bool,
             allow_family_change: bool) -> Choices:
    return Choices(updater=files[1], bootrom=files[2], method=Method(method) if method else None,
                   force=force, allow_downgrade=allow_downgrade,
                   allow_family_change=allow_family_change, settings=settings)


def run_upgrade(port: str, image: Path, *, updater: Path | None = None,
                bootrom: Path | None = None, method: str | None = None, baud: int = 921600,
                rtscts: bool | None = False, trace: bool = False, trace_file: Path | None = None,
                as_json: bool = False, block_size: int | None = None, retries: int = 4,
                max_baud: int | None = None,
                force: bool = False, dry_run: bool = False, allow_downgrade: bool = False,
                allow_family_change: bool = False, board: str | None = None,
                journal: Path | str | None = None, use_journal: bool = False,
                station: str | None = None, compress: bool = True) -> None:
    """`use_journal` records the upgrade in `journal` (default: the user's journal) and
    continues an interrupted one from it. `compress` concerns Monarch 2 modems (a zlib
    stream)."""
    files = load_inputs(image, updater, bootrom, force=force)
    if board is not None:
        # The bridge runs at one rate: the modem is never moved to another.
        baud = BRIDGE_BAUD
    # The rate the transfers run at: the boot loader is moved up to it, never below 115200.
    settings = line_settings(baud, max_baud=max_baud, block_size=block_size, retries=retries,
                             compress=compress)
    choices = _choices(files, method, settings, force=force, allow_downgrade=allow_downgrade,
                       allow_family_change=allow_family_change)
    if dry_run:
        _print_dry_run(port, baud, rtscts, trace, trace_file, as_json, board, files[0], choices,
                       journal=journal, use_journal=use_journal)
        return
    renderer = None if as_json else RichRenderer(console)
    sink: EventSink = json_sink if renderer is None else renderer
    try:
        with contextlib.ExitStack() as stack:
            opened = (stack.enter_context(open_journal(journal, station)) if use_journal
                      else None)
            modem = stack.enter_context(open_modem(
                port, baud, rtscts, trace, trace_file, sink, board=board,
                check=_checker(files[0], choices) if board is not None else None))
            result = upgrade(modem, files[0], emit=sink, journal=opened, **choices)
    finally:
        if renderer is not None:
            renderer.close()
    if as_json:
        emit_json(result.to_dict())
    else:
        print_summary(console, result.to_dict())


def session_to_keep(journal_path: Path | str | None, port: str) -> SessionToKeep | None:
    """The transfer session an interrupted upgrade on `port` may still continue, by the
    journal (which is only read)."""
    with reading_journal(journal_path) as journal:
        record = journal.held_session(port) if journal is not None else None
    if record is None or record.transfer is None:
        return None
    return SessionToKeep(
        f"{record.image_name}, {record.transfer.offset} bytes confirmed",
        f"Run `sqnflash upgrade --port {port}` with the same files ({record.image_name}): it "
        "continues from the last confirmed byte. `sqnflash recover` ends the session instead "
        "(the transfer then starts over).")


def _checker(image: FirmwareFile, choices: Choices) -> Callable[[ModemInfo], Plan]:
    """The plan for a modem read through a board's REPL, before the board bridges it."""
    return lambda before: plan_for(before, image, seen=LineSeen(fixed=BRIDGE_BAUD), **choices)


def _print_dry_run(port: str, baud: int, rtscts: bool | None, trace: bool, trace_file: Path | None,
                   as_json: bool, board: str | None, image: FirmwareFile,
                   choices: Choices, *, journal: Path | str | None,
                   use_journal: bool) -> None:
    """--dry-run: the modem read (through the board's REPL with a board: nothing is bridged)
    and the plan printed, with what the journal remembers of the modem's line (`use_journal`)."""
    if board is not None:
        found, before = inspect_board_modem(port, trace, trace_file, note_sink(as_json))
        plan = _checker(image, choices)(before)
        plan.notes.append(board_note(before, bridging=found is None))
    else:
        with open_modem(port, baud, rtscts, trace, trace_file, note_sink(as_json)) as modem, \
                reading_journal(journal, use=use_journal) as remembered:
            before, plan = plan_upgrade(modem, image, journal=remembered, **choices)
    print_plan(before, plan, as_json=as_json)


def _check_report(ctx: click.Context, param: click.Parameter, value: Path | None
                  ) -> Path | None:
    if value is not None and value.suffix.lower() not in (".csv", ".json"):
        raise BadOption(f"--report {value}: the file name must end in .csv or .json")
    return check_output_path(ctx, param, value)


def run_station(ports: list[str], image: Path, *, updater: Path | None, bootrom: Path | None,
                method: str | None, baud: int, rtscts: bool | None, as_json: bool,
                block_size: int | None,
                retries: int, force: bool, dry_run: bool, allow_downgrade: bool,
                allow_family_change: bool, journal: Path | str | None, station: str | None,
                report: Path | None, compress: bool = True,
                max_baud: int | None = None) -> None:
    """The same upgrade on every port at once (upgrade/station.py); raises StationIncomplete
    unless every modem ends up on the image."""
    files = load_inputs(image, updater, bootrom, force=force)
    name = station or default_station()
    settings = line_settings(baud, max_baud=max_baud, block_size=block_size, retries=retries,
                             compress=compress)
    choices = _choices(files, method, settings, force=force, allow_downgrade=allow_downgrade,
                       allow_family_change=allow_family_change)
    if dry_run:
        # Each modem planned with the files loaded once and the choices its run gets.
        _print_dry_runs(ports, as_json, lambda port: _print_dry_run(
            port, baud, rtscts, False, None, as_json, None, files[0], choices, journal=journal,
            use_journal=True))
        return

    def work(device: Device, sink: EventSink) -> UpgradeResult:
        with contextlib.ExitStack() as stack:
            opened = stack.enter_context(open_journal(journal, name))
            modem = stack.enter_context(open_modem(device.port, baud, rtscts, False, None, sink))
            try:
                return upgrade(modem, files[0], emit=sink, journal=opened, **choices)
            except NothingToDo:
                # Said before anything changed: the table names the modem all the same.
                with contextlib.suppress(SqnflashError):
                    info = modem.info()
                    device.imei, device.before_build = info.imei, info.software_build
                raise

    view: JsonStation | PlainStation | RichStation = (
        JsonStation() if as_json else RichStation(console, ports) if console.is_terminal
        else PlainStation(console))
    runner = Station(ports, work, view)
    try:
        devices = runner.run()
    finally:
        if not isinstance(view, JsonStation):
            view.close()
    if report is not None:
        write_report(report, devices, name)
    ok = all(device.ok for device in devices)
    if as_json:
        emit_json({"type": "result", "ok": ok, "station": name,
                   "devices": [device.to_dict() for device in devices]})
    else:
        print_table(console, devices)
    _raise_unless_all_upgraded(devices, interrupted=runner.interrupted)


def _print_dry_runs(ports: list[str], as_json: bool, dry_run: Callable[[str], None]) -> None:
    """--dry-run with several ports: each modem's plan in turn; one that cannot be planned does
    not stop the others."""
    refused = []
    for port in ports:
        if not as_json:
            console.print(f"[bold]{port}[/]")
        try:
            dry_run(port)
        except SqnflashError as exc:
            print_error(exc, as_json=as_json)
            if not isinstance(exc, NothingToDo):
                refused.append(f"{port} ({exc.code})")
    if refused:
        raise StationIncomplete(f"no plan for {', '.join(refused)}")


def _raise_unless_all_upgraded(devices: list[Device], *, interrupted: bool) -> None:
    if interrupted:
        raise Interrupted(modem_state="; ".join(
            f"{d.port}: {d.status}" + (f" ({d.error.modem_state})"
                                       if d.error is not None and d.error.modem_state else "")
            for d in devices))
    bad = [device for device in devices if not device.ok]
    if bad:
        raise StationIncomplete(
            f"{len(bad)} of {len(devices)} modems were not upgraded: "
            + ", ".join(f"{d.port} ({d.error.code if d.error is not None else d.status})"
                        for d in bad),
            details={"devices": [d.to_dict() for d in bad]})


@click.command("upgrade")
@repeatable_port_options
@click.argument("image", type=click.Path(path_type=Path), callback=check_input_paths)
@click.option("--updater", type=click.Path(path_type=Path), callback=check_input_paths,
              help="updater.elf from the same firmware package (needed by modems with the "
                   "factory bootrom or in the boot loader; for a Monarch 2, its mtools.elf).")
@click.option("--bootrom", type=click.Path(path_type=Path), callback=check_input_paths,
              help="A bootrom upgrade package, for modems with the factory bootrom (33080); a "
                   "full image carries its own.")
@upgrade_choice_options
@click.option("--retries", type=click.IntRange(0, 50), default=4, show_default=True,
              help="Retransmissions of an STP exchange before a silent modem is given up on "
                   "(after a minute of silence; a noisy line that still carries frames gets "
                   "as many as it needs).")
@click.option("--force", is_flag=True, help="Flash even if the modem already runs this build, "
              "or a file whose size differs from the official release of its name.")
@click.option("--dry-run", is_flag=True,
              help="Read the modem, check the files and print the plan; change nothing.")
@port_filter_options
@click.option("--report", type=click.Path(path_type=Path), callback=_check_report,
              help="Several ports: also write the per-device result to this .csv or .json "
                   "file.")
@board_option
@journal_option
@station_option
def upgrade_cmd(port: tuple[str, ...], baud: int, rtscts: bool | None, trace: bool,
                trace_file: Path | None, as_json: bool, image: Path, updater: Path | None,
                bootrom: Path | None, method: str | None, block_size: int | None,
                max_baud: int | None, retries: int, force: bool, dry_run: bool,
                allow_downgrade: bool, allow_family_change: bool,
                vid: int | None, pid: int | None, serial_number: str | None, match: str | None,
                report: Path | None, board: str | None, journal_path: Path | str | None,
                station: str | None, no_compress: bool) -> None:
    """Upgrade the modem's firmware to IMAGE (.dup), from whatever state it is in.

    With --board pycom, PORT is a Pycom board's USB port: the board's firmware is checked, the
    modem is read and the files checked against it through the board's REPL, then the board
    bridges the modem (doing its own bootrom step first when the modem needs it) and the
    upgrade runs through the bridge.

    With several ports (--port repeated, or --port all) every modem is upgraded at once, each
    as a single run would be; one failing does not stop the others, Ctrl-C stops them all
    safely. The exit status is 0 only when every modem ends up on IMAGE (upgraded now or
    already); otherwise it is that of SQF-E512 (116), or 130 after Ctrl-C."""
    ports = select_ports(port, PortFilter(vid, pid, serial_number, match), rtscts=rtscts)
    if len(ports) == 1 and report is None:
        run_upgrade(ports[0], image, updater=updater, bootrom=bootrom, method=method, baud=baud,
                    rtscts=rtscts, trace=trace, trace_file=trace_file, as_json=as_json,
                    block_size=block_size, max_baud=max_baud, retries=retries, force=force,
                    dry_run=dry_run,
                    allow_downgrade=allow_downgrade, allow_family_change=allow_family_change,
                    board=board, journal=journal_path, use_journal=True, station=station,
                    compress=not no_compress)
        return
    if board is not None:
        raise BadOption("--board takes one port: upgrade the boards one command each")
    if trace or trace_file is not None:
        raise BadOption("--trace and --trace-file take one port: trace one modem at a time")
    run_station(ports, image, updater=updater, bootrom=bootrom, method=method, baud=baud,
                rtscts=rtscts, as_json=as_json, block_size=block_size, retries=retries,
                force=force, dry_run=dry_run, allow_downgrade=allow_downgrade,
                allow_family_change=allow_family_change, journal=journal_path, station=station,
                report=report, compress=not no_compress, max_baud=max_baud)

