"""What the library reports while it works: the only output channel of the library.

The CLI renders these as rich progress or as JSON Lines; a program using sqnflash as a library
passes its own callback. Every event is a frozen dataclass with a `kind` and a `to_dict()`.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind}
        for f in dataclasses.fields(self):
            out[f.name] = getattr(self, f.name)
        return out


@dataclass(frozen=True)
class PlanReady(Event):
    """The steps about to run, each with the reason it is needed."""

    kind: ClassVar[str] = "plan"
    method: str
    steps: tuple[dict[str, str], ...]
    before: dict[str, Any]


@dataclass(frozen=True)
class StepStarted(Event):
    kind: ClassVar[str] = "step-started"
    step: str
    title: str
    reason: str


@dataclass(frozen=True)
class StepFinished(Event):
    kind: ClassVar[str] = "step-finished"
    step: str
    title: str
    elapsed_s: float
    outcome: str = "done"


@dataclass(frozen=True)
class TransferStarted(Event):
    kind: ClassVar[str] = "transfer-started"
    step: str
    what: str  # the file being sent
    total: int  # the file's bytes (a zipped image's wire bytes: TransferFinished.wire_bytes)
    block_size: int
    max_transfer: int
    baud: int


@dataclass(frozen=True)
class TransferProgress(Event):
    kind: ClassVar[str] = "progress"
    step: str
    done: int
    total: int
    bytes_per_s: float
    elapsed_s: float = 0.0  # since the transfer started, on the link's clock


@dataclass(frozen=True)
class TransferFinished(Event):
    kind: ClassVar[str] = "transfer-finished"
    step: str
    total: int  # the file's bytes, as in TransferStarted and the progress events
    elapsed_s: float
    bytes_per_s: float  # on the wire
    retries: int
    wire_bytes: int | None = None  # what crossed the line: a zipped image's zlib stream


@dataclass(frozen=True)
class Waiting(Event):
    """A heartbeat while the modem works on its own (applying, rebooting)."""

    kind: ClassVar[str] = "waiting"
    step: str
    elapsed_s: float
    status: str


@dataclass(frozen=True)
class Note(Event):
    """Something the user should know: a fallback taken, a warning, a decision."""

    kind: ClassVar[str] = "note"
    text: str
    level: str = "info"  # info or warning


EventSink = Callable[[Event], None]


def discard(event: Event) -> None:
    """An event sink that ignores everything."""


class Narrator:
    """Where a driver's notes go: its wire trace (`trace`) and, as `Note` events, an event sink
    that one operation may borrow for its length (`reporting_to`)."""

    def __init__(self, trace: Callable[[str], None], emit: EventSink = discard) -> None:
        self._trace = trace
        self._emit = emit

    def emit(self, event: Event) -> None:
        self._emit(event)

    def note(self, text: str, level: str = "info") -> None:
        """Say `text` in the wire trace and as an event."""
        self._trace(text)
        self._emit(Note(text, level))

    @contextlib.contextmanager
    def reporting_to(self, emit: EventSink) -> Iterator[None]:
        """Events go to `emit` until the block ends, then back to where they went before."""
        before, self._emit = self._emit, emit
        try:
            yield
        finally:
            self._emit = before
