"""`sqnflash info` and `sqnflash upgrade`: the commands that talk to a real (or simulated) modem."""

from __future__ import annotations

from pathlib import Path

import click

from sqnflash.cli.common import open_modem, port_options
from sqnflash.cli.output import console, emit_json
from sqnflash.cli.render import RichRenderer, json_sink, print_summary
from sqnflash.events import EventSink
from sqnflash.firmware import FirmwareFile, load_bootrom, load_image, load_updater
from sqnflash.protocol.stp import PYCOM_BLOCK_CAP
from sqnflash.upgrade import Method, Settings, upgrade


@click.command()
@port_options
def info(port: str, baud: int, rtscts: bool, trace: bool, trace_file: Path | None,
         as_json: bool) -> None:
    """Show the modem's mode, firmware and bootrom builds, versions and IMEI."""
    sink: EventSink = json_sink if as_json else RichRenderer(console)
    with open_modem(port, baud, rtscts, trace, trace_file, sink) as modem:
        modem.wake()
        details = modem.info()
    data = details.to_dict()
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
    for name, value in rows:
        console.print(f"[bold]{name:<9}[/] {value}")


def load_inputs(image: Path, updater: Path | None, bootrom: Path | None
                ) -> tuple[FirmwareFile, FirmwareFile | None, FirmwareFile | None]:
    """Every file is read and checked before the port is opened."""
    return (load_image(image), load_updater(updater) if updater else None,
            load_bootrom(bootrom) if bootrom else None)


def run_upgrade(port: str, image: Path, *, updater: Path | None = None,
                bootrom: Path | None = None, method: str | None = None, baud: int = 921600,
                rtscts: bool = False, trace: bool = False, trace_file: Path | None = None,
                as_json: bool = False, block_size: int = PYCOM_BLOCK_CAP, retries: int = 4,
                force: bool = False) -> None:
    files = load_inputs(image, updater, bootrom)
    renderer = None if as_json else RichRenderer(console)
    sink: EventSink = json_sink if renderer is None else renderer
    settings = Settings(baud=max(baud, 115200), block_size=block_size, retries=retries)
    try:
        with open_modem(port, baud, rtscts, trace, trace_file, sink) as modem:
            result = upgrade(modem, files[0], updater=files[1], bootrom=files[2],
                             method=Method(method) if method else None, settings=settings,
                             force=force, emit=sink)
    finally:
        if renderer is not None:
            renderer.close()
    if as_json:
        emit_json(result.to_dict())
    else:
        print_summary(console, result.to_dict())


@click.command("upgrade")
@port_options
@click.argument("image", type=click.Path(path_type=Path))
@click.option("--updater", type=click.Path(path_type=Path),
              help="updater.elf from the same firmware package (needed by modems with the "
                   "factory bootrom or in the boot loader).")
@click.option("--bootrom", type=click.Path(path_type=Path),
              help="A bootrom upgrade package, for modems with the factory bootrom (33080); a "
                   "full image carries its own.")
@click.option("--method", type=click.Choice([m.value for m in Method]),
              help="Force the FFF (store, then apply) or ON_THE_FLY method [automatic].")
@click.option("--block-size", type=click.IntRange(64, 65535), default=PYCOM_BLOCK_CAP,
              show_default=True, help="Largest STP block payload.")
@click.option("--retries", type=click.IntRange(0, 50), default=4, show_default=True,
              help="Retransmissions per STP exchange.")
@click.option("--force", is_flag=True, help="Flash even if the modem already runs this build.")
def upgrade_cmd(port: str, baud: int, rtscts: bool, trace: bool, trace_file: Path | None,
                as_json: bool, image: Path, updater: Path | None, bootrom: Path | None,
                method: str | None, block_size: int, retries: int, force: bool) -> None:
    """Upgrade the modem's firmware to IMAGE (.dup), from whatever state it is in."""
    run_upgrade(port, image, updater=updater, bootrom=bootrom, method=method, baud=baud,
                rtscts=rtscts, trace=trace, trace_file=trace_file, as_json=as_json,
                block_size=block_size, retries=retries, force=force)
