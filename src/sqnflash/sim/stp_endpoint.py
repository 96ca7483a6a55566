"""The simulated modem's end of STP: sessions, blocks written to flash, what a closed session
leaves (a stored file, an image to apply, an updater ELF to start)."""

from __future__ import annotations

import zlib

from sqnflash.protocol import stp
from sqnflash.sim.flow import overrun, overruns
from sqnflash.sim.images import ImageSink, Received
from sqnflash.sim.modem_core import ModemCore
from sqnflash.sim.modes import Smod, StpPurpose

PAGE_SIZE = 4096
ZLIB_WBITS = 12  # Monarch 2 streams: zlib-wrapped, 4 KiB window (pysequans' stp.py)


class StpEndpoint(ModemCore):
    def _enter_stp(self, purpose: StpPurpose, max_transfer: int) -> None:
        # The fault is asked first so that it is recorded even where the knob already says zero.
        filled = self.faults.reply_hcrc() and self.profile.reply_hcrc_filled
        self._stp = stp.StpSlave(max_transfer, reply_hcrc=filled,
                                 version=self.profile.stp_version,
                                 nack=self.profile.stp_version >= 2,
                                 block_limit=self.profile.block_limit,
                                 refuse_command=self.profile.block_refusal_command)
        # A zipped data type (odd: ELF 3, CABA 5) makes the modem inflate what it receives.
        self._inflater: zlib._Decompress | None = None
        self._inflate_problem: str | None = None
        self._stp_purpose = purpose
        self._sink = ImageSink()
        self._stored_len = 0
        self.stp_sessions += 1
        self._note(f"STP session ({purpose.value}, max transfer {max_transfer})")
        rest = self._commands.take_rest()
        self._touch_stp()
        if rest:
            self._stp_input(rest)

    def _leave_stp(self) -> None:
        self._stp = None
        self._stp_purpose = None
        if self._stp_idle is not None:
            self._stp_idle.cancel()
            self._stp_idle = None

    def _touch_stp(self) -> None:
        if self._stp_idle is not None:
            self._stp_idle.cancel()
        self._stp_idle = self.engine.after(self.config.stp_idle_timeout_s, self._stp_timed_out)

    def _stp_timed_out(self) -> None:
        self._stp_idle = None
        if self._stp is None:
            return
        self._note("STP session abandoned: no bytes for "
                   f"{self.config.stp_idle_timeout_s:g} s")
        if self._stp_purpose == StpPurpose.ON_THE_FLY and self._sink is not None:
            self._abandon_transfer("ON_THE_FLY transfer abandoned")
        if self._stp_purpose == StpPurpose.STORE:
            self.flash.stored = None
        self._leave_stp()
        self._sink = None

    def _abandon_transfer(self, why: str) -> None:
        if self._sink is not None and self._sink.size > 0 and self._sink_is_full_image():
            self.flash.app_ok = False
            self.flash.report = "fail"
            self._note(f"{why}: application image damaged")

    def _sink_is_full_image(self) -> bool:
        return self._sink is not None and self._sink.looks_like_full_image

    def _stp_input(self, data: bytes) -> None:
        assert self._stp is not None
        self._touch_stp()
        data = self.faults.inbound_stp(data, self._stp.received, self.wire.modem_baud)
        if overruns(self.config.flow_control, self.wire.modem_baud, self.wire.host_rtscts):
            data = self._overrun(data)
        if self.mode is None:
            return
        self._drive_stp(self._stp.feed(data))

    def _overrun(self, data: bytes) -> bytes:
        taken = overrun(data)
        if len(taken) < len(data):
            self.overrun_bytes += len(data) - len(taken)
            self._note(f"UART overrun at {self.wire.modem_baud} baud without flow control: "
                       f"a {len(data)}-byte frame dropped")
        return taken

    def _drive_stp(self, events: list[stp.SlaveEvent]) -> None:
        slave = self._stp
        while events:
            for event in events:
                if isinstance(event, stp.SendReply):
                    if "repeat" in event.frame_summary:
                        self.stp_repeats += 1
                    if self.faults.drop_reply(event.frame_summary):
                        self._note(f"fault: no reply ({event.frame_summary})")
                        continue
                    self._send(event.data)
                elif isinstance(event, stp.BlockReceived):
                    self._block(event)
                elif isinstance(event, stp.SessionClosed):
                    if slave is not None:
                        self._stp_rest = slave.decoder.take_rest()
                    self._stp_closed(event.received)
                    return
                elif isinstance(event, stp.RequestRejected):
                    self._note(f"STP request rejected: {event.reason}")
                elif isinstance(event, stp.DataTypeSet):
                    self._data_type(event.data_type)
            # Frames that came in while a block was being written wait in the decoder. Go on only
            # while that makes progress: a partial frame (or a few stray bytes) waits for more.
            if slave is None or slave is not self._stp or slave.busy or not slave.decoder.buffered:
                return
            events = slave.feed(b"")

    def _data_type(self, data_type: int) -> None:
        zipped = bool(data_type & 1)
        self._inflater = zlib.decompressobj(wbits=ZLIB_WBITS) if zipped else None
        self._note(f"STP data type {data_type} ({'zlib stream' if zipped else 'raw'})")

    def _to_flash(self, data: bytes) -> bytes:
        """What a block writes: the data itself, or what it inflates to in a zipped session."""
        if self._inflater is None:
            return data
        if self._inflate_problem is not None:
            return b""
        try:
            return self._inflater.decompress(data)
        except zlib.error as exc:
            # Nothing more of this session reaches the flash: the image ends up incomplete and
            # the apply phase refuses it.
            self._inflate_problem = str(exc)
            self._note(f"STP zlib stream damaged: {exc}")
            return b""

    def _block(self, event: stp.BlockReceived) -> None:
        assert self._stp is not None and self._sink is not None
        size = len(event.data)
        consumed = size
        if self.profile.partial_blocks:
            consumed = min(size, PAGE_SIZE - self._stp.received % PAGE_SIZE)
        if self._stp_purpose == StpPurpose.STORE:
            consumed = min(consumed, self.profile.store_limit - self._stored_len)
        accepted = event.data[:consumed]
        written = self._to_flash(accepted)
        self._sink.feed(written)
        # Known from the first block for a PACK, only past the bootrom package for a plain
        # sequence of packages: from then on the application's flash is being overwritten.
        if (self._stp_purpose == StpPurpose.ON_THE_FLY and self.mode != Smod.FFF
                and self.flash.app_ok and self._sink.looks_like_full_image):
            self.flash.app_ok = False
        if self._stp_purpose == StpPurpose.STORE and self.flash.stored is not None:
            self.flash.stored += written
            self._stored_len += consumed
        offset_after = self._stp.received + consumed
        write_s = self.config.flash_write_s_per_kib * size / 1024

        def done() -> None:
            if self._stp is None:
                return
            reply = self._stp.complete_block(consumed)
            self._drive_stp([reply])
            self.faults.after_block(self, offset_after)

        self._later(write_s, done)

    def _stp_closed(self, received: int) -> None:
        purpose, sink = self._stp_purpose, self._sink
        self._leave_stp()
        self._sink = None
        rest = self._stp_rest
        self._stp_rest = b""
        assert sink is not None
        what = purpose.value if purpose else ""
        self._note(f"STP session closed after {received} bytes ({what})")
        verdict = sink.judge()
        if purpose == StpPurpose.LOAD_ELF:
            self._load_elf(verdict)
            return
        if purpose == StpPurpose.ON_THE_FLY:
            self._start_apply(verdict, via="on-the-fly")
        if rest:
            self.receive(rest)

    def _load_elf(self, verdict: Received) -> None:
        if not verdict.is_elf:
            self._note("AT+STP upload is not an ELF file: the boot loader stays in FFH")
            return
        if not verdict.ok:
            self._note(f"AT+STP upload: {verdict.problem}: the boot loader stays in FFH")
            return
        self._note("updater ELF loaded; starting it")
        self.mode = None
        self.idle.busy()
        if self.faults.power_loss_phase("updater-load"):
            self._later(self.config.updater_load_s / 2, self.power_cycle)
            return

        def started() -> None:
            self.mode = Smod(self.profile.updater_smod)
            self.echo = self.profile.echoes("updater")
            self.refused_since_boot.clear()
            self.idle.ready(self.engine.time)
            self._note(f"updater running at {self.wire.modem_baud} baud")

        self._later(self.config.updater_load_s, started)
