"""`sqnflash demo`: a real upgrade, through the same code a user's port uses, against the
built-in simulator, with synthetic images made on the spot."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import click

from sqnflash.cli.common import RECORD_META, record_options
from sqnflash.cli.output import console
from sqnflash.cli.upgrade_cmd import run_upgrade
from sqnflash.link.record import file_identity
from sqnflash.sim.images import ImageKind, write_files
from sqnflash.sim.simulator import forget, named

FROM_BUILD = 38638
TO_BUILD = 39529  # CATM1-39529.dup and upgdiff_38638-to-39529.dup are official releases
SCENARIOS = {
    # name: (simulator settings, image kind, needs updater.elf, what it shows)
    "diff": ("", ImageKind.DIFF, False,
             "a differential image, stored then applied (FFF method)"),
    "full": ("", ImageKind.FULL, False, "a full 6 MB image written ON_THE_FLY from RECOVERY"),
    "old-bootrom": ("&old_bootrom=1", ImageKind.FULL, True,
                    "a factory-bootrom modem: bootrom, boot loader, updater.elf, then the image"),
    "resume": ("&mode=ffh", ImageKind.FULL, True,
               "a modem left in the boot loader by a failed upgrade: updater.elf, then the image"),
}


@click.command()
@click.option("--scenario", type=click.Choice(list(SCENARIOS)), default="diff", show_default=True,
              help="Which upgrade to show.")
@click.option("--virtual-time", is_flag=True,
              help="Run the simulator on virtual time (finishes at once; for scripts).")
@click.option("--trace", is_flag=True, help="Print the wire trace to stderr.")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines output.")
@record_options()[0]
@record_options()[1]
@record_options()[2]
@click.pass_context
def demo(ctx: click.Context, scenario: str, virtual_time: bool, trace: bool,
         as_json: bool) -> None:
    """Upgrade a simulated SQN3330 modem, end to end, with synthetic firmware."""
    settings, kind, needs_updater, what = SCENARIOS[scenario]
    name = f"demo-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    clock = "virtual" if virtual_time else "real"
    url = f"sim://{name}?version={FROM_BUILD}&clock={clock}&reboot_s=1.5&apply_s=4{settings}"
    with tempfile.TemporaryDirectory(prefix="sqnflash-demo-") as folder:
        source = FROM_BUILD if kind == ImageKind.DIFF else None
        image, updater = write_files(Path(folder), kind, TO_BUILD, source=source,
                                     updater=needs_updater)
        if ctx.meta.get(RECORD_META, {}).get("record") is not None:
            # The capture names the equivalent upgrade, and how to make its synthetic files
            # again: `sqnflash replay` needs nothing else.
            ctx.meta[RECORD_META].update(demo_recording(image, updater, kind, source))
        if not as_json:
            console.print(f"[bold]sqnflash demo[/]: {what}")
            console.print(f"simulated modem: {url}")
            console.print(f"image: {image.name} ({image.stat().st_size} bytes)"
                          + (f", updater: {updater.stat().st_size} bytes" if updater else ""))
            console.print()
        try:
            run_upgrade(url, image, updater=updater, trace=trace, as_json=as_json)
            sim = named(name)
            if sim is not None and not as_json:
                state = sim.summary()
                console.print(f"simulated modem now: {state['mode']}, build {state['version']}, "
                              f"{state['upgrades_applied']} upgrade(s) applied")
                if scenario == "diff":
                    console.print("[dim]more: sqnflash demo --scenario full | old-bootrom | "
                                  "resume[/]")
        finally:
            forget(name)


def demo_recording(image: Path, updater: Path | None, kind: ImageKind,
                   source: int | None) -> dict[str, object]:
    files = [{**file_identity(image, "image"), "path": image.name,
              "synthetic": {"kind": kind.value, "version": TO_BUILD, "source": source}}]
    # The demo runs the line at 921600 baud (run_upgrade's default), not at the fastest rate the
    # modem lists: its equivalent command says so, or a replay of it would ask AT+IPR=? too.
    command = ["upgrade", "--baud", "921600", image.name]
    if updater is not None:
        files.append({**file_identity(updater, "updater"), "path": updater.name,
                      "synthetic": {"kind": ImageKind.UPDATER.value, "version": TO_BUILD}})
        command[1:1] = ["--updater", updater.name]
    return {"command": command, "files": files}
