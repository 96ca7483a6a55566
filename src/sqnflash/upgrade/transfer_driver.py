"""Send one file over STP for a step: at the rate `LineRate` picks, with the blocks `choose_blocks`
picks, progress in image bytes, checkpoints for the journal, a session the modem still held
continued, and a line that loses most frames tried again from the start at a lower rate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqnflash.errors import LineTooNoisy, TransferFailed, TransferRefused
from sqnflash.events import (
    EventSink,
    Note,
    TransferFinished,
    TransferProgress,
    TransferStarted,
)
from sqnflash.firmware import BlockSource, FileSource
from sqnflash.firmware.compress import ZlibSource
from sqnflash.modem import Modem, StpUpload, TransferResult
from sqnflash.modem.rescue import close_session, wait_not_applying
from sqnflash.protocol.stp import HEADER_SIZE, Checkpoint, SessionOpened
from sqnflash.upgrade.blocks import BlockChoice, choose_blocks
from sqnflash.upgrade.line_rate import LineRate
from sqnflash.upgrade.plan import Step
from sqnflash.upgrade.recorder import StepRecorder
from sqnflash.upgrade.settings import Settings

PROGRESS_STEP = 0.01  # a progress event per 1 % of a transfer


@dataclass
class HeldTransfer:
    """A transfer whose session the modem still held when the run began (see
    modem/rescue.py): `upload` has been answered and continues from its checkpoint."""

    step: str
    upload: StpUpload


def _close(source: object) -> None:
    if isinstance(source, (FileSource, ZlibSource)):
        source.close()


def _file_bytes(source: BlockSource) -> int:
    """The count users know their file by; a zipped image's `size` is its zlib stream's."""
    return source.image_size if isinstance(source, ZlibSource) else source.size


@dataclass
class TransferDriver:
    modem: Modem
    line: LineRate
    settings: Settings
    emit: EventSink
    record: StepRecorder | None = None
    held: HeldTransfer | None = None  # continued by the first transfer of its step
    transfers: dict[str, TransferResult] = field(default_factory=dict)

    def send(self, step: Step, command: str, source: BlockSource, what: str, *,
             terminator: str = "\r\n", data_type: int | None = None) -> TransferResult:
        """Send `source`; a line that loses most frames is tried again at lower rates."""
        try:
            while True:
                try:
                    result = self._send_once(step, command, source, what, terminator,
                                             data_type)
                    break
                except LineTooNoisy as noisy:
                    self._lower(noisy, what)
        finally:
            _close(source)
        self.transfers[step.id] = result
        self.remember(result)
        line = result.line
        if (self.settings.block_size is None and line is not None and line.shrinks
                and 0 < line.largest_block < result.max_transfer - HEADER_SIZE):
            self.emit(Note(f"{what}: blocks grew no further than {line.largest_block} bytes "
                           f"(the session reports {result.max_transfer}): larger ones were "
                           "lost"))
        self.emit(TransferFinished(step.id, _file_bytes(source), result.elapsed_s,
                                   result.bytes_per_s, result.retries, wire_bytes=source.size))
        return result

    def _lower(self, noisy: LineTooNoisy, what: str) -> None:
        lower = self.line.lower()
        if lower is None:
            raise noisy
        self.emit(Note(f"{noisy.cause}: ending the session and sending {what} again from the "
                       f"start at {lower} baud", "warning"))
        close_session(self.modem)
        wait_not_applying(self.modem)
        self.line.move_down(lower)
        if self.record is not None:
            self.record.forget_transfer()

    def _send_once(self, step: Step, command: str, source: BlockSource, what: str,
                   terminator: str, data_type: int | None = None) -> TransferResult:
        # A zipped image is shown in image bytes; the line's throughput stays in wire bytes.
        total = _file_bytes(source)
        link = self.modem.link
        held, self.held = self.held, None
        if held is not None and held.step != step.id:
            held = None
        progress = _Progress(self, step.id, source,
                             held.upload.sent_from if held is not None else 0)

        def opened(session: SessionOpened) -> None:
            self.emit(TransferStarted(step.id, what, total, session.block_size,
                                      session.max_transfer, link.baud))

        def checkpoint(point: Checkpoint) -> None:
            if self.record is not None:
                self.record.checkpoint(step.id, point, link.baud)

        if held is not None:
            upload = held.upload
            upload.report_to(progress, checkpoint)
            master = upload.master
            self.emit(TransferStarted(step.id, what, total, master.block_size,
                                      master.max_transfer, link.baud))
            try:
                return upload.run()
            except (TransferFailed, TransferRefused) as exc:
                raise self.modem.session_lost_or(exc) from exc
            finally:
                self.modem.at.discard_input()
                _close(upload.source)
        self.line.before_transfer()
        blocks = self.blocks()
        return self.modem.upload(command, source, block_cap=blocks.largest,
                                 start_block=blocks.first, retries=self.settings.retries,
                                 terminator=terminator, on_progress=progress, on_opened=opened,
                                 on_checkpoint=checkpoint, data_type=data_type)

    def blocks(self) -> BlockChoice:
        return choose_blocks(forced=self.settings.block_size, known=self.settings.known_block,
                             ceiling=self.settings.block_ceiling, monarch2=self.line.monarch2)

    def remember(self, result: TransferResult) -> None:
        """What the journal keeps of this modem's line after `result`: rates that failed, the
        rate used, and the largest block it answered (and whether it lost larger ones)."""
        facts: dict[str, Any] = {}
        line = result.line
        if line is not None and line.largest_block and self.settings.block_size is None:
            facts["largest_block"] = line.largest_block
            facts["block_ceiling"] = (bool(line.shrinks) and
                                      line.largest_block < result.max_transfer - HEADER_SIZE)
        self.line.remember(facts)


class _Progress:
    """Progress events, one per `PROGRESS_STEP` of the transfer (and at its end)."""

    def __init__(self, driver: TransferDriver, step: str, source: BlockSource,
                 sent_from: int) -> None:
        self.driver, self.step, self.source, self.sent_from = driver, step, source, sent_from
        self.clock = driver.modem.link.clock
        self.start = self.clock.now()
        self.last = -1.0

    def __call__(self, done: int, size: int) -> None:
        fraction = done / size if size else 1.0
        if fraction - self.last < PROGRESS_STEP and done != size:
            return
        self.last = fraction
        elapsed = self.clock.now() - self.start
        rate = (done - self.sent_from) / elapsed if elapsed > 0 else 0.0  # wire bytes
        if isinstance(self.source, ZlibSource):  # the bar counts image bytes
            done, size = self.source.image_bytes_at(done), self.source.image_size
        self.driver.emit(TransferProgress(self.step, done, size, rate, elapsed))
