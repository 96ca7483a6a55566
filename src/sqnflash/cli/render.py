"""Turn the library's events into what a person sees (rich) or a program reads (JSON Lines)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from sqnflash.cli.output import emit_json
from sqnflash.events import (
    Event,
    Note,
    PlanReady,
    StepFinished,
    StepStarted,
    TransferFinished,
    TransferProgress,
    TransferStarted,
    Waiting,
)
from sqnflash.upgrade.estimate import format_duration


def json_sink(event: Event) -> None:
    emit_json(event.to_dict())


PLAIN_PROGRESS_S = 5.0  # without a terminal: a progress line at least this often


def kib_per_s(value: float) -> str:
    """The one rate unit of every output: the bar, the plain lines and the summary."""
    return f"{value / 1024:.1f} KiB/s"


def _mib(value: float) -> str:
    return f"{value / 1048576:.2f} MiB"


class RichRenderer:
    """Steps as lines, transfers as progress bars, waits as a timer with the modem's status."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._step_index = 0
        self._step_ids: list[str] = []
        self._step_count = 0
        self._last_line_s = 0.0  # plain output: when the last progress line was printed
        self._last_progress = ""  # plain output: the last progress line printed

    @property
    def _live(self) -> bool:
        """A bar that redraws itself only on a terminal; a pipe or a log gets plain lines."""
        return self.console.is_terminal

    def __call__(self, event: Event) -> None:
        handler = getattr(self, f"_on_{type(event).__name__}", None)
        if handler is not None:
            handler(event)

    def close(self) -> None:
        self._stop_progress()

    def _stop_progress(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            self._task = None

    def _on_PlanReady(self, event: PlanReady) -> None:
        found = event.before
        imei = f", IMEI {found['imei']}" if found.get("imei") else ""
        if found.get("smod") is None:  # not read: the modem is inside a transfer session
            self.console.print(f"Modem: [bold]{found.get('mode_label')}[/]{imei}")
        else:
            # A Monarch 1 names its bootrom in showver; no bootrom build is known for a GM02S.
            bootrom = "" if found.get("family") == "Monarch 2" and not found.get(
                "bootrom_build") else f"bootrom {found.get('bootrom_build') or 'unknown'}, "
            self.console.print(
                f"Modem: [bold]{found.get('mode_label')}[/], "
                f"build {found.get('software_build') or 'unknown'}, {bootrom}"
                f"{found.get('family') or 'family unknown'}{imei}")
        table = Table(title=f"Plan ({event.method} method)", show_lines=False, expand=False)
        table.add_column("#", justify="right")
        table.add_column("step")
        table.add_column("why")
        for number, step in enumerate(event.steps, 1):
            table.add_row(str(number), step["title"], step["reason"])
        self.console.print(table)
        self._step_count = len(event.steps)
        self._step_ids = [step["id"] for step in event.steps]

    def _on_StepStarted(self, event: StepStarted) -> None:
        # Numbered by place in the plan: a resumed run starts further on, a step done again
        # keeps its number, and `recover`'s own steps between plans have none.
        if event.step in self._step_ids:
            self._step_index = self._step_ids.index(event.step) + 1
            self.console.print(f"[bold cyan][{self._step_index}/{self._step_count}][/] "
                               f"{event.title}")
        else:
            self.console.print(f"[bold cyan][-][/] {event.title}")

    def _on_StepFinished(self, event: StepFinished) -> None:
        self._stop_progress()
        colour = "green" if event.outcome == "done" else "yellow"
        self.console.print(f"    [{colour}]{event.outcome}[/] in {event.elapsed_s:.1f} s")

    def _on_TransferStarted(self, event: TransferStarted) -> None:
        self._stop_progress()
        self.console.print(f"    sending {event.what}: {event.total} bytes at {event.baud} baud, "
                           f"blocks of {event.block_size} (session max {event.max_transfer})")
        self._last_line_s = 0.0  # the line above says it started: the next one in 5 s
        self._last_progress = ""
        if not self._live:
            return
        self._progress = Progress(
            TextColumn("    "), BarColumn(), DownloadColumn(binary_units=True),
            TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=self.console,
            transient=True)
        self._progress.start()
        self._task = self._progress.add_task("send", total=event.total, rate="")

    def _on_TransferProgress(self, event: TransferProgress) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=event.done,
                                  rate=kib_per_s(event.bytes_per_s) if event.bytes_per_s else "")
            return
        if self._live:
            return
        due = event.elapsed_s - self._last_line_s >= PLAIN_PROGRESS_S
        if not due and event.done < event.total:
            return
        self._last_line_s = event.elapsed_s
        percent = 100 * event.done / event.total if event.total else 100.0
        left = ""
        if event.bytes_per_s > 0 and event.done < event.total:
            left = (f", about {format_duration((event.total - event.done) / event.bytes_per_s)}"
                    " left")
        line = (f"    {_mib(event.done)} of {_mib(event.total)} ({percent:.0f} %), "
                f"{kib_per_s(event.bytes_per_s)}{left}")
        # A zipped image advances in whole zlib chunks and reaches 100 % before the wire does:
        # the same line twice would say nothing new.
        if line != self._last_progress:
            self._last_progress = line
            self.console.print(line)

    def _on_TransferFinished(self, event: TransferFinished) -> None:
        self._stop_progress()
        retries = f", {event.retries} retransmissions" if event.retries else ""
        # A Monarch 2 gets the image as a zlib stream: the wire carries another count of bytes
        # than the file has, which reads like a fault unless it is said.
        wire = event.total if event.wire_bytes is None else event.wire_bytes
        zipped = (f" (the {event.total}-byte image as a zlib stream)"
                  if wire != event.total else "")
        self.console.print(f"    sent {wire} bytes{zipped} in {event.elapsed_s:.1f} s "
                           f"({kib_per_s(event.bytes_per_s)}{retries})")

    def _on_Waiting(self, event: Waiting) -> None:
        if not self._live:
            # No live display in a log: one line per change of status or heartbeat.
            self.console.print(f"    modem: {event.status} ({event.elapsed_s:.0f} s)")
            return
        if self._progress is None:
            self._progress = Progress(
                TextColumn("    "), SpinnerColumn(), TextColumn("{task.description}"),
                TimeElapsedColumn(), console=self.console, transient=True)
            self._progress.start()
            self._task = self._progress.add_task("", total=None)
        assert self._task is not None
        self._progress.update(self._task, description=f"modem: {event.status} "
                              f"({event.elapsed_s:.0f} s) — do not disconnect power")

    def _on_Note(self, event: Note) -> None:
        style = "yellow" if event.level == "warning" else "dim"
        self.console.print(f"    [{style}]{event.text}[/]")


def print_summary(console: Console, result: dict[str, Any]) -> None:
    before, after = result["before"], result["after"]
    console.print()
    how = f"({result['image']}, {result['method']} method) in {result['elapsed_s']:.1f} s"
    now = after.get("software_build") or "unknown"
    if before.get("software_build"):
        console.print(f"[bold green]Upgrade complete[/]: build {before['software_build']} -> "
                      f"[bold]{now}[/] {how}")
    else:
        # Found in the boot loader or RECOVERY, the modem could not say what it ran before.
        console.print(f"[bold green]Upgrade complete[/]: now build [bold]{now}[/] {how}; the "
                      f"build before is unknown (the modem was found in "
                      f"{before.get('mode_label')}, which does not report it)")
    table = Table(show_header=True, expand=False)
    table.add_column("phase")
    table.add_column("time", justify="right")
    table.add_column("throughput", justify="right")
    for step, seconds in result["step_times_s"].items():
        transfer = result["transfers"].get(step)
        table.add_row(step, f"{seconds:.1f} s",
                      kib_per_s(transfer["bytes_per_s"]) if transfer else "")
    console.print(table)
