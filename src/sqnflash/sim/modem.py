"""The simulated Sequans Monarch 1 (SQN3330) modem.

A state machine driven by bytes from the wire and by timers: boot modes with their own AT command
sets, reboots, baud rates, the STP slave, flash writes, the apply phase and version reports.

Behaviour chosen where the public record is silent (each is a documented choice, not a fact;
the points where more than one answer is plausible are knobs, with named bundles of them, the
protocol variants: see `sqnflash.sim.config`):
- Echo: with `echo=1` the application echoes after every boot; by default the updater, recovery
  and boot loader never echo on their own (Pycom's fixed-count reads after `AT+SMSTPU` need that);
  `echo=app,recovery,updater,ffh` picks the modes that do. `ATE1` / `ATE0` switch it in the
  application, updater and recovery (the boot loader answers ERROR).
- Reply shape: the application, updater and recovery answer
  `\\r\\n<line>\\r\\n...\\r\\n\\r\\nOK\\r\\n` (a blank line before the final result,
  as observed for ATI), except `AT+SMOD?` (`\\r\\n2\\r\\nOK\\r\\n`) and `AT+SMLOG?`, which are
  observed without the blank line. The boot loader (FFH) answers without the leading line break
  (`0\\r\\nOK\\r\\n`, `OK\\r\\n`) and never echoes. `AT+FSRDFILE` answers
  `\\r\\n\\r\\nERROR\\r\\n` (no crash dump), as observed.
- Command sets: the boot loader knows only `AT`, `AT+SMOD?`, `AT+IPR` and `AT+STP`; the updater and
  recovery know the handlers listed in `UPDATER_COMMANDS` (no `ATI`, `AT+CGSN`, `AT+CFUN` or
  showver); anything else answers ERROR.
- `AT+SMSWBOOT?` answers `+SMSWBOOT: <NAME>` (`smswboot_reply=bare`: just the name). The boot
  selection persists across reboots, so a modem switched to RECOVERY comes back there after a
  power cycle until switched back to FFF.
- A reboot emits `+SHUTDOWN` (for `AT^RESET`, `AT+SMSWBOOT=m,1`, `AT+SMUPGRADE` and the updater's
  own reboot once a stored upgrade is applied), a NUL byte as the UART re-initialises, then
  silence for `reboot_s` during which every received byte is dropped; the application then sends
  `+SYSSTART`; recovery, updater and boot loader send nothing (`sysffh=1`: the boot loader
  sends `+SYSFFH`). The boot loader starts at 115200 baud, everything else at 921600.
- `AT+IPR=<baud>` answers OK at the old rate and switches after it; the rate lasts until the next
  boot. An updater loaded with `AT+STP` keeps the rate the boot loader was talking at.
- `AT+STP` in the boot loader: an ELF is loaded and started as the updater after `updater_load_s`;
  it reports SMOD `updater_smod` (3 by default) and the boot selection stays FFH, so a reset brings
  the boot loader back (`mode=updater` starts in exactly that state, at 921600). Anything else,
  or an ELF cut short before the end of its header tables, is dropped after the session closes
  and the boot loader stays in SMOD 0.
- If the application image is damaged (an interrupted or failed ON_THE_FLY write of a full image
  outside the application), booting FFF falls back to RECOVERY.
- With the factory bootrom (Bootloader0 33080) `AT+SMSWBOOT=0,<r>` answers ERROR; flashing a bootrom
  package ON_THE_FLY updates Bootloader0 and lifts that. A full image updates Software and
  Bootloader1/2 but not Bootloader0, as observed on real modems.
- `AT+SMUPGRADE?` keeps its last word (`No report`, `on-going`, `success`, `fail`) until the next
  upgrade starts; during a reboot nothing answers (an empty reply). An apply cut short by a reset
  or a power loss reports `fail` (never a stale `on-going`); a full image cut short outside the
  application leaves the application damaged.
- `AT+SMUPGRADE` answers OK for any stored file and the updater checks it: the FFF method reboots
  into the updater (SMOD 3) to apply, then reboots into FFF once it succeeded, selecting FFF even
  when it was started from RECOVERY (Pycom's resume with a stored file sends no `AT+SMSWBOOT=1,1`
  and expects the application back by itself); after a failure it reboots into the image that
  was selected before.
- `AT+SMSTPU` answers `\\r\\nOK\\r\\n` (`stpu_reply=bare`: `OK\\r\\n`) and stores at most
  `store_limit` bytes (4 MiB): the block that crosses the limit is partly consumed (a residue),
  every later block comes back whole as residue, so the transfer stalls and the host has to give
  up. Closed with a RESET, the stored part is an incomplete file that `AT+SMUPGRADE` accepts and
  the updater reports as `fail`; abandoned without one, it is dropped with the session and
  `AT+SMUPGRADE` answers ERROR (nothing stored).
- In STP mode, a session that sees no byte for `stp_idle_timeout_s` is abandoned and the modem goes
  back to AT commands; a partial ON_THE_FLY write leaves the application damaged.
- ON_THE_FLY in the application accepts only a bootrom package. A differential image must be stored
  (`AT+SMSTPU`); sent ON_THE_FLY it fails without harm.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any

from sqnflash.protocol import at, stp
from sqnflash.sim.config import OLD_BOOTROM_BUILD, SimConfig
from sqnflash.sim.engine import Engine, Timer
from sqnflash.sim.faults import FaultPlan
from sqnflash.sim.idle import IdleMeter
from sqnflash.sim.images import Family, ImageKind, ImageSink, Received, build_date
from sqnflash.sim.wire import Wire

PLUS_GUARD_S = 1.0
PAGE_SIZE = 4096


class Smod(IntEnum):
    """`AT+SMOD?` numbers."""

    FFH = 0
    FFH_TOOL = 1
    FFF = 2
    UPDATER = 3
    RECOVERY = 4


class Boot(IntEnum):
    """`AT+SMSWBOOT` numbers."""

    FFH = 0
    FFF = 1
    UPDATER = 2
    RECOVERY = 3


BOOT_TO_SMOD = {Boot.FFH: Smod.FFH, Boot.FFF: Smod.FFF, Boot.UPDATER: Smod.UPDATER,
                Boot.RECOVERY: Smod.RECOVERY}
MODE_NAMES = {Smod.FFH: "FFH", Smod.FFH_TOOL: "FFH", Smod.FFF: "FFF", Smod.UPDATER: "UPDATER",
              Smod.RECOVERY: "RECOVERY"}
CONFIG_MODES = {"app": Smod.FFF, "recovery": Smod.RECOVERY, "updater": Smod.UPDATER,
                "ffh": Smod.FFH}
# Which `echo` setting a mode follows: an updater that reports SMOD 1 or 4 is still the updater.
ECHO_MODES = {Smod.FFH: "ffh", Smod.FFH_TOOL: "updater", Smod.FFF: "app",
              Smod.UPDATER: "updater", Smod.RECOVERY: "recovery"}


class StpPurpose(Enum):
    STORE = "store"  # AT+SMSTPU: into the /upgrade file system
    ON_THE_FLY = "on-the-fly"  # AT+SMSTPU="ON_THE_FLY": straight to flash
    LOAD_ELF = "load-elf"  # AT+STP in the boot loader: an ELF into RAM


@dataclass
class Flash:
    """What survives a reboot."""

    software: int
    family: Family
    bootrom: int
    bootloader1: int | None
    bootloader2: int | None
    boot: Boot
    app_ok: bool
    imei: str
    report: str = "No report"
    stored: bytearray | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


def lr_version(family: Family, build: int) -> str:
    if family == Family.NB1:
        return "6.0.0.0"
    return "5.2.1.0" if build >= 48000 else "5.1.1.0"


def ue_version(family: Family, build: int) -> str:
    if build <= OLD_BOOTROM_BUILD:
        return "Unknown"
    return "6.0.0.0" if family == Family.NB1 else "5.0.0.0d"


class SimModem:
    """One simulated modem behind one wire."""

    def __init__(self, config: SimConfig, engine: Engine) -> None:
        self.config = config
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
            start_mode = Smod(config.updater_smod)
        assert config.bootrom is not None
        self.flash = Flash(
            software=config.version,
            family=config.family,
            bootrom=config.bootrom,
            bootloader1=None if config.version <= OLD_BOOTROM_BUILD else config.version,
            bootloader2=None if config.version <= OLD_BOOTROM_BUILD else config.version,
            boot=boot,
            app_ok=not config.broken_app,
            imei=config.imei,
        )
        baud = self._boot_baud(start_mode)
        if config.mode == "updater":
            baud = config.ffh_baud if config.ffh_only_115200 else config.app_baud
        self.wire = Wire(engine, self.receive, host_baud=config.host_baud, modem_baud=baud,
                         turnaround_s=config.turnaround_s, paced=config.paced)
        self.idle = IdleMeter()
        self.wire.on_host_write = lambda now, size: self.idle.host_wrote(now)
        self.mode: Smod | None = start_mode
        self.echo = config.echoes(echo_mode)
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
        self._plus: list[float] = []
        self.log: deque[tuple[float, str]] = deque(maxlen=2000)
        self.received_commands: list[str] = []
        self.stp_sessions = 0
        self.stp_repeats = 0  # requests answered again as retransmissions (data not rewritten)
        self._note(f"power on in {MODE_NAMES[start_mode]} at {baud} baud")

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

    def summary(self) -> dict[str, Any]:
        return {
            "mode": MODE_NAMES[self.mode] if self.mode is not None else "BOOTING",
            "smod": int(self.mode) if self.mode is not None else None,
            "version": self.flash.software,
            "family": self.flash.family.value,
            "bootrom": self.flash.bootrom,
            "app_ok": self.flash.app_ok,
            "boot": self.flash.boot.name,
            "baud": self.wire.modem_baud,
            "report": self.flash.report,
            "upgrades_applied": sum(1 for h in self.flash.history if h["result"] == "success"),
            "upgrades": list(self.flash.history),
            "imei": self.flash.imei,
            "stp_sessions": self.stp_sessions,
            "stp_repeats": self.stp_repeats,
            **{k: round(v, 4) for k, v in self.idle.to_dict().items()},
            "wire_busy_s": round(self.wire.wire_time_s, 4),
        }

    # ------------------------------------------------------------------ output
    def _send(self, data: bytes) -> None:
        if self.mode is None or not data:
            return
        arrived = self.wire.modem_write(data)
        if not self._applying and not (self._stp is not None and self._stp.busy):
            self.idle.ready(arrived)  # the host has its answer: the next move is the host's

    def _send_at(self, text: bytes) -> None:
        """AT output, framed with the `line_ending` knob (the boot loader keeps CRLF)."""
        if self.mode != Smod.FFH and self.config.line_ending != "crlf":
            text = text.replace(b"\r\n", self.config.line_end)
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
        assert match is not None
        name, args = match.group(1).upper(), match.group(2).strip()
        if self.mode == Smod.FFH:
            self._ffh_command(name, args)
            return
        allowed = APP_COMMANDS if self.mode == Smod.FFF else UPDATER_COMMANDS
        handler = allowed.get(name)
        if handler is None:
            self._error(f"{command} is not available in {MODE_NAMES[self.mode]}")  # type: ignore[index]
            return
        handler(self, args)

    def _ffh_command(self, name: str, args: str) -> None:
        if name == "" and args == "":
            self._reply()
        elif name == "+SMOD" and args == "?":
            self._reply([str(int(Smod.FFH))])
        elif name == "+IPR" and self.config.ffh_only_115200 == "error" and args != "?":
            self._error("this boot loader cannot change its baud rate")
        elif name == "+IPR":
            self._cmd_ipr(args)
        elif name == "+STP" and args == "":
            self._reply()
            self._enter_stp(StpPurpose.LOAD_ELF, self.config.ffh_max_transfer)
        else:
            self._error("the boot loader only knows AT, AT+SMOD, AT+IPR and AT+STP")

    def _cmd_at(self, args: str) -> None:
        if args:
            self._error()
        else:
            self._reply()

    def _cmd_echo(self, args: str) -> None:
        if args in ("", "0"):
            self.echo = False
        elif args == "1":
            self.echo = True
        else:
            self._error()
            return
        self._reply()

    def _cmd_ok(self, args: str) -> None:
        self._reply()

    def _cmd_smod(self, args: str) -> None:
        if args != "?":
            self._error()
            return
        assert self.mode is not None
        if self.config.smod_reply == "blank":
            self._reply([str(int(self.mode))])
        else:
            self._reply_tight([str(int(self.mode))])

    def _cmd_bmod(self, args: str) -> None:
        if args != "?":
            self._error()
            return
        assert self.mode is not None
        self._reply([f"+BMOD: {MODE_NAMES[self.mode]}"])

    def _cmd_smswboot(self, args: str) -> None:
        if args == "?":
            name = self.flash.boot.name
            self._reply([name if self.config.smswboot_reply == "bare" else f"+SMSWBOOT: {name}"])
            return
        match = re.fullmatch(r"=\s*(\d+)\s*(?:,\s*(\d+))?", args)
        if not match:
            self._error()
            return
        mode, reboot = int(match.group(1)), int(match.group(2) or 1)
        if mode not in set(Boot) or reboot not in (0, 1):
            self._error("Requested mode is not supported.")
            return
        if self._applying:
            self._error("an upgrade is being applied")
            return
        if mode == Boot.FFH and self.flash.bootrom <= OLD_BOOTROM_BUILD:
            self._error("This feature is more recent than the bootloader. Update the bootloader "
                        "to be able to switch.")
            return
        if self.faults.smswboot_error_for(mode, reboot):
            self._error(f"fault: AT+SMSWBOOT={mode},{reboot} refused")
            return
        if reboot and self.config.swboot_error:
            self._error(f"swboot_error: AT+SMSWBOOT={mode},1 refused")
            return
        self.flash.boot = Boot(mode)
        self._note(f"next boot: {Boot(mode).name}")
        self._reply()
        if reboot:
            self.reboot("AT+SMSWBOOT", announce=True)

    def _cmd_reset(self, args: str) -> None:
        if args:
            self._error()
            return
        self._reply()
        self.reboot("AT^RESET", announce=True)

    def _cmd_cfun(self, args: str) -> None:
        if args == "?":
            self._reply([f"+CFUN: {self.cfun}"])
            return
        match = re.fullmatch(r"=\s*(\d+)(?:,\s*\d+)?", args)
        if not match or int(match.group(1)) not in (0, 1, 4, 5):
            self._error()
            return
        self.cfun = int(match.group(1))
        self._reply()

    def _cmd_ipr(self, args: str) -> None:
        if args == "?":
            self._reply([f"+IPR: {self.wire.modem_baud}"])
            return
        match = re.fullmatch(r"=\s*(\d+)", args)
        if not match or int(match.group(1)) not in SUPPORTED_BAUDS:
            self._reply(["+IPR: invalid baudrate"] if match else [], at.FINAL_ERROR)
            return
        baud = int(match.group(1))
        self._reply()  # at the old rate
        if self.mode == Smod.FFH and self.config.ffh_only_115200 == "ignore":
            self._note(f"AT+IPR={baud} ignored: the boot loader stays at {self.wire.modem_baud}")
            return
        self.wire.modem_baud = baud
        self._note(f"baud rate now {baud}")

    def _cmd_smstpu(self, args: str) -> None:
        if self._applying:
            self._error("an upgrade is being applied")
            return
        if args == "":
            self._stpu_ok()
            self.flash.stored = bytearray()
            self._enter_stp(StpPurpose.STORE, self.config.session_max_transfer(False))
        elif args.upper() in ('="ON_THE_FLY"', "=ON_THE_FLY"):
            self._stpu_ok()
            self._enter_stp(StpPurpose.ON_THE_FLY, self.config.session_max_transfer(True))
        else:
            self._error()

    def _stpu_ok(self) -> None:
        if self.config.stpu_reply == "bare":
            self._send_at(b"OK\r\n")  # the first shape Pycom's 4-byte check accepts
        else:
            self._reply()

    def _cmd_smupgrade(self, args: str) -> None:
        if args == "?":
            self._reply([f"+SMUPGRADE: {self.flash.report}"])
            return
        if args:
            self._error()
            return
        if self._applying:
            self._error("an upgrade is being applied")
            return
        if self.flash.stored is None:
            self._error("no upgrade file stored")
            return
        sink = ImageSink()
        sink.feed(bytes(self.flash.stored))
        verdict = sink.judge()
        self.flash.stored = None
        self._reply()
        self.flash.report = "on-going"
        self._pending_apply = verdict
        self._note(f"AT+SMUPGRADE: applying a stored {verdict.size}-byte file via the updater")
        self.reboot("AT+SMUPGRADE", announce=True)

    def _cmd_notify(self, args: str) -> None:
        self._reply()

    def _cmd_sqnwl(self, args: str) -> None:
        if self.flash.software <= OLD_BOOTROM_BUILD:
            self._error()
        else:
            self._reply()

    def _cmd_smlog(self, args: str) -> None:
        if args == "?":
            self._reply_tight(["+SMLOG: LOG_INHERIT"])
        else:
            self._reply()

    def _cmd_fsrdfile(self, args: str) -> None:
        self._send_at(b"\r\n\r\nERROR\r\n")  # no crash dump: as observed, an extra blank line

    def _cmd_showver(self, args: str) -> None:
        if args.replace(" ", "").lower() != '="showver"':
            self._error()
            return
        self._reply(self.showver_lines())

    def showver_lines(self) -> list[str]:
        flash = self.flash

        def build(b: int | None) -> str:
            return "NA" if b is None else f"{lr_version(flash.family, b)} [{b}]"

        active = 0 if flash.bootloader1 is None else 1
        rows = [
            (f"Bootloader0{'*' if active == 0 else ''}", build(flash.bootrom)),
            (f"Bootloader1{'*' if active == 1 else ''}", build(flash.bootloader1)),
            ("Bootloader2", build(flash.bootloader2)),
            ("NV Info", "1.1,0,0"),
            ("Software", f"{build(flash.software)} by robot-soft at {build_date(flash.software)}"),
            ("UE", ue_version(flash.family, flash.software)),
        ]
        lines = ["SYSTEM VERSION", "==============", "  FIRMWARE VERSION"]
        lines += [f"    {name:<13}: {value}" for name, value in rows]
        lines += ["  COMPONENTS", "    ZSP0         : 1.0.99-13604",
                  "    ZSP1         : 1.0.99-12341"]
        return lines

    def _cmd_info(self, args: str) -> None:
        ue = ue_version(self.flash.family, self.flash.software)
        if args == "":
            self._reply(["SEQUANS Communications", "VZM20Q", f"UE{ue}"])
        elif args == "1":
            lr = lr_version(self.flash.family, self.flash.software)
            self._reply([f"UE{ue}", f"LR{lr}-{self.flash.software}"])
        else:
            self._error()

    def _cmd_cgsn(self, args: str) -> None:
        if args not in ("", "=1"):
            self._error()
            return
        self._reply([self.flash.imei])

    # ------------------------------------------------------------------ reboot
    def reboot(self, reason: str, *, announce: bool) -> None:
        """Shut down (after the pending reply has left) and boot the selected image."""
        if announce:
            self._urc("+SHUTDOWN")
        self._send(b"\x00")
        self._note(f"reboot ({reason})")
        self.idle.busy()
        self._interrupt_apply(f"interrupted by a reboot ({reason})")
        self._cancel_timers()
        self._leave_stp()
        self._applying = False
        self.mode = None
        self.data_mode = False
        self._commands.take_rest()
        delay = self.config.reboot_s + self.faults.boot_silence_s()
        self._later(delay, self._boot)

    def power_cycle(self) -> None:
        """Power removed and restored: no +SHUTDOWN, whatever was in progress is lost."""
        self._note("power cycle")
        self.idle.busy()
        if self._sink is not None and self._stp_purpose == StpPurpose.ON_THE_FLY:
            self._abandon_transfer("power lost during an ON_THE_FLY transfer")
        if self._applying and self._pending_apply is None:
            self.flash.app_ok = False
        self._interrupt_apply("interrupted by a power loss")
        self._cancel_timers()
        self._leave_stp()
        self._applying = False
        self.mode = None
        self._later(self.config.reboot_s, self._boot)

    def _boot_baud(self, mode: Smod) -> int:
        if mode == Smod.FFH:
            return self.config.ffh_baud
        return self.config.recovery_baud if mode == Smod.RECOVERY else self.config.app_baud

    def _boot(self) -> None:
        if self._pending_apply is not None:
            target = Smod.UPDATER
        else:
            target = BOOT_TO_SMOD[self.flash.boot]
            if target == Smod.FFF and not self.flash.app_ok:
                target = Smod.RECOVERY
                self._note("application image damaged: booting RECOVERY")
        if target == Smod.FFF and self.faults.boot_into_recovery():
            target = Smod.RECOVERY
        baud = self._boot_baud(target)
        self.wire.modem_baud = self.faults.boot_baud(baud)
        self.mode = target
        self.idle.ready(self.engine.time)
        self.echo = self.config.echoes(ECHO_MODES[target])
        self.cfun = 1
        self._commands.take_rest()
        self._note(f"booted {MODE_NAMES[target]} at {self.wire.modem_baud} baud")
        if target == Smod.FFF:
            self._urc("+SYSSTART")
        elif target == Smod.FFH and self.config.sysffh:
            self._send(b"+SYSFFH\r\n")  # framed as the boot loader's replies
        if self._pending_apply is not None:
            verdict = self._pending_apply
            self._pending_apply = None
            self._start_apply(verdict, via="store")

    # ------------------------------------------------------------------ STP
    def _enter_stp(self, purpose: StpPurpose, max_transfer: int) -> None:
        # The fault is asked first so that it is recorded even where the knob already says zero.
        filled = self.faults.reply_hcrc() and self.config.reply_hcrc == "filled"
        self._stp = stp.StpSlave(max_transfer, reply_hcrc=filled)
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
        if self.mode is None:
            return
        self._drive_stp(self._stp.feed(data))

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
            # Frames that came in while a block was being written wait in the decoder. Go on only
            # while that makes progress: a partial frame (or a few stray bytes) waits for more.
            if slave is None or slave is not self._stp or slave.busy or not slave.decoder.buffered:
                return
            events = slave.feed(b"")

    def _block(self, event: stp.BlockReceived) -> None:
        assert self._stp is not None and self._sink is not None
        size = len(event.data)
        consumed = size
        if self.config.partial_blocks:
            consumed = min(size, PAGE_SIZE - self._stp.received % PAGE_SIZE)
        if self._stp_purpose == StpPurpose.STORE:
            consumed = min(consumed, self.config.store_limit - self._stored_len)
        accepted = event.data[:consumed]
        if self._stp_purpose == StpPurpose.ON_THE_FLY and self._sink.size == 0 and accepted:
            self._sink.feed(accepted)
            if self._sink.looks_like_full_image and self.mode != Smod.FFF:
                self.flash.app_ok = False  # the application's flash is being overwritten
        else:
            self._sink.feed(accepted)
        if self._stp_purpose == StpPurpose.STORE and self.flash.stored is not None:
            self.flash.stored += accepted
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
            self.mode = Smod(self.config.updater_smod)
            self.echo = self.config.echoes("updater")
            self.idle.ready(self.engine.time)
            self._note(f"updater running at {self.wire.modem_baud} baud")

        self._later(self.config.updater_load_s, started)

    # ------------------------------------------------------------------ apply
    def _start_apply(self, verdict: Received, *, via: str) -> None:
        self._applying = True
        self.idle.busy()
        self._apply = (verdict, via)
        kind = verdict.meta.kind if verdict.meta else None
        self.flash.report = "No report" if self._unreported(kind, via) else "on-going"
        duration = self.config.bootrom_apply_s if kind == ImageKind.BOOTROM else self.config.apply_s
        self._note(f"applying {kind.value if kind else 'unknown'} image ({via}), {duration:g} s")
        if self.faults.power_loss_phase("apply"):
            self._later(duration / 2, self.power_cycle)
            return
        self._later(duration, lambda: self._finish_apply(verdict, via))

    def _record(self, verdict: Received, via: str, problem: str | None) -> dict[str, Any]:
        meta = verdict.meta
        record: dict[str, Any] = {
            "via": via,
            "kind": meta.kind.value if meta else None,
            "from": self.flash.software,
            "to": meta.version if meta else None,
            "result": "fail" if problem else "success",
        }
        if problem:
            record["reason"] = problem
        return record

    def _interrupt_apply(self, why: str) -> None:
        """An apply cut short: nothing is applying any more, so the report says `fail`."""
        if not self._applying or self._apply is None:
            return
        verdict, via = self._apply
        self._apply = None
        self._applying = False
        self.flash.report = "fail"
        self.flash.history.append(self._record(verdict, via, why))
        self._note(f"upgrade failed: {why}")

    def _finish_apply(self, verdict: Received, via: str) -> None:
        self._applying = False
        self.idle.ready(self.engine.time)
        self._apply = None
        problem = self._apply_problem(verdict, via)
        if problem is None and self.faults.apply_fails():
            problem = "fault: apply reports fail"
        meta = verdict.meta
        record = self._record(verdict, via, problem)
        if problem:
            self.flash.report = "fail"
            self._note(f"upgrade failed: {problem}")
        else:
            assert meta is not None
            if meta.kind == ImageKind.BOOTROM:
                self.flash.bootrom = meta.version
            else:
                self.flash.software = meta.version
                self.flash.bootloader1 = meta.version
                self.flash.bootloader2 = meta.version
                if meta.family is not None:
                    self.flash.family = meta.family
                self.flash.app_ok = True
            self.flash.report = "success"
            self._note(f"upgrade applied: now {meta.kind.value} {meta.version}")
        if self._unreported(meta.kind if meta else None, via):
            self.flash.report = "No report"
        self.flash.history.append(record)
        if via == "store":
            if not problem:
                self.flash.boot = Boot.FFF  # the FFF method brings the modem back by itself
            self.reboot("upgrade finished", announce=True)
        elif (not problem and self.config.self_reboot_after_otf and meta is not None
              and meta.kind != ImageKind.BOOTROM):
            self.flash.boot = Boot.FFF
            self.reboot("image written: back to the application by itself", announce=True)

    def _unreported(self, kind: ImageKind | None, via: str) -> bool:
        """`bootrom_report=no-report`: a bootrom package sent ON_THE_FLY leaves no report."""
        return (kind == ImageKind.BOOTROM and via == "on-the-fly"
                and self.config.bootrom_report == "no-report")

    def _apply_problem(self, verdict: Received, via: str) -> str | None:
        if not verdict.ok:
            return verdict.problem
        meta = verdict.meta
        if verdict.is_elf or meta is None:
            return "an ELF file is not an upgrade package"
        if meta.kind == ImageKind.UPDATER:
            return "an updater is not an upgrade package"
        if via == "on-the-fly" and self.mode == Smod.FFF and meta.kind != ImageKind.BOOTROM:
            return "only a bootrom package can be flashed ON_THE_FLY from the application"
        if meta.kind == ImageKind.DIFF:
            if via != "store":
                return "a differential image must be stored with AT+SMSTPU, not ON_THE_FLY"
            if meta.source != self.flash.software:
                return (f"differential image for build {meta.source} cannot patch build "
                        f"{self.flash.software}")
        if meta.kind in (ImageKind.FULL, ImageKind.DIFF) and meta.family not in (
                None, self.flash.family):
            return (f"{meta.family.value if meta.family else '?'} image on a "
                    f"{self.flash.family.value} modem")
        return None


SUPPORTED_BAUDS = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1000000, 2000000,
                   3000000, 3686400)

Handler = Callable[[SimModem, str], None]

APP_COMMANDS: dict[str, Handler] = {
    "": SimModem._cmd_at,
    "E": SimModem._cmd_echo,
    "+BIND": SimModem._cmd_ok,
    "+SMOD": SimModem._cmd_smod,
    "+BMOD": SimModem._cmd_bmod,
    "+SMSWBOOT": SimModem._cmd_smswboot,
    "^RESET": SimModem._cmd_reset,
    "+CFUN": SimModem._cmd_cfun,
    "+IPR": SimModem._cmd_ipr,
    "+SMSTPU": SimModem._cmd_smstpu,
    "+SMUPGRADE": SimModem._cmd_smupgrade,
    "+SQNSUPGRADENTF": SimModem._cmd_notify,
    "+SQNWL": SimModem._cmd_sqnwl,
    "+SMLOG": SimModem._cmd_smlog,
    "+FSRDFILE": SimModem._cmd_fsrdfile,
    "!": SimModem._cmd_showver,
    "I": SimModem._cmd_info,
    "+CGSN": SimModem._cmd_cgsn,
}

# The handlers the updater ELF carries (+SMOD, +BMOD, +SMSWBOOT, +IPR, +IFC, +ICF, +SMLOG, +SMSTPU,
# +SMUPGRADE, ^RESET, +SHUTDOWN, ...); recovery runs the same image.
UPDATER_COMMANDS: dict[str, Handler] = {
    "": SimModem._cmd_at,
    "E": SimModem._cmd_echo,
    "+SMOD": SimModem._cmd_smod,
    "+BMOD": SimModem._cmd_bmod,
    "+SMSWBOOT": SimModem._cmd_smswboot,
    "+IPR": SimModem._cmd_ipr,
    "+IFC": SimModem._cmd_ok,
    "+ICF": SimModem._cmd_ok,
    "+SMLOG": SimModem._cmd_smlog,
    "+SMSTPU": SimModem._cmd_smstpu,
    "+SMUPGRADE": SimModem._cmd_smupgrade,
    "^RESET": SimModem._cmd_reset,
    "+SMCLEANBOOT": SimModem._cmd_ok,
}
