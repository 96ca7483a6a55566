"""The simulated modem's core: its state, its timers, what it sends and how it reads commands.

The parts that act on that state (AT commands, boot, STP endpoint, apply phase) are objects of
their own, each given the core and the few other parts it needs, typed by the protocols below
(a part never imports another part); `SimModem` (sim/modem.py) builds and wires them. What kind
of modem it is comes from its `ModemProfile` (sim/profile.py).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Protocol

from sqnflash.protocol import at, stp
from sqnflash.sim.config import SimConfig
from sqnflash.sim.engine import Engine, Timer
from sqnflash.sim.faults import FaultPlan
from sqnflash.sim.idle import IdleMeter
from sqnflash.sim.images import ImageSink, Received, lr_version
from sqnflash.sim.modes import (
    ECHO_MODES,
    MODE_NAMES,
    Boot,
    Flash,
    Smod,
    StpPurpose,
)
from sqnflash.sim.profile import ModemProfile
from sqnflash.sim.wire import Wire

PLUS_GUARD_S = 1.0
CONFIG_MODES = {"app": Smod.FFF, "recovery": Smod.RECOVERY, "updater": Smod.UPDATER,
                "ffh": Smod.FFH}


class Rebooter(Protocol):
    """What a part asks for when the modem has to restart (sim/boot_cycle.py does it)."""

    def reboot(self, reason: str, *, announce: bool) -> None: ...

    def power_cycle(self) -> None: ...

    @property
    def booting(self) -> bool: ...


class Applier(Protocol):
    """The apply phase (sim/apply_phase.py), as the STP endpoint and the boot cycle see it."""

    def start_apply(self, verdict: Received, *, via: str) -> None: ...

    def interrupt_apply(self, why: str) -> None: ...


class StpControl(Protocol):
    """The STP endpoint (sim/stp_endpoint.py), as the AT commands and the boot cycle see it."""

    def enter_stp(self, purpose: StpPurpose, max_transfer: int) -> None: ...

    def leave_stp(self) -> None: ...

    def abandon_transfer(self, why: str) -> None: ...


def initial_flash(config: SimConfig, boot: Boot, old_bootrom_build: int) -> Flash:
    """The flash of a modem as `config` describes it, booting `boot`."""
    assert config.bootrom is not None
    factory = config.version <= old_bootrom_build  # no boot loader slot written yet
    return Flash(
        software=config.version,
        family=config.family,
        bootrom=config.bootrom,
        bootloaders=[None, None] if factory else
        [(lr_version(config.family, config.version), config.version)] * 2,
        active_bootloader=0 if factory else 1,
        boot=boot,
        app_ok=not config.broken_app,
        imei=config.imei,
    )


class ModemCore:
    """One simulated modem behind one wire: state, output, input.

    Input goes on to the two handlers it is given: an AT command line (`on_command`, the AT
    commands part) or, while an STP session is open, the raw bytes (`on_stp_input`, the STP
    endpoint)."""

    def __init__(self, config: SimConfig, engine: Engine, profile: ModemProfile, *,
                 on_command: Callable[[str], None],
                 on_stp_input: Callable[[bytes], None]) -> None:
        self.config = config
        self.profile = profile
        self.engine = engine
        self.on_command = on_command
        self.on_stp_input = on_stp_input
        self.faults = FaultPlan.from_config(config)
        start_mode = CONFIG_MODES[config.mode]
        # `mode=updater` is where the field path leaves a modem: updater.elf loaded into RAM by the
        # boot loader (still the selected boot image), reporting `updater_smod`, at the rate the
        # boot loader was switched to (921600, or 115200 for one that cannot switch).
        boot = {Smod.FFF: Boot.FFF, Smod.RECOVERY: Boot.RECOVERY, Smod.UPDATER: Boot.FFH,
                Smod.FFH: Boot.FFH}[start_mode]
        echo_mode = ECHO_MODES[start_mode]
        if start_mode == Smod.UPDATER:
            start_mode = Smod(profile.updater_smod)
        self.flash = initial_flash(config, boot, profile.old_bootrom_build)
        baud = profile.boot_baud(start_mode)
        if config.mode == "updater":
            baud = profile.ffh_baud if profile.ffh_only_115200 else profile.app_baud
        self.idle = IdleMeter()
        self.wire = Wire(engine, self.receive, host_baud=config.host_baud, modem_baud=baud,
                         turnaround_s=config.turnaround_s, paced=config.paced,
                         on_host_write=lambda now, size: self.idle.host_wrote(now))
        self.mode: Smod | None = start_mode
        self.echo = profile.echoes(echo_mode)
        self.data_mode = config.data_mode and start_mode == Smod.FFF
        self.cfun = 1
        self.commands = at.CommandSplitter()
        self.stp_slave: stp.StpSlave | None = None
        self.stp_purpose: StpPurpose | None = None
        self.sink: ImageSink | None = None
        self.timers: dict[int, Timer] = {}
        self.applying = False
        self.pending_apply: Received | None = None  # FFF method: applied after the reboot
        self._last_rx = -1e9
        self.report_withheld = ""  # `bootrom_report` none or error: AT+SMUPGRADE? says that
        self.refused_since_boot: set[str] = set()  # `refuse_once` commands refused already
        self._plus: list[float] = []
        self.log: deque[tuple[float, str]] = deque(maxlen=2000)
        self.received_commands: list[str] = []
        self.note(f"power on in {MODE_NAMES[start_mode]} at {baud} baud")

    # ------------------------------------------------------------------ bookkeeping
    def note(self, text: str) -> None:
        self.log.append((self.engine.time, text))

    def later(self, delay: float, callback: Callable[[], None]) -> None:
        # Fired timers are forgotten: a 64 MB transfer schedules one per block.
        def fire() -> None:
            self.timers.pop(timer.seq, None)
            callback()

        timer = self.engine.after(delay, fire)
        self.timers[timer.seq] = timer

    def cancel_timers(self) -> None:
        for timer in self.timers.values():
            timer.cancel()
        self.timers.clear()

    @property
    def booting(self) -> bool:
        return self.mode is None

    @property
    def in_stp(self) -> bool:
        return self.stp_slave is not None

    # ------------------------------------------------------------------ output
    def send(self, data: bytes) -> None:
        if self.mode is None or not data:
            return
        arrived = self.wire.modem_write(data)
        if not self.applying and not (self.stp_slave is not None and self.stp_slave.busy):
            self.idle.ready(arrived)  # the host has its answer: the next move is the host's

    def send_at(self, text: bytes) -> None:
        """AT output, framed with the `line_ending` knob (the boot loader keeps CRLF)."""
        if self.mode != Smod.FFH and self.profile.line_end != b"\r\n":
            text = text.replace(b"\r\n", self.profile.line_end)
        self.send(text)

    def reply(self, lines: list[str] | tuple[str, ...] = (), final: str = at.FINAL_OK) -> None:
        reply = at.encode_reply(list(lines), final, leading_crlf=self.mode != Smod.FFH)
        self.send_at(self.faults.at_reply(reply))

    def reply_tight(self, lines: list[str]) -> None:
        """A reply without the blank line before OK, as observed for AT+SMOD? and AT+SMLOG?."""
        if self.mode == Smod.FFH:
            self.reply(lines)
            return
        body = "".join(f"{line}\r\n" for line in lines)
        self.send_at(self.faults.at_reply(f"\r\n{body}{at.FINAL_OK}\r\n".encode("ascii")))

    def error(self, why: str = "") -> None:
        if why:
            self.note(f"ERROR: {why}")
        self.reply((), at.FINAL_ERROR)

    def urc(self, line: str) -> None:
        self.send_at(at.encode_urc(line))

    # ------------------------------------------------------------------ input
    def receive(self, data: bytes) -> None:
        """Bytes that reached the modem's UART."""
        now = self.engine.time
        gap = now - self._last_rx
        self._last_rx = now
        if self.mode is None:
            return  # rebooting: the UART is not listening
        if self.stp_slave is not None:
            self.on_stp_input(data)
            return
        if self.data_mode:
            self._data_mode_input(data, gap)
            return
        self.commands.feed(data)
        self._run_commands()

    def _run_commands(self) -> None:
        while self.mode is not None and self.stp_slave is None and not self.data_mode:
            command = self.commands.next_command()
            if command is None:
                return
            self.received_commands.append(command)
            self.note(f"AT> {command}")
            if self.echo:
                self.send(command.encode("ascii") + b"\r")
            self.on_command(command)

    def _data_mode_input(self, data: bytes, gap: float) -> None:
        # Hayes escape: "+++" with a guard time of silence before and after.
        if data.strip(b"+") or not data:
            self._plus.clear()
            return
        if not self._plus and gap < PLUS_GUARD_S:
            return
        self._plus.extend([self.engine.time] * len(data))
        if len(self._plus) == 3:
            marker = self._last_rx

            def check() -> None:
                if self._last_rx == marker and len(self._plus) == 3:
                    self.data_mode = False
                    self._plus.clear()
                    self.note("left data mode (+++)")
                    self.reply()

            self.later(PLUS_GUARD_S, check)
        elif len(self._plus) > 3:
            self._plus.clear()
