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
from sqnflash.sim.factory import create
from sqnflash.sim.faults import FAULTS, FaultError
from sqnflash.sim.fleet import fleet_imeis, serve_fleet
from sqnflash.sim.images import Family, ImageKind, default_name, make_image
from sqnflash.sim.pty_server import PtyServer, run_until_signalled


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
@click.option("--family", type=click.Choice([f.value for f in Family]),
              help="catm1, nb1 or monarch2 (a GM02S at 115200, LR8.0.5.13-59577 by default).")
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
@click.option("--count", type=click.IntRange(1, 64), default=1, show_default=True,
              help="With --pty: this many modems, each on its own pseudo-terminal with its own "
                   "IMEI (counted up from --imei).")
@click.option("--device", "per_device", multiple=True, metavar="N:KEY=VALUE",
              help="With --count: a setting for modem N only (1-based), e.g. "
                   "3:fault_apply_fail=5 or 2:variant=smod4 (repeatable).")
@click.pass_context
def sim(ctx: click.Context, use_pty: bool, link: Path | None, version: int | None,
        family: str | None, mode: str | None, old_bootrom: bool, imei: str | None,
        seed: int | None, faults: tuple[str, ...], settings: tuple[str, ...],
        board: str | None, release: str | None, uploaded: str | None,
        variants: tuple[str, ...], count: int, per_device: tuple[str, ...],
        replay: Path | None) -> None:
    """A simulated SQN3330 modem, for trying sqnflash and other tools without hardware.

    With --pty it prints `READY <device>` once the pseudo-terminal accepts bytes, serves until
    SIGTERM or Ctrl-C, then prints a one-line JSON summary of the modem's final state. With
    --count N it serves N modems, printing `READY <device> <IMEI>` for each, and N summaries.
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
    if count > 1 or per_device:
        _serve_fleet(query, count, per_device, link)
        return
    try:
        # Encoded, so that a value holding '&', '+' or '=' reaches the setting as typed.
        config = SimConfig.from_query(urlencode(query))
        simulator = create(config, on_divergence=lambda found: click.echo(
            f"replay: {found.message}", err=True))
    except (SimConfigError, FaultError) as exc:
        raise BadOption(str(exc)) from exc
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


def _device_settings(values: tuple[str, ...], count: int) -> dict[int, dict[str, str]]:
    out: dict[int, dict[str, str]] = {}
    for item in values:
        number, colon, setting = item.partition(":")
        if not colon or not number.strip().isdigit() or not 1 <= int(number) <= count:
            raise BadOption(f"--device {item!r} must look like N:KEY=VALUE with N from 1 to "
                            f"{count}")
        out.setdefault(int(number), {}).update(_pairs((setting,), "--device"))
    return out


def _serve_fleet(query: dict[str, str], count: int, per_device: tuple[str, ...],
                 link: Path | None) -> None:
    """`--count N`: N modems with the same settings but their IMEI and their --device ones."""
    overrides = _device_settings(per_device, count)
    imeis = fleet_imeis(count, query.get("imei"))
    servers: list[PtyServer] = []
    simulators = []
    try:
        for number in range(1, count + 1):
            one = {**query, "imei": imeis[number - 1], **overrides.get(number, {})}
            try:
                config = SimConfig.from_query(urlencode(one))
                simulator = create(config)
            except (SimConfigError, FaultError) as exc:
                raise BadOption(f"modem {number}: {exc}") from exc
            where = link.with_name(f"{link.name}-{number}") if link is not None else None
            try:
                servers.append(PtyServer(simulator, where))
            except OSError as exc:
                raise BadOption(f"--link {where}: {exc}") from exc
            simulators.append((simulator, one["imei"]))
    except BaseException:
        for server in servers:
            server.close()
        raise

    def ready(server: PtyServer) -> None:
        imei = simulators[servers.index(server)][1]
        sys.stdout.write(f"READY {server.device} {imei}\n")
        sys.stdout.flush()

    serve_fleet(servers, ready)
    for simulator, _ in simulators:
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
