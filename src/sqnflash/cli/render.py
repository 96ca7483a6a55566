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
    TransferSpeedColumn,
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


def json_sink(event: Event) -> None:
    emit_json(event.to_dict())


def _kib(value: float) -> str:
    return f"{value / 1024:.1f} KiB/s"


class RichRenderer:
    """Steps as lines, transfers as progress bars, waits as a timer with the modem's status."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._step_index = 0
        self._step_ids: list[str] = []
        self._step_count = 0

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
        before = event.before
        self.console.print(
            f"Modem: [bold]{before.get('mode_label')}[/], "
            f"build {before.get('software_build') or 'unknown'}, "
            f"bootrom {before.get('bootrom_build') or 'unknown'}, "
            f"{before.get('family') or 'family unknown'}"
            + (f", IMEI {before['imei']}" if before.get("imei") else ""))
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
        self._progress = Progress(
            TextColumn("    "), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
            TimeRemainingColumn(), console=self.console, transient=True)
        self._progress.start()
        self._task = self._progress.add_task("send", total=event.total)

    def _on_TransferProgress(self, event: TransferProgress) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=event.done)

    def _on_TransferFinished(self, event: TransferFinished) -> None:
        self._stop_progress()
        retries = f", {event.retries} retransmissions" if event.retries else ""
        self.console.print(f"    sent {event.total} bytes in {event.elapsed_s:.1f} s "
                           f"({_kib(event.bytes_per_s)}{retries})")

    def _on_Waiting(self, event: Waiting) -> None:
        if not self.console.is_terminal:
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
    console.print(f"[bold green]Upgrade complete[/]: build {before['software_build']} -> "
                  f"[bold]{after['software_build']}[/] ({result['image']}, {result['method']} "
                  f"method) in {result['elapsed_s']:.1f} s")
    table = Table(show_header=True, expand=False)
    table.add_column("phase")
    table.add_column("time", justify="right")
    table.add_column("throughput", justify="right")
    for step, seconds in result["step_times_s"].items():
        transfer = result["transfers"].get(step)
        table.add_row(step, f"{seconds:.1f} s",
                      _kib(transfer["bytes_per_s"]) if transfer else "")
    console.print(table)
