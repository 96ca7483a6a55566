"""The simulated modem's core: its state, its timers, what it sends and how it reads commands.

The parts that act on that state (AT commands, boot, STP endpoint, apply phase) build on
`ModemCore`; `SimModem` (sim/modem.py) puts them together. What kind of modem it is comes from
its `ModemProfile` (sim/profile.py).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqnflash.protocol import at, stp
from sqnflash.sim.config import SimConfig
from sqnflash.sim.engine import Engine, Timer
from sqnflash.sim.faults import FaultPlan
from sqnflash.sim.idle import IdleMeter
from sqnflash.sim.images import ImageSink, Received, lr_version
from sqnflash.sim.modes import (
    ECHO_MODES,
    MODE_NAMES,
    UPDATER_MODES,
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
    """One simulated modem behind one wire: state, output, input."""

    def __init__(self, config: SimConfig, engine: Engine, profile: ModemProfile) -> None:
        self.config = config
        self.profile = profile
        self.engine = engine
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
        baud = self._boot_baud(start_mode)
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
        self._commands = at.CommandSplitter()
        self._stp: stp.StpSlave | None = None
        self._stp_purpose: StpPurpose | None = None
        self._sink: ImageSink | None = None
        self._stored_len = 0
        self._stp_rest = b""
        self._stp_idle: Timer | None = None
        self._timers: dict[int, Timer] = {}
        self._applying = False
        self._apply: tuple[Received, str] | None = None  # the image being applied, and how
        self._pending_apply: Received | None = None  # FFF method: applied after the reboot
        self._last_rx = -1e9
        self.report_withheld = ""  # `bootrom_report` none or error: AT+SMUPGRADE? says that
        self.refused_since_boot: set[str] = set()  # `refuse_once` commands refused already
        self._plus: list[float] = []
        self.log: deque[tuple[float, str]] = deque(maxlen=2000)
        self.received_commands: list[str] = []
        self.stp_sessions = 0
        self.stp_repeats = 0  # requests answered again as retransmissions (data not rewritten)
        self.overrun_bytes = 0  # STP bytes lost to overruns (sim/flow.py)
        self._note(f"power on in {MODE_NAMES[start_mode]} at {baud} baud")

    if TYPE_CHECKING:
        # Provided by the other parts (sim/modem.py lists them).
        def reboot(self, reason: str, *, announce: bool) -> None: ...
        def power_cycle(self) -> None: ...
        def _boot_baud(self, mode: Smod) -> int: ...
        def _enter_stp(self, purpose: StpPurpose, max_transfer: int) -> None: ...
        def _leave_stp(self) -> None: ...
        def _stp_input(self, data: bytes) -> None: ...
        def _abandon_transfer(self, why: str) -> None: ...
        def _start_apply(self, verdict: Received, *, via: str) -> None: ...
        def _interrupt_apply(self, why: str) -> None: ...

    # ------------------------------------------------------------------ bookkeeping
    def _note(self, text: str) -> None:
        self.log.append((self.engine.time, text))

    def _later(self, delay: float, callback: Callable[[], None]) -> None:
        # Fired timers are forgotten: a 64 MB transfer schedules one per block.
        def fire() -> None:
            self._timers.pop(timer.seq, None)
            callback()

        timer = self.engine.after(delay, fire)
        self._timers[timer.seq] = timer

    def _cancel_timers(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        if self._stp_idle is not None:
            self._stp_idle.cancel()
            self._stp_idle = None

    @property
    def booting(self) -> bool:
        return self.mode is None

    @property
    def in_stp(self) -> bool:
        return self._stp is not None

    # ------------------------------------------------------------------ output
    def _send(self, data: bytes) -> None:
        if self.mode is None or not data:
            return
        arrived = self.wire.modem_write(data)
        if not self._applying and not (self._stp is not None and self._stp.busy):
            self.idle.ready(arrived)  # the host has its answer: the next move is the host's

    def _send_at(self, text: bytes) -> None:
        """AT output, framed with the `line_ending` knob (the boot loader keeps CRLF)."""
        if self.mode != Smod.FFH and self.profile.line_end != b"\r\n":
            text = text.replace(b"\r\n", self.profile.line_end)
        self._send(text)

    def _reply(self, lines: list[str] | tuple[str, ...] = (), final: str = at.FINAL_OK) -> None:
        reply = at.encode_reply(list(lines), final, leading_crlf=self.mode != Smod.FFH)
        self._send_at(self.faults.at_reply(reply))

    def _reply_tight(self, lines: list[str]) -> None:
        """A reply without the blank line before OK, as observed for AT+SMOD? and AT+SMLOG?."""
        if self.mode == Smod.FFH:
            self._reply(lines)
            return
        body = "".join(f"{line}\r\n" for line in lines)
        self._send_at(self.faults.at_reply(f"\r\n{body}{at.FINAL_OK}\r\n".encode("ascii")))

    def _error(self, why: str = "") -> None:
        if why:
            self._note(f"ERROR: {why}")
        self._reply((), at.FINAL_ERROR)

    def _urc(self, line: str) -> None:
        self._send_at(at.encode_urc(line))

    # ------------------------------------------------------------------ input
    def receive(self, data: bytes) -> None:
        """Bytes that reached the modem's UART."""
        now = self.engine.time
        gap = now - self._last_rx
        self._last_rx = now
        if self.mode is None:
            return  # rebooting: the UART is not listening
        if self._stp is not None:
            self._stp_input(data)
            return
        if self.data_mode:
            self._data_mode_input(data, gap)
            return
        self._commands.feed(data)
        self._run_commands()

    def _run_commands(self) -> None:
        while self.mode is not None and self._stp is None and not self.data_mode:
            command = self._commands.next_command()
            if command is None:
                return
            self.received_commands.append(command)
            self._note(f"AT> {command}")
            if self.echo:
                self._send(command.encode("ascii") + b"\r")
            self._dispatch(command)
            self.faults.after_command(self, command)

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
                    self._note("left data mode (+++)")
                    self._reply()

            self._later(PLUS_GUARD_S, check)
        elif len(self._plus) > 3:
            self._plus.clear()

    # ------------------------------------------------------------------ commands
    def _dispatch(self, command: str) -> None:
        body = command[2:]
        match = re.match(r"([+^][A-Za-z0-9_]+|!|[A-Za-z&]?)(.*)$", body)
        assert match is not None and self.mode is not None
        name, args = match.group(1).upper(), match.group(2).strip()
        handler = self.profile.commands[self.mode].get(name)
        if handler is None:
            self._error(f"{command} is not available in {MODE_NAMES[self.mode]}")
            return
        if self._refuses(name.lstrip("+^")):
            self._error(f"variant: {command} refused")
            return
        handler(self, args)

    def _refuses(self, name: str) -> bool:
        """`refuse` (the application) and `refuse_once` (RECOVERY, the updater) say so."""
        if self.mode == Smod.FFF:
            return name in self.profile.refused
        if (self.mode in UPDATER_MODES and name in self.profile.refused_once
                and name not in self.refused_since_boot):
            self.refused_since_boot.add(name)
            return True
        return False
