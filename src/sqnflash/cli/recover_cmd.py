"""`sqnflash recover`: bring a modem back to a working application."""

from __future__ import annotations

from pathlib import Path

import click

from sqnflash.board import BRIDGE_BAUD
from sqnflash.cli.common import (
    board_option,
    check_input_paths,
    line_settings,
    open_modem,
    port_options,
)
from sqnflash.cli.history_cmd import journal_option, open_journal
from sqnflash.cli.output import console, emit_json
from sqnflash.cli.ports_cmd import single_port
from sqnflash.cli.render import RichRenderer, json_sink
from sqnflash.events import EventSink
from sqnflash.firmware import load_image, load_updater
from sqnflash.upgrade.preflight import check_updater_chip
from sqnflash.upgrade.recover import recover


@click.command("recover")
@port_options
@click.argument("image", type=click.Path(path_type=Path), callback=check_input_paths,
                required=False)
@click.option("--updater", type=click.Path(path_type=Path), callback=check_input_paths,
              help="updater.elf from the image's firmware package (mtools.elf for a Monarch 2): "
                   "needed when the modem waits in the boot loader (FFH, Pycom's 'recovery "
                   "mode').")
@journal_option
@board_option
def recover_cmd(port: str, baud: int, rtscts: bool | None, trace: bool, trace_file: Path | None,
                as_json: bool, image: Path | None, updater: Path | None,
                journal_path: Path | None, board: str | None) -> None:
    """Bring the modem back to a working application, from whatever state it is in.

    Finds the modem (at any rate, even inside a transfer an interrupted run left open), then does
    only what its state needs: nothing in the application; updater.elf in the boot loader; from
    RECOVERY or the updater a reboot into the application, and only if the application is gone,
    IMAGE (a full .dup) written again. Each step says why it is needed.
    """
    files = (load_image(image) if image else None, load_updater(updater) if updater else None)
    if files[0] is not None and files[1] is not None:
        # Found in the boot loader, the modem cannot say which chip it is: the files must agree.
        check_updater_chip(files[0], files[1])
    port = single_port(port, rtscts=rtscts)
    if board is not None:
        baud = BRIDGE_BAUD  # the bridge runs at one rate: the modem is never moved to another
    renderer = None if as_json else RichRenderer(console)
    sink: EventSink = json_sink if renderer is None else renderer
    try:
        with open_journal(journal_path) as journal, \
                open_modem(port, baud, rtscts, trace, trace_file, sink, board=board) as modem:
            result = recover(modem, files[0], updater=files[1],
                             settings=line_settings(baud), emit=sink,
                             journal=journal)
    finally:
        if renderer is not None:
            renderer.close()
    if as_json:
        emit_json(result.to_dict())
        return
    after = result.after
    how = "after writing the image again" if result.reflashed else (
        "nothing had to be sent" if result.actions else "nothing had to be done")
    console.print(f"\n[bold green]The modem runs its application[/]: build "
                  f"{after.software_build or '?'} ({how}).")
