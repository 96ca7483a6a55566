"""`sqnflash ports`: the serial ports of this computer, to find the one the modem is on."""

from __future__ import annotations

from typing import Any

import click

from sqnflash.cli.output import console, emit_json
from sqnflash.link.lock import current_holder, lock_path, port_key, state_dir
from sqnflash.link.port import list_ports

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


@click.command("ports")
@click.option("--json", "as_json", is_flag=True,
              help="One JSON object per port, then a result line with their number.")
def ports_cmd(as_json: bool) -> None:
    """List the serial ports of this computer: device, description, USB VID:PID, serial number
    and USB location, and whether a sqnflash run holds the port.

    Pseudo-terminals (`sqnflash sim --pty`) are not serial ports to the OS and are not listed."""
    ports = [describe_port(port) for port in list_ports()]
    if as_json:
        for port in ports:
            emit_json({"type": "port", **port})
        emit_json({"type": "result", "ok": True, "ports": len(ports)})
        return
    if not ports:
        console.print("no serial ports found: check the cable and that the device is powered "
                      "(a USB adapter appears as /dev/ttyUSB*, /dev/ttyACM* or COM*)")
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
        console.print("  ".join(parts), soft_wrap=True, markup=True)
