"""One Sequans Monarch modem behind one link: wake-up, baud rates, modes, versions, transfers.

Everything the upgrade flows need from a modem, each as one call that waits exactly as long as the
modem needs and says precisely what went wrong when it does not answer. `Modem` is the face the
rest of sqnflash uses; the work is done by its parts, each with one job: `BootControl` (finding
the modem, reboots and boot waits), `BaudRates` (the line rate on the modem's side),
`Identification` (mode, versions, upgrade state) and `StpSession` (uploads from AT mode).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from serial.serialutil import SerialBase

from sqnflash.errors import TransferError
from sqnflash.events import EventSink, Narrator, Note, discard
from sqnflash.firmware.source import BlockSource
from sqnflash.link import Link, Tracer, open_link
from sqnflash.modem.at_driver import AtDriver
from sqnflash.modem.boot import (
    EXTENDED_EVERY,
    PLUS_GUARD_S,
    REBOOT_TIMEOUT_S,
    SHUTDOWN_WAIT_S,
    SWBOOT_FALLBACK_WAIT_S,
    SWITCHED_GRACE_S,
    UPGRADE_MODES,
    WAKE_TIMEOUT_S,
    WRONG_MODE_GRACE_S,
    WRONG_MODE_POLL_S,
    BootControl,
    Expected,
    describe_modes,
)
from sqnflash.modem.identify import Identification
from sqnflash.modem.info import ModemInfo
from sqnflash.modem.rates import APP_BAUD, BOOT_BAUD, OTHER_BAUDS, POLL_TIMEOUT_S, BaudRates
from sqnflash.modem.session import SESSION_CHECK_S, STP_ENTRY_RETRY_S, StpSession, UploadOptions
from sqnflash.modem.transfer import TransferResult
from sqnflash.protocol import at
from sqnflash.protocol.modes import Mode

if TYPE_CHECKING:  # Python 3.10 has no typing.Unpack; annotations are not evaluated
    from typing_extensions import Unpack

# Where they were always imported from.
__all__ = ["APP_BAUD", "BOOT_BAUD", "EXTENDED_EVERY", "OTHER_BAUDS", "PLUS_GUARD_S",
           "POLL_TIMEOUT_S", "REBOOT_TIMEOUT_S", "SESSION_CHECK_S", "SHUTDOWN_WAIT_S",
           "STP_ENTRY_RETRY_S", "SWBOOT_FALLBACK_WAIT_S", "SWITCHED_GRACE_S", "UPGRADE_MODES",
           "WAKE_TIMEOUT_S", "WRONG_MODE_GRACE_S", "WRONG_MODE_POLL_S", "Expected", "Modem",
           "TransferResult", "describe_modes"]


class Modem:
    """Talk to one modem. Open with `Modem.open(port)`; `close()` or use as a context manager."""

    def __init__(self, link: Link, *, emit: EventSink = discard,
                 fixed_baud: int | None = None) -> None:
        """`fixed_baud`: behind a bridge (a Pycom board's UART mirror) the line runs at one
        fixed rate, and trying others only feeds the modem garbage."""
        self.link = link
        self.at = AtDriver(link)
        self.narrator = Narrator(link.note, emit)
        self.rates = BaudRates(link, self.at, self.narrator, fixed_baud=fixed_baud)
        self.identity = Identification(link, self.at)
        self.boot = BootControl(link, self.at, self.narrator, self.rates, self.identity)
        self.session = StpSession(link, self.at, self.narrator, self.boot)
        for text in link.take_notices():  # e.g. a lock taken over from a run that was killed
            emit(Note(text, "warning"))

    @classmethod
    def open(cls, port: str | SerialBase, *, baud: int = APP_BAUD, rtscts: bool | None = False,
             tracer: Tracer | None = None, emit: EventSink = discard) -> Modem:
        return cls(open_link(port, baud=baud, rtscts=rtscts, tracer=tracer), emit=emit)

    def close(self) -> None:
        self.link.close()

    def __enter__(self) -> Modem:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def fixed_baud(self) -> int | None:
        """The one rate of a bridged line, None where the modem's rate may be changed."""
        return self.rates.fixed_baud

    @property
    def mode_seen(self) -> Mode | None:
        """The mode the modem last reported."""
        return self.identity.mode_seen

    @contextlib.contextmanager
    def reporting_to(self, emit: EventSink) -> Iterator[Modem]:
        """The driver's own notes (fallbacks, baud changes) go to `emit` for the length of one
        operation (an upgrade, a recovery), then back to where they went before."""
        with self.narrator.reporting_to(emit):
            yield self

    def note(self, text: str, level: str = "info") -> None:
        """Say `text` in the wire trace and as an event (which answer a variant point got)."""
        self.narrator.note(text, level)

    # ------------------------------------------------------------------ waking up
    def candidate_rates(self, first: int | None = None, *, extended: bool = False) -> list[int]:
        """The rates to look for the modem at (see `BaudRates.candidates`)."""
        return self.rates.candidates(first, extended=extended)

    def wake(self, timeout_s: float = WAKE_TIMEOUT_S) -> int:
        return self.boot.wake(timeout_s)

    def escape_data_mode(self) -> bool:
        return self.boot.escape_data_mode()

    def wait_ready(self, expected: Expected = None, timeout_s: float = REBOOT_TIMEOUT_S, *,
                   grace_s: float = WRONG_MODE_GRACE_S) -> Mode:
        return self.boot.wait_ready(expected, timeout_s, grace_s=grace_s)

    # ------------------------------------------------------------------ state
    def mode(self) -> Mode:
        return self.identity.mode()

    def info(self) -> ModemInfo:
        info = self.identity.info()
        self.use_flow_control_of(info.family)
        return info

    def use_flow_control_of(self, family: str | None, *, check: bool = True) -> None:
        """RTS/CTS as `family` wants it, unless the user chose (see Link.flow_control_for); a
        bridge keeps its own line settings. With `check` (the modem is known to answer AT), a
        modem no longer heard once RTS/CTS is on has its RTS not connected to the adapter's CTS,
        which then holds back every byte: RTS/CTS goes off again, for the rest of the run."""
        if self.fixed_baud is not None:
            return
        said = self.link.flow_control_for(family)
        if said is None:
            return
        if check and self.link.rtscts and not any(self.at.probe() for _ in range(2)):
            self.link.discard_output()
            self.link.set_rtscts(False, "the modem does not answer with RTS/CTS on")
            if any(self.at.probe() for _ in range(2)):
                self.link.keep_flow_control()
                self.narrator.note(
                    f"the {family} answers only without RTS/CTS (the adapter's CTS is probably "
                    "not connected to the modem's RTS): RTS/CTS off, so its line stays at its "
                    "rate", "warning")
                return
            # Silent either way (rebooting): nothing points at the wiring.
            self.link.set_rtscts(True, "the modem is silent without RTS/CTS too")
        self.narrator.emit(Note(said))

    def upgrade_report(self) -> at.UpgradeReport:
        return self.identity.upgrade_report()

    # ------------------------------------------------------------------ changing state
    def prepare(self, *, monarch2: bool = False) -> None:
        self.boot.prepare(monarch2=monarch2)

    def reboot_into(self, target: Mode, timeout_s: float = REBOOT_TIMEOUT_S) -> None:
        self.boot.reboot_into(target, timeout_s)

    def negotiate_baud(self, target: int) -> None:
        self.rates.negotiate(target)

    def listed_rates(self) -> tuple[int, ...] | None:
        """The rates `AT+IPR=?` lists, or None where it is not answered (the boot loader, some
        firmware) or answered in a shape that names no rate."""
        return self.identity.query("AT+IPR=?", at.parse_ipr_list)

    def step_back(self, old: int, tried: int) -> bool:
        return self.rates.step_back(old, tried)

    def answers_at(self, baud: int) -> bool:
        return self.rates.answers_at(baud)

    # ------------------------------------------------------------------ transfers
    def upload(self, command: str, source: BlockSource,
               **options: Unpack[UploadOptions]) -> TransferResult:
        return self.session.upload(command, source, **options)

    def session_lost_or(self, error: TransferError) -> TransferError:
        return self.session.session_lost_or(error)
