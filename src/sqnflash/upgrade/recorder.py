"""Where a run records its progress (the journal's record of this upgrade)."""

from __future__ import annotations

from typing import Any, Protocol

from sqnflash.protocol.stp import Checkpoint


class StepRecorder(Protocol):
    def step_started(self, step: str) -> None: ...

    def step_done(self, step: str) -> None: ...

    def step_undone(self, step: str) -> None: ...

    def checkpoint(self, step: str, point: Checkpoint, baud: int) -> None: ...

    def forget_transfer(self) -> None: ...

    def finish(self, outcome: str, *, error: Any = None,
               after: dict[str, Any] | None = None) -> None: ...
