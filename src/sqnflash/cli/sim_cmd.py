"""`sqnflash sim`: run the simulated modem on a pseudo-terminal, and make synthetic images."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from urllib.parse import urlencode

import click

from sqnflash.cli.common import check_input_paths, check_output_path
from sqnflash.errors import BadOption
from sqnflash.sim.config import MODES, VARIANTS, SimConfig, SimConfigError
from sqnflash.sim.faults import FAULTS, FaultError
from sqnflash.sim.images import Family, ImageKind, default_name, make_image
from sqnflash.sim.pty_server import PtyServer, run_until_signalled
from sqnflash.sim.replay import ReplaySimulator
from sqnflash.sim.simulator import create


def _pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for item in values:
        if "=" not in item:
            raise BadOption(f"{what} {item!r} must look like name=value")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


@click.group(invoke_without_command=True)
@click.option("--pty", "use_pty", is_flag=True, help="Serve the modem on a pseudo-terminal.")
@click.option("--link", type=click.Path(path_type=Path), callback=check_output_path,
              help="Also make PATH a symbolic link to the pseudo-terminal.")
@click.option("--version", "version", type=int, help="Firmware build the modem runs [38638].")
@click.option("--family", type=click.Choice([f.value for f in Family]), help="catm1 or nb1.")
@click.option("--mode", type=click.Choice(MODES), help="Mode the modem is found in [app].")
@click.option("--old-bootrom", is_flag=True, help="Factory bootrom 33080 (firmware 33080 too "
              "unless --version is given).")
@click.option("--imei", help="IMEI reported by AT+CGSN.")
@click.option("--seed", type=int, help="Seed of the fault generator.")
@click.option("--fault", "faults", multiple=True, metavar="NAME=VALUE",
              help="Inject a fault (see `sqnflash sim faults`).")
@click.option("--board", type=click.Choice(["fipy", "gpy", "g01"]),
              help="Put a simulated Pycom board in front of the modem: the pty is the board's "
                   "USB port, with MicroPython's REPL at 115200 baud.")
@click.option("--release", help="The board's firmware release [1.20.2.r4]; before 1.18.1 it "
              "has no sqnsupgrade.uart.")
@click.option("--uploaded", type=click.Choice(["script", "folder"]),
              help="A sqnsupgrade copy uploaded to the board's /flash/lib (used by releases "
                   "without a built-in one).")
@click.option("--variant", "variants", multiple=True, metavar="NAME",
              help="Behave like a protocol variant (repeatable; see `sqnflash sim variants`).")
@click.option("--replay", type=click.Path(path_type=Path), callback=check_input_paths,
              help="Play back the modem's side of a capture (--record FILE) instead of "
                   "simulating one; the first request it lacks is reported on stderr.")
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Any other simulator setting (echo=1, apply_s=30, reboot_s=5, ...).")
@click.pass_context
def sim(ctx: click.Context, use_pty: bool, link: Path | None, version: int | None,
        family: str | None, mode: str | None, old_bootrom: bool, imei: str | None,
        seed: int | None, faults: tuple[str, ...], settings: tuple[str, ...],
        board: str | None, release: str | None, uploaded: str | None,
        variants: tuple[str, ...], replay: Path | None) -> None:
    """A simulated SQN3330 modem, for trying sqnflash and other tools without hardware.

    With --pty it prints `READY <device>` once the pseudo-terminal accepts bytes, serves until
    SIGTERM or Ctrl-C, then prints a one-line JSON summary of the modem's final state.
    """
    if ctx.invoked_subcommand is not None:
        return
    if not use_pty:
        click.echo(ctx.get_help())
        return
    query = dict(_pairs(settings, "--set"))
    for key, value in (("version", version), ("family", family), ("mode", mode),
                       ("imei", imei), ("seed", seed), ("board", board),
                       ("release", release), ("uploaded", uploaded)):
        if value is not None:
            query[key] = str(value)
    if old_bootrom:
        query["old_bootrom"] = "1"
    if variants:
        query["variant"] = ",".join(variants)
    for name, value in _pairs(faults, "--fault").items():
        query[f"fault_{name}"] = value
    if replay is not None:
        query["replay"] = str(replay)
    query["clock"] = "real"
    try:
        # Encoded, so that a value holding '&', '+' or '=' reaches the setting as typed.
        config = SimConfig.from_query(urlencode(query))
        simulator = create(config)
    except (SimConfigError, FaultError) as exc:
        raise BadOption(str(exc)) from exc
    if isinstance(simulator, ReplaySimulator):
        simulator.peer.on_divergence = lambda found: click.echo(
            f"replay: {found.message}", err=True)
    try:
        server = PtyServer(simulator, link)
    except OSError as exc:  # the link exists and is not ours, or its folder is missing
        raise BadOption(f"--link {link}: {exc}") from exc

    def ready(device: str) -> None:
        sys.stdout.write(f"READY {device}\n")
        sys.stdout.flush()

    run_until_signalled(server, ready)
    sys.stdout.write(json.dumps(simulator.summary()) + "\n")
    sys.stdout.flush()


@sim.command("make-image")
@click.option("--kind", type=click.Choice([k.value for k in ImageKind]), required=True)
@click.option("--family", type=click.Choice([f.value for f in Family]), default="catm1",
              show_default=True)
@click.option("--version", "version", type=int, required=True, help="Build the image installs.")
@click.option("--from", "source", type=int, help="Differential images: the build they patch.")
@click.option("--size", type=int, help="Total size in bytes [the size of the real release].")
@click.option("--plain/--pack", default=None,
              help="Full images: packages back to back (as NB1-37781.dup) or in a PACK "
                   "[the real release's layout: PACK but for NB1-37781].")
@click.option("-o", "--output", type=click.Path(path_type=Path), callback=check_output_path,
              help="Where to write it [the official file name, in the current folder].")
def make_image_cmd(kind: str, family: str, version: int, source: int | None, size: int | None,
                   plain: bool | None, output: Path | None) -> None:
    """Write a synthetic firmware file laid out like the real one.

    Full images are a PACK of bootrom, updater, fff and fs packages (or the packages back to
    back) with Fletcher-32 trailers and the release's build strings where real files carry them;
    the updater is a 32-bit big-endian NDS32 executable with a .versionString section. The
    simulator treats them like real files, and real files like them.
    """
    kind_e, family_e = ImageKind(kind), Family(family)
    try:
        data = make_image(kind_e, family_e, version, source=source, size=size, plain=plain)
    except ValueError as exc:
        raise BadOption(str(exc)) from exc
    path = output or Path(default_name(kind_e, family_e, version, source))
    path.write_bytes(data)
    click.echo(f"wrote {path} ({len(data)} bytes, {kind} {family} {version})")


@sim.command("faults")
def faults_cmd() -> None:
    """List the faults `--fault NAME=VALUE` (or `fault_NAME=VALUE` in a sim:// URL) can inject."""
    width = max(len(name) for name in FAULTS)
    for name, (value, effect) in FAULTS.items():
        click.echo(f"{name:<{width}}  {effect} [{value}]")


@sim.command("variants")
def variants_cmd() -> None:
    """List the protocol variants `--variant NAME` (or `variant=NAME` in a sim:// URL) selects.

    Each one is a bundle of settings (shown in brackets); any of them can also be set on its own
    with `--set KEY=VALUE`.
    """
    width = max(len(name) for name in VARIANTS)
    for name, variant in VARIANTS.items():
        knobs = ", ".join(f"{k}={v}" for k, v in variant.knobs.items()) or "defaults"
        click.echo(f"{name:<{width}}  {variant.why} [{knobs}]")
