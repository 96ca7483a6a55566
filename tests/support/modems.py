"""Simulated modems on virtual time, with what sqnflash said to them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import serial

from sqnflash.events import Event, Note, StepStarted, TransferStarted
from sqnflash.firmware import load_bootrom, load_image, load_updater
from sqnflash.modem import Modem
from sqnflash.sim.simulator import Simulator
from sqnflash.upgrade import Method, UpgradeResult, upgrade
from tests.support.images import FROM


@dataclass
class SimModem:
    """A modem on virtual time (on build FROM, `settings` as in a sim:// URL's query) and what
    sqnflash said while working on it."""

    settings: str = ""
    events: list[Event] = field(default_factory=list)

    def __post_init__(self) -> None:
        query = "&".join(p for p in (f"clock=virtual&version={FROM}", self.settings.lstrip("&"))
                         if p)
        self.port = serial.serial_for_url(f"sim://?{query}", baudrate=921600)
        self.sim: Simulator = self.port.sim
        self.modem = Modem.open(self.port)

    def upgrade(self, image: Path, *, updater: Path | None = None, bootrom: Path | None = None,
                method: Method | None = None) -> UpgradeResult:
        return upgrade(self.modem, load_image(image),
                       updater=load_updater(updater) if updater else None,
                       bootrom=load_bootrom(bootrom) if bootrom else None,
                       method=method, emit=self.events.append)

    @property
    def state(self) -> dict[str, Any]:
        return self.sim.summary()

    def notes(self) -> list[str]:
        return [e.text for e in self.events if isinstance(e, Note)]

    def steps(self) -> list[str]:
        return [e.step for e in self.events if isinstance(e, StepStarted)]

    def transfers(self) -> list[TransferStarted]:
        return [e for e in self.events if isinstance(e, TransferStarted)]

    def said(self, text: str) -> bool:
        return any(text in note for note in self.notes())
