"""Modems that answer where the protocol reference is silent, played by the simulator.

The simulator plays most variant points with its own knobs (`updater_smod`, `bootrom_report`,
`self_reboot_after_otf`, ... in sim/config.py). Each function here makes it answer one more point
differently (what a real modem may do: see docs/protocol-variants.md) by patching its command
handlers for the duration of one test only (pytest's monkeypatch), so the client meets the
variant through the same sim:// port a real run uses.

`CutPort` is a line that goes dead (or carries only garbage) from a chosen moment on: a modem that
hangs mid-transfer, as seen from the host.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sqnflash.sim import modem as sim_modem
from sqnflash.sim.images import ImageKind
from sqnflash.sim.modem import SimModem
from sqnflash.sim.protocol_sim import Serial as SimSerial

Handler = Callable[[SimModem, str], None]


def bootrom_report(monkeypatch: pytest.MonkeyPatch, answer: str) -> None:
    """After a bootrom package `AT+SMUPGRADE?` gets an empty reply (`none`) or ERROR (`error`):
    beyond the simulator's `bootrom_report` knob (`success`, `no-report`)."""
    original_start = SimModem._start_apply
    original: Handler = sim_modem.UPDATER_COMMANDS["+SMUPGRADE"]

    def start(self: SimModem, verdict: Any, *, via: str) -> None:
        meta = verdict.meta
        self.variant_bootrom = meta is not None and meta.kind == ImageKind.BOOTROM  # type: ignore[attr-defined]
        original_start(self, verdict, via=via)

    def smupgrade(self: SimModem, args: str) -> None:
        if args != "?" or not getattr(self, "variant_bootrom", False):
            original(self, args)
        elif answer == "none":
            self._reply()
        elif answer == "error":
            self._error()
        else:
            self._reply([f"+SMUPGRADE: {answer}"])

    monkeypatch.setattr(SimModem, "_start_apply", start)
    monkeypatch.setitem(sim_modem.UPDATER_COMMANDS, "+SMUPGRADE", smupgrade)


def no_report_after_image(monkeypatch: pytest.MonkeyPatch) -> None:
    """RECOVERY answers `AT+SMUPGRADE?` with `No report` whatever it does."""
    original: Handler = sim_modem.UPDATER_COMMANDS["+SMUPGRADE"]

    def smupgrade(self: SimModem, args: str) -> None:
        if args == "?":
            self._reply(["+SMUPGRADE: No report"])
        else:
            original(self, args)

    monkeypatch.setitem(sim_modem.UPDATER_COMMANDS, "+SMUPGRADE", smupgrade)


def report_after_self_reboot(monkeypatch: pytest.MonkeyPatch, report: str) -> None:
    """With the simulator's `self_reboot_after_otf=1`, the application it reboots into answers
    `AT+SMUPGRADE?` with `report` (the simulator keeps `success`)."""
    original = SimModem._finish_apply

    def finish(self: SimModem, verdict: Any, via: str) -> None:
        original(self, verdict, via)
        if via == "on-the-fly" and self.config.self_reboot_after_otf \
                and self.flash.report == "success":
            self.flash.report = report

    monkeypatch.setattr(SimModem, "_finish_apply", finish)


def bootloader0_stays_factory(monkeypatch: pytest.MonkeyPatch) -> None:
    """showver keeps naming the factory bootrom (33080) as Bootloader0 after a bootrom package
    written ON_THE_FLY, as observed on modems upgraded by Pycom's recovery method (docs/protocol.md
    §4), until the package is applied once more from the application's store."""
    original_finish = SimModem._finish_apply
    original_lines = SimModem.showver_lines

    def finish(self: SimModem, verdict: Any, via: str) -> None:
        meta = verdict.meta
        if meta is not None and meta.kind == ImageKind.BOOTROM:
            self.variant_b0_factory = via == "on-the-fly"  # type: ignore[attr-defined]
        original_finish(self, verdict, via)

    def lines(self: SimModem) -> list[str]:
        rows = original_lines(self)
        if getattr(self, "variant_b0_factory", False):
            rows = ["    Bootloader0  : 5.1.1.0 [33080]" if "Bootloader0" in row else row
                    for row in rows]
        return rows

    monkeypatch.setattr(SimModem, "_finish_apply", finish)
    monkeypatch.setattr(SimModem, "showver_lines", lines)


def ok_without_line_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """`AT+SMSTPU="ON_THE_FLY"` is answered `\r\nOK` and the line is STP's at once (the 4 bytes
    Pycom reads)."""
    original: Handler = sim_modem.UPDATER_COMMANDS["+SMSTPU"]

    def smstpu(self: SimModem, args: str) -> None:
        if args.upper() == '="ON_THE_FLY"':
            self._send(b"\r\nOK")
            self._enter_stp(sim_modem.StpPurpose.ON_THE_FLY, self.config.max_transfer)
        else:
            original(self, args)

    monkeypatch.setitem(sim_modem.UPDATER_COMMANDS, "+SMSTPU", smstpu)


def refuses(monkeypatch: pytest.MonkeyPatch, name: str, *, mode: str = "app") -> None:
    """The application (or, with `mode="updater"`, updater and RECOVERY) answers ERROR to the
    command `name` (`E` for ATE0, `+BIND`, ...)."""
    table = sim_modem.APP_COMMANDS if mode == "app" else sim_modem.UPDATER_COMMANDS

    def refuse(self: SimModem, args: str) -> None:
        self._error(f"variant: {name} refused")

    monkeypatch.setitem(table, name, refuse)


def smupgrade_reboots_before_ok(monkeypatch: pytest.MonkeyPatch) -> None:
    """`AT+SMUPGRADE` gets no OK: the modem reboots into its updater at once."""
    original: Handler = sim_modem.APP_COMMANDS["+SMUPGRADE"]

    def smupgrade(self: SimModem, args: str) -> None:
        if args:
            original(self, args)
            return
        sent: list[bytes] = []
        real_send = self._send

        def swallow(data: bytes) -> None:
            sent.append(data)

        self._send = swallow  # type: ignore[method-assign]
        try:
            original(self, args)  # its OK is lost
        finally:
            self._send = real_send  # type: ignore[method-assign]

    monkeypatch.setitem(sim_modem.APP_COMMANDS, "+SMUPGRADE", smupgrade)


class CutPort(SimSerial):
    """A sim:// port whose modem-to-host line goes silent (or, with `garbage`, carries only
    garbled bytes) once the modem has sent `after` replies of STP operation `op`."""

    def __init__(self, url: str, *, op: int, after: int, garbage: bool = False) -> None:
        self.op = op
        self.after = after
        self.garbage = garbage
        self.seen = 0
        self.cut_at: float | None = None
        self._tail = b""
        super().__init__(url, baudrate=921600, timeout=1.0)

    def _watch(self, data: bytes) -> None:
        seen = self._tail + data
        self.seen += seen.count(b"tsaf" + bytes([self.op]))
        self._tail = seen[-4:]
        if self.seen >= self.after and self.cut_at is None:
            self.cut_at = self._sim().clock.now()

    @property
    def in_waiting(self) -> int:
        return 0 if self.cut_at is not None and not self.garbage else super().in_waiting

    def read(self, size: int = 1) -> bytes:
        if self.cut_at is None:
            data = super().read(size)
            self._watch(data)
            return data
        sim = self._sim()
        if self.garbage:
            return bytes(0xFE for _ in super().read(size))
        # Silent: whatever the modem sends is lost; the read lasts its whole timeout.
        until = None if self._timeout is None else sim.clock.now() + self._timeout
        while True:
            sim.read(65536, None if until is None else max(0.0, until - sim.clock.now()))
            if until is None or sim.clock.now() >= until:
                return b""


def refuses_once(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Updater and RECOVERY answer ERROR to the first command `name` (a modem not quite ready
    after its boot), then accept it."""
    original: Handler = sim_modem.UPDATER_COMMANDS[name]
    refused: list[bool] = []

    def once(self: SimModem, args: str) -> None:
        if not refused:
            refused.append(True)
            self._error(f"variant: {name} refused once")
        else:
            original(self, args)

    monkeypatch.setitem(sim_modem.UPDATER_COMMANDS, name, once)
