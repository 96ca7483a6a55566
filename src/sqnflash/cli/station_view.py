"""What a multi-port upgrade shows: one progress row per device while it runs, a table per
device at the end, a report file; or, with --json, every device's events tagged with its port
and IMEI."""

from __future__ import annotations

import csv
import json
import threading
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn
from rich.table import Table

from sqnflash.cli.output import emit_json
from sqnflash.cli.render import kib_per_s
from sqnflash.events import (
    Event,
    Note,
    StepStarted,
    TransferFinished,
    TransferProgress,
    TransferStarted,
    Waiting,
)
from sqnflash.upgrade.estimate import format_duration
from sqnflash.upgrade.station import ALREADY, FAILED, INTERRUPTED, UPGRADED, Device, is_done

REPORT_FIELDS = ("port", "imei", "status", "ok", "before_build", "after_build", "elapsed_s",
                 "error_code", "error", "modem_state", "advice", "exit_code", "station")
_STATUS_STYLE = {UPGRADED: "green", ALREADY: "green", FAILED: "red", INTERRUPTED: "yellow"}


def _result(device: Device) -> str:
    """The device's status, with the error code of a device not upgraded."""
    if device.error is None or device.ok:
        return device.status
    return f"{device.status} {device.error.code}"


class JsonStation:
    """Each device's events as JSON Lines, tagged with its port and IMEI (one line at a time
    however many threads emit)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __call__(self, device: Device, event: Event) -> None:
        data = event.to_dict()
        if is_done(event):
            data.update(device.to_dict())
        data.update(port=device.port, imei=device.imei)
        with self._lock:
            emit_json(data)


class PlainStation:
    """Without a terminal (a log file, CI): a line per step and per end of each device."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._lock = threading.Lock()

    def __call__(self, device: Device, event: Event) -> None:
        if isinstance(event, StepStarted):
            line = f"{device.port} {device.imei or ''}: {event.title}"
        elif isinstance(event, Note) and event.level == "warning":
            line = f"{device.port}: {event.text}"
        elif is_done(event):
            line = f"{device.port} {device.imei or ''}: {_result(device)}"
        else:
            return
        with self._lock:
            self.console.print(line, soft_wrap=True, markup=False, highlight=False)

    def close(self) -> None:
        """Nothing to stop."""


class RichStation:
    """One progress row per device: port, IMEI, step, bar, bytes, speed, time left."""

    def __init__(self, console: Console, ports: list[str]) -> None:
        self.console = console
        width = max(len(port) for port in ports)
        self.progress = Progress(
            TextColumn(f"{{task.fields[port]:<{width}}}", style="bold"),
            TextColumn("{task.fields[imei]:<15}"),
            TextColumn("{task.description:<28}"),
            BarColumn(bar_width=24),
            DownloadColumn(binary_units=True),
            TextColumn("{task.fields[speed]:>11}"),
            TextColumn("{task.fields[eta]:>8}"),
            console=console, transient=False, refresh_per_second=4)
        self._tasks: dict[str, TaskID] = {
            port: self.progress.add_task("opening", total=None, port=port, imei="",
                                         speed="", eta="") for port in ports}
        self.progress.start()

    def __call__(self, device: Device, event: Event) -> None:
        task = self._tasks[device.port]
        fields: dict[str, Any] = {"imei": device.imei or ""}
        if isinstance(event, StepStarted):
            self.progress.update(task, description=event.title[:28], total=None, completed=0,
                                 speed="", eta="", **fields)
        elif isinstance(event, TransferStarted):
            self.progress.update(task, total=event.total, completed=0, **fields)
        elif isinstance(event, TransferProgress):
            left = (event.total - event.done) / event.bytes_per_s if event.bytes_per_s else None
            self.progress.update(task, completed=event.done, total=event.total,
                                 speed=kib_per_s(event.bytes_per_s),
                                 eta=format_duration(left) if left is not None else "", **fields)
        elif isinstance(event, TransferFinished):
            self.progress.update(task, completed=event.total, eta="", **fields)
        elif isinstance(event, Waiting):
            self.progress.update(task, eta=format_duration(event.elapsed_s), **fields)
        elif isinstance(event, Note) and event.level == "warning":
            self.progress.console.print(f"[yellow]{device.port}[/]: {event.text}",
                                        soft_wrap=True)
        elif is_done(event):
            style = _STATUS_STYLE.get(device.status, "red")
            self.progress.update(task, description=f"[{style}]{_result(device)}[/]",
                                 speed="", eta="", **fields)

    def close(self) -> None:
        self.progress.stop()


def print_table(console: Console, devices: list[Device]) -> None:
    """The result per device; below it, for each device not upgraded, why, where its modem is
    and what to do."""
    table = Table(title="upgrade per device", title_justify="left")
    for name in ("port", "IMEI", "build", "result", "time"):
        table.add_column(name, overflow="fold")
    for device in devices:
        style = _STATUS_STYLE.get(device.status, "red")
        builds = f"{device.before_build or '?'} -> {device.after_build or '?'}"
        if device.status == ALREADY:
            builds = f"{device.after_build or '?'} (already)"
        table.add_row(device.port, device.imei or "?", builds, f"[{style}]{_result(device)}[/]",
                      format_duration(device.elapsed_s))
    console.print(table)
    for device in devices:
        error = device.error
        if error is None or device.ok:
            continue
        console.print(f"[bold red]{device.port}[/] {error.code}: {error.cause}", soft_wrap=True)
        if error.modem_state:
            console.print(f"  [yellow]modem state[/]: {error.modem_state}", soft_wrap=True)
        console.print(f"  [cyan]what to do[/]: {error.hint}", soft_wrap=True)
    done = sum(d.status == UPGRADED for d in devices)
    already = sum(d.status == ALREADY for d in devices)
    bad = len(devices) - done - already
    console.print(f"{done} upgraded, {already} already on the image, {bad} not upgraded "
                  f"(of {len(devices)})")


def write_report(path: Path, devices: list[Device], station: str) -> None:
    """--report: CSV or JSON by the file's suffix, one entry per device."""
    rows = [{**d.to_dict(), "station": station} for d in devices]
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps({"station": station, "devices": rows}, indent=2) + "\n",
                        encoding="utf-8")
        return
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=REPORT_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
