"""The simulated modem's end of STP: sessions, blocks written to flash, what a closed session
leaves (a stored file, an image to apply, an updater ELF to start)."""

from __future__ import annotations

import zlib

from sqnflash.protocol import stp
from sqnflash.sim.engine import Timer
from sqnflash.sim.flow import overrun, overruns
from sqnflash.sim.images import ImageSink, Received
from sqnflash.sim.modem_core import Applier, ModemCore, Rebooter
from sqnflash.sim.modes import Smod, StpPurpose

PAGE_SIZE = 4096
ZLIB_WBITS = 12  # Monarch 2 streams: zlib-wrapped, 4 KiB window (pysequans' stp.py)


class StpEndpoint:
    """STP sessions over the core's wire; a closed ON_THE_FLY session goes to the apply phase it
    is given, a power loss of the updater load to the `Rebooter`."""

    def __init__(self, core: ModemCore, applier: Applier, rebooter: Rebooter) -> None:
        self.core = core
        self.applier = applier
        self.rebooter = rebooter
        self._stored_len = 0
        self._stp_rest = b""
        self._stp_idle: Timer | None = None
        # A zipped data type (odd: ELF 3, CABA 5) makes the modem inflate what it receives.
        self._inflater: zlib._Decompress | None = None
        self._inflate_problem: str | None = None
        self.stp_sessions = 0
        self.stp_repeats = 0  # requests answered again as retransmissions (data not rewritten)
        self.overrun_bytes = 0  # STP bytes lost to overruns (sim/flow.py)

    def enter_stp(self, purpose: StpPurpose, max_transfer: int) -> None:
        # The fault is asked first so that it is recorded even where the knob already says zero.
        profile = self.core.profile
        filled = self.core.faults.reply_hcrc() and profile.reply_hcrc_filled
        self.core.stp_slave = stp.StpSlave(max_transfer, reply_hcrc=filled,
                                           version=profile.stp_version,
                                           nack=profile.stp_version >= 2,
                                           block_limit=profile.block_limit,
                                           refuse_command=profile.block_refusal_command)
        self._inflater = None
        self._inflate_problem = None
        self.core.stp_purpose = purpose
        self.core.sink = ImageSink()
        self._stored_len = 0
        self.stp_sessions += 1
        self.core.note(f"STP session ({purpose.value}, max transfer {max_transfer})")
        rest = self.core.commands.take_rest()
        self._touch_stp()
        if rest:
            self.stp_input(rest)

    def leave_stp(self) -> None:
        self.core.stp_slave = None
        self.core.stp_purpose = None
        if self._stp_idle is not None:
            self._stp_idle.cancel()
            self._stp_idle = None

    def _touch_stp(self) -> None:
        if self._stp_idle is not None:
            self._stp_idle.cancel()
        self._stp_idle = self.core.engine.after(self.core.config.stp_idle_timeout_s,
                                                self._stp_timed_out)

    def _stp_timed_out(self) -> None:
        self._stp_idle = None
        if self.core.stp_slave is None:
            return
        self.core.note("STP session abandoned: no bytes for "
                       f"{self.core.config.stp_idle_timeout_s:g} s")
        if self.core.stp_purpose == StpPurpose.ON_THE_FLY and self.core.sink is not None:
            self.abandon_transfer("ON_THE_FLY transfer abandoned")
        if self.core.stp_purpose == StpPurpose.STORE:
            self.core.flash.stored = None
        self.leave_stp()
        self.core.sink = None

    def abandon_transfer(self, why: str) -> None:
        if self.core.sink is not None and self.core.sink.size > 0 and self._sink_is_full_image():
            self.core.flash.app_ok = False
            self.core.flash.report = "fail"
            self.core.note(f"{why}: application image damaged")

    def _sink_is_full_image(self) -> bool:
        return self.core.sink is not None and self.core.sink.looks_like_full_image

    def stp_input(self, data: bytes) -> None:
        core = self.core
        slave = core.stp_slave
        assert slave is not None
        self._touch_stp()
        wire = core.wire
        data = core.faults.inbound_stp(data, slave.received, wire.modem_baud)
        if overruns(core.config.flow_control, wire.modem_baud, wire.host_rtscts):
            data = self._overrun(data)
        if core.mode is None:
            return
        self._drive_stp(slave.feed(data))

    def _overrun(self, data: bytes) -> bytes:
        taken = overrun(data)
        if len(taken) < len(data):
            self.overrun_bytes += len(data) - len(taken)
            self.core.note(f"UART overrun at {self.core.wire.modem_baud} baud without flow "
                           f"control: a {len(data)}-byte frame dropped")
        return taken

    def _drive_stp(self, events: list[stp.SlaveEvent]) -> None:
        slave = self.core.stp_slave
        while events:
            for event in events:
                if isinstance(event, stp.SendReply):
                    if "repeat" in event.frame_summary:
                        self.stp_repeats += 1
                    if self.core.faults.drop_reply(event.frame_summary):
                        self.core.note(f"fault: no reply ({event.frame_summary})")
                        continue
                    self.core.send(event.data)
                elif isinstance(event, stp.BlockReceived):
                    self._block(event)
                elif isinstance(event, stp.SessionClosed):
                    if slave is not None:
                        self._stp_rest = slave.decoder.take_rest()
                    self._stp_closed(event.received)
                    return
                elif isinstance(event, stp.RequestRejected):
                    self.core.note(f"STP request rejected: {event.reason}")
                elif isinstance(event, stp.DataTypeSet):
                    self._data_type(event.data_type)
            # Frames that came in while a block was being written wait in the decoder. Go on only
            # while that makes progress: a partial frame (or a few stray bytes) waits for more.
            if (slave is None or slave is not self.core.stp_slave or slave.busy
                    or not slave.decoder.buffered):
                return
            events = slave.feed(b"")

    def _data_type(self, data_type: int) -> None:
        zipped = bool(data_type & 1)
        self._inflater = zlib.decompressobj(wbits=ZLIB_WBITS) if zipped else None
        self.core.note(f"STP data type {data_type} ({'zlib stream' if zipped else 'raw'})")

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
            self.core.note(f"STP zlib stream damaged: {exc}")
            return b""

    def _block(self, event: stp.BlockReceived) -> None:
        assert self.core.stp_slave is not None and self.core.sink is not None
        size = len(event.data)
        consumed = size
        if self.core.profile.partial_blocks:
            consumed = min(size, PAGE_SIZE - self.core.stp_slave.received % PAGE_SIZE)
        if self.core.stp_purpose == StpPurpose.STORE:
            consumed = min(consumed, self.core.profile.store_limit - self._stored_len)
        accepted = event.data[:consumed]
        written = self._to_flash(accepted)
        self.core.sink.feed(written)
        # Known from the first block for a PACK, only past the bootrom package for a plain
        # sequence of packages: from then on the application's flash is being overwritten.
        if (self.core.stp_purpose == StpPurpose.ON_THE_FLY and self.core.mode != Smod.FFF
                and self.core.flash.app_ok and self.core.sink.looks_like_full_image):
            self.core.flash.app_ok = False
        if self.core.stp_purpose == StpPurpose.STORE and self.core.flash.stored is not None:
            self.core.flash.stored += written
            self._stored_len += consumed
        offset_after = self.core.stp_slave.received + consumed
        write_s = self.core.config.flash_write_s_per_kib * size / 1024

        def done() -> None:
            if self.core.stp_slave is None:
                return
            reply = self.core.stp_slave.complete_block(consumed)
            self._drive_stp([reply])
            self.core.faults.after_block(self.rebooter, offset_after)

        self.core.later(write_s, done)

    def _stp_closed(self, received: int) -> None:
        purpose, sink = self.core.stp_purpose, self.core.sink
        self.leave_stp()
        self.core.sink = None
        rest = self._stp_rest
        self._stp_rest = b""
        assert sink is not None
        what = purpose.value if purpose else ""
        self.core.note(f"STP session closed after {received} bytes ({what})")
        verdict = sink.judge()
        if purpose == StpPurpose.LOAD_ELF:
            self._load_elf(verdict)
            return
        if purpose == StpPurpose.ON_THE_FLY:
            self.applier.start_apply(verdict, via="on-the-fly")
        if rest:
            self.core.receive(rest)

    def _load_elf(self, verdict: Received) -> None:
        if not verdict.is_elf:
            self.core.note("AT+STP upload is not an ELF file: the boot loader stays in FFH")
            return
        if not verdict.ok:
            self.core.note(f"AT+STP upload: {verdict.problem}: the boot loader stays in FFH")
            return
        self.core.note("updater ELF loaded; starting it")
        self.core.mode = None
        self.core.idle.busy()
        if self.core.faults.power_loss_phase("updater-load"):
            self.core.later(self.core.config.updater_load_s / 2, self.rebooter.power_cycle)
            return

        def started() -> None:
            self.core.mode = Smod(self.core.profile.updater_smod)
            self.core.echo = self.core.profile.echoes("updater")
            self.core.refused_since_boot.clear()
            self.core.idle.ready(self.core.engine.time)
            self.core.note(f"updater running at {self.core.wire.modem_baud} baud")

        self.core.later(self.core.config.updater_load_s, started)
