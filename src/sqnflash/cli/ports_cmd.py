"""`sqnflash ports`: the serial ports of this computer, to find the one the modem is on; with
--probe, which of them answer as a Sequans modem. Also how `--port auto` and `--port all` (and
the --vid, --pid, --serial-number and --match filters) choose ports for the other commands."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from sqnflash.cli.output import console, emit_json
from sqnflash.errors import BadOption, NoModemFound, PortAmbiguous
from sqnflash.link.lock import current_holder, lock_path, port_key, state_dir
from sqnflash.link.port import list_ports
from sqnflash.upgrade.discovery import Probe, probe_ports

F = TypeVar("F", bound=Callable[..., Any])
AUTO, ALL = "auto", "all"

_UNKNOWN = ("", "n/a")  # what pyserial reports for a field the OS does not know


def _text(value: object) -> str | None:
    text = "" if value is None else str(value).strip()
    return None if text in _UNKNOWN else text


def describe_port(port: Any) -> dict[str, Any]:
    """One port as pyserial's ListPortInfo describes it, and whether a sqnflash run holds it."""
    vid, pid = getattr(port, "vid", None), getattr(port, "pid", None)
    device = str(port.device)
    key = port_key(device)
    holder = current_holder(lock_path(state_dir(), "port", key)) if key else None
    return {
        "device": device,
        "description": _text(getattr(port, "description", None)),
        "vid_pid": f"{vid:04X}:{pid:04X}" if vid is not None and pid is not None else None,
        "serial_number": _text(getattr(port, "serial_number", None)),
        "location": _text(getattr(port, "location", None)),
        "manufacturer": _text(getattr(port, "manufacturer", None)),
        "product": _text(getattr(port, "product", None)),
        "hwid": _text(getattr(port, "hwid", None)),
        "in_use_by": None if holder is None else {
            "pid": holder.pid, "command": holder.command, "since": holder.since,
            "text": holder.describe()},
    }


def _hex_id(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = int(value.strip().lower().removeprefix("0x"), 16)
    except ValueError:
        number = -1
    if not 0 <= number <= 0xFFFF:
        raise BadOption(f"--{param.name} {value!r} is not a USB id (four hex digits, e.g. 10C4)")
    return number


@dataclass(frozen=True)
class PortFilter:
    """--vid, --pid, --serial-number and --match: which listed ports are candidates."""

    vid: int | None = None
    pid: int | None = None
    serial_number: str | None = None
    match: str | None = None

    @property
    def given(self) -> bool:
        return any(v is not None for v in (self.vid, self.pid, self.serial_number, self.match))

    def accepts(self, port: Any) -> bool:
        if self.vid is not None and getattr(port, "vid", None) != self.vid:
            return False
        if self.pid is not None and getattr(port, "pid", None) != self.pid:
            return False
        if self.serial_number is not None and (
                _text(getattr(port, "serial_number", None)) or "") != self.serial_number:
            return False
        if self.match is not None:
            # The glob may name the device (/dev/ttyUSB*), its description (*CP210*) or its
            # USB location (1-1.*): whichever a user can read in `sqnflash ports`.
            fields = [str(port.device)] + [
                _text(getattr(port, name, None)) or ""
                for name in ("description", "location", "serial_number", "hwid")]
            return any(fnmatch.fnmatch(value, self.match) for value in fields if value)
        return True

    def describe(self) -> str:
        parts = [f"--vid {self.vid:04X}" if self.vid is not None else "",
                 f"--pid {self.pid:04X}" if self.pid is not None else "",
                 f"--serial-number {self.serial_number}" if self.serial_number else "",
                 f"--match {self.match}" if self.match else ""]
        return " ".join(p for p in parts if p)


def port_filter_options(func: F) -> F:
    """--vid, --pid, --serial-number, --match (for --port auto / --port all and `ports`)."""
    decorators = [
        click.option("--vid", callback=_hex_id, metavar="HEX",
                     help="Only USB ports with this vendor id (e.g. 10C4)."),
        click.option("--pid", callback=_hex_id, metavar="HEX",
                     help="Only USB ports with this product id (e.g. EA60)."),
        click.option("--serial-number", metavar="TEXT",
                     help="Only the USB port with this serial number."),
        click.option("--match", metavar="GLOB",
                     help="Only ports whose device, description, USB location or serial number "
                          "matches (e.g. '/dev/ttyUSB*', '*CP210*', '1-1.*')."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def candidates(chosen: PortFilter) -> list[str]:
    """The listed serial ports the filter accepts."""
    return [str(port.device) for port in list_ports() if chosen.accepts(port)]


def select_ports(values: Sequence[str], chosen: PortFilter, *, rtscts: bool | None = False,
                 probed: list[Probe] | None = None) -> list[str]:
    """The ports `--port` values name: `auto` is the one modem found among the listed ports
    the filters accept, `all` every one of them; other values are taken as they are. Each port
    once, in the order given."""
    keywords = [v for v in values if v.strip().lower() in (AUTO, ALL)]
    out: list[str] = []
    modems: list[str] = []
    if keywords:
        listed = candidates(chosen)
        found = probe_ports(listed, rtscts=rtscts) if listed else []
        if probed is not None:
            probed.extend(found)
        modems = [p.port for p in found if p.modem]
        where = f" among {', '.join(listed)}" if listed else ""
        selection = f" matching {chosen.describe()}" if chosen.given else ""
        if not modems:
            raise NoModemFound(
                f"--port {keywords[0]}: no serial port{selection} answers as a Sequans modem"
                + (where or " (no serial port is listed)"),
                details={"probed": [p.to_dict() for p in found]})
        if any(v.strip().lower() == AUTO for v in keywords) and len(modems) > 1:
            raise PortAmbiguous(
                f"--port auto: {len(modems)} modems answer ({', '.join(modems)})",
                details={"modems": [p.to_dict() for p in found if p.modem]})
    for value in values:
        word = value.strip().lower()
        names = modems if word in (AUTO, ALL) else [value.strip()]
        for name in names:
            if name not in out:
                out.append(name)
    return out


def single_port(value: str, *, rtscts: bool | None = False) -> str:
    """--port of the commands that take one modem: `auto` is the one modem found on the listed
    ports; anything else is the port itself."""
    word = value.strip().lower()
    if word == ALL:
        raise BadOption("--port all: this command takes one modem (`upgrade` takes several)")
    if word != AUTO:
        return value
    return select_ports((value,), PortFilter(), rtscts=rtscts)[0]


def _probe_columns(probe: Probe | None) -> list[str]:
    if probe is None:
        return []
    if probe.modem:
        build = (f"{probe.software_version or '?'} [{probe.software_build}]"
                 if probe.software_build else "build unknown")
        return [f"[green]modem[/] {probe.family or '?'}, {probe.mode}, {build}, "
                f"IMEI {probe.imei or '?'}, {probe.baud} baud"]
    return [f"[dim]no modem ({probe.error_code + ': ' if probe.error_code else ''}"
            f"{probe.error})[/]"]


@click.command("ports")
@click.option("--probe", is_flag=True,
              help="Ask every port (at the rates a modem may use, all ports at once) whether a "
                   "Sequans modem answers, and show its family, mode, build and IMEI. Only what "
                   "`sqnflash info` sends is sent: nothing on the modem changes.")
@click.option("--port", "-p", "extra", multiple=True, metavar="PORT",
              help="Also probe this port or URL (repeatable): pseudo-terminals and sim://, "
                   "socket:// or rfc2217:// ports are not listed by the OS.")
@port_filter_options
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object per port, then a result line with their number.")
def ports_cmd(probe: bool, extra: tuple[str, ...], vid: int | None, pid: int | None,
              serial_number: str | None, match: str | None, as_json: bool) -> None:
    """List the serial ports of this computer: device, description, USB VID:PID, serial number
    and USB location, and whether a sqnflash run holds the port; with --probe, which of them
    answer as a Sequans modem.

    Pseudo-terminals (`sqnflash sim --pty`) are not serial ports to the OS and are not listed:
    name them with --port to probe them."""
    chosen = PortFilter(vid, pid, serial_number, match)
    ports = [describe_port(port) for port in list_ports() if chosen.accepts(port)]
    listed = {port["device"] for port in ports}
    for name in extra:
        if name not in listed:
            listed.add(name)
            ports.append(_unlisted(name))
    probes: dict[str, Probe] = {}
    if probe or extra:
        probes = {p.port: p for p in probe_ports([port["device"] for port in ports])}
    if as_json:
        for port in ports:
            found = probes.get(port["device"])
            emit_json({"type": "port", **port,
                       **({"probe": found.to_dict()} if found is not None else {})})
        emit_json({"type": "result", "ok": True, "ports": len(ports),
                   **({"modems": sum(p.modem for p in probes.values())} if probes else {})})
        return
    if not ports:
        console.print("no serial ports found: check the cable and that the device is powered "
                      "(a USB adapter appears as /dev/ttyUSB*, /dev/ttyACM* or COM*)"
                      + (f" (or none matches {chosen.describe()})" if chosen.given else ""))
        return
    for port in ports:
        parts = [f"[bold]{port['device']}[/]", port["description"] or "(no description)"]
        if port["vid_pid"]:
            parts.append(f"USB {port['vid_pid']}")
        if port["serial_number"]:
            parts.append(f"serial {port['serial_number']}")
        if port["location"]:
            parts.append(f"location {port['location']}")
        if port["in_use_by"]:
            parts.append(f"[yellow]in use by {port['in_use_by']['text']}[/]")
        parts += _probe_columns(probes.get(port["device"]))
        console.print("  ".join(parts), soft_wrap=True, markup=True)
    if probes:
        modems = sum(p.modem for p in probes.values())
        console.print(f"{modems} of {len(probes)} port{'s' if len(probes) != 1 else ''} "
                      f"answer{'s' if len(probes) == 1 else ''} as a Sequans modem")


def _unlisted(name: str) -> dict[str, Any]:
    """A port given with --port that the OS does not list (a pty, a URL)."""
    return {"device": name, "description": None, "vid_pid": None, "serial_number": None,
            "location": None, "manufacturer": None, "product": None, "hwid": None,
            "in_use_by": None}
