"""An STP upload started from AT mode: the entry command, the transfer, what a silence means."""

from __future__ import annotations

from typing import TypedDict

from sqnflash.errors import (
    CommandTimeout,
    ModeSwitchFailed,
    NoResponse,
    SessionLost,
    TransferError,
    TransferFailed,
    TransferRefused,
    TransferSilent,
)
from sqnflash.events import Narrator
from sqnflash.firmware.source import BlockSource
from sqnflash.link import Link
from sqnflash.modem import at_driver
from sqnflash.modem.at_driver import AtDriver
from sqnflash.modem.boot import BootControl
from sqnflash.modem.transfer import (
    DEFAULT_RETRIES,
    CheckpointCallback,
    OpenedCallback,
    ProgressCallback,
    StpUpload,
    TransferResult,
)
from sqnflash.protocol.stp import PYCOM_BLOCK_CAP

SESSION_CHECK_S = 5.0  # after a transfer went silent: how long to look for a rebooted modem
STP_ENTRY_RETRY_S = 1.0  # docs/protocol.md §6.1 step 8: Pycom's pause before AT+SMSTPU


class UploadOptions(TypedDict, total=False):
    """`StpSession.upload`'s keywords, for the callers that pass them on."""

    block_cap: int
    start_block: int | None
    retries: int
    terminator: str
    on_progress: ProgressCallback | None
    on_opened: OpenedCallback | None
    on_checkpoint: CheckpointCallback | None
    data_type: int | None


class StpSession:
    """Uploads from AT mode: the line is back in AT mode when one returns."""

    def __init__(self, link: Link, at_driver: AtDriver, narrator: Narrator,
                 boot: BootControl) -> None:
        self.link = link
        self.at = at_driver
        self.narrator = narrator
        self.boot = boot

    def upload(self, command: str, source: BlockSource, *, block_cap: int = PYCOM_BLOCK_CAP,
               start_block: int | None = None, retries: int = DEFAULT_RETRIES,
               terminator: str = "\r\n",
               on_progress: ProgressCallback | None = None,
               on_opened: OpenedCallback | None = None,
               on_checkpoint: CheckpointCallback | None = None,
               data_type: int | None = None) -> TransferResult:
        """Start STP with `command` (`AT+SMSTPU`, `AT+SMSTPU="ON_THE_FLY"`, `AT+STP`) and send
        `source`. A modem that stops answering and is then found answering AT commands has left
        the session: `SessionLost`."""
        self._enter(command, terminator)
        upload = StpUpload(self.link, source, block_cap=block_cap, start_block=start_block,
                           retries=retries,
                           leftover=self.at.take_leftover(), on_progress=on_progress,
                           on_opened=on_opened, on_checkpoint=on_checkpoint,
                           data_type=data_type)
        try:
            return upload.run()
        except (TransferFailed, TransferRefused) as exc:
            raise self.session_lost_or(exc) from exc
        finally:
            self.at.discard_input()

    def _enter(self, command: str, terminator: str) -> None:
        """Send the command that starts STP until it is answered OK (twice at most)."""
        try:
            reply = self.at.command(command, terminator=terminator, check=False)
            if not reply.ok:
                # Pycom waits 1 s after the modem first answers before it sends this: a modem
                # that refuses it straight after its boot is asked once more after that second.
                self.narrator.note(f"{command} answered {reply.final_line}; asking once more "
                                   f"in {STP_ENTRY_RETRY_S:g} s", "warning")
                self.at.wait_urc(at_driver.BOOT_URC, STP_ENTRY_RETRY_S)
                self.at.command(command, terminator=terminator)
        except CommandTimeout:
            # Pycom takes the first 4 bytes (`OK\r\n`, `\r\nOK` or `\nOK`) and goes on: an OK
            # whose line end never comes (the line is STP's from then on) is an OK.
            if not self.at.unterminated().strip(b"\r\n\x00 ").endswith(b"OK"):
                raise
            self.narrator.note(f"{command} answered OK without a line end; starting the "
                               "transfer")
            self.at.discard_input()

    def session_lost_or(self, error: TransferError) -> TransferError:
        """After a transfer stopped getting replies: a modem that answers `AT` again rebooted out
        of the session (`SessionLost`, to be started again); otherwise `error` stands."""
        self.at.discard_input()
        try:
            mode = self.boot.wait_ready(None, SESSION_CHECK_S)
        except (NoResponse, ModeSwitchFailed):
            # Still inside the session, or gone: the caller may end the session and look again.
            return TransferSilent(f"{error.cause}; the modem answers no AT command either",
                                  details={**error.details, "answers_at": False})
        return SessionLost(f"the modem left the transfer session and is back in {mode.label} "
                           f"({error.cause})", details=dict(error.details))
