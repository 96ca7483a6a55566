"""The `sqnsupgrade` module built into a simulated Pycom board, of the version its release carries.

What each version does (its functions, its `uart()` arguments, the bootrom package it flashes,
whether it falls back to `AT+SMSWBOOT=m,0` or checks the bootrom first) comes from the release
facts in `sqnflash.firmware.pycom_releases`; sim/board.py's docstring says how it talks to the
modem.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable
from typing import Any

from sqnflash.firmware.pycom_releases import UpgraderModule
from sqnflash.protocol import at, stp
from sqnflash.sim.board_objects import (
    POLL_S,
    BoardException,
    BoardPort,
    Bridged,
    Gen,
    SimFunction,
    SimModule,
)
from sqnflash.sim.images import Family, ImageKind, make_image


def uart_signature(text: str) -> inspect.Signature:
    """`uart(ffh_mode=False, mfile=None, ...)` as the signature calls are checked against."""
    tree = ast.parse(f"def {text}: pass")
    func = tree.body[0]
    assert isinstance(func, ast.FunctionDef)
    names = [arg.arg for arg in func.args.args]
    defaults = [ast.literal_eval(d) for d in func.args.defaults]
    padded = [inspect.Parameter.empty] * (len(names) - len(defaults)) + defaults
    return inspect.Signature([
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default)
        for name, default in zip(names, padded, strict=True)])


class UpgraderLink:
    """How `sqnsupgrade` talks to the modem over UART1: AT commands, mode detection, STP."""

    def __init__(self, board: BoardPort, spec: UpgraderModule) -> None:
        self.board = board
        self.spec = spec
        self.first = spec.version_tuple == (0,)  # the first module, which had no VERSION

    # ------------------------------------------------------------------ printing
    def print(self, text: str) -> None:
        self.board.stdout(text + "\n")

    # ------------------------------------------------------------------ talking to the modem
    def poll(self, timeout_s: float, feed: Callable[[bytes], bool]) -> Gen:
        """Read UART1 every POLL_S until `feed` (given what arrived) is satisfied, or timeout."""
        waited = 0.0
        while waited < timeout_s:
            yield POLL_S
            waited += POLL_S
            data = bytes(self.board.uart_rx)
            self.board.uart_rx.clear()
            if feed(data):
                return True
        return False

    def command(self, command: str, timeout_s: float = 1.0, terminator: str = "\r\n",
                seen: bytearray | None = None) -> Gen:
        """The final reply to `command`, or None; `seen` collects the bytes as they came."""
        self.board.uart_rx.clear()
        reader = at.AtReader()
        reader.begin(command)
        finals: list[at.AtResponse] = []

        def feed(data: bytes) -> bool:
            if seen is not None:
                seen.extend(data)
            finals.extend(e.response for e in reader.feed(data) if isinstance(e, at.Final))
            return bool(finals)

        self.board.modem_send(at.encode_command(command, terminator))
        yield from self.poll(timeout_s, feed)
        return finals[0] if finals else None

    def stp_entry(self, command: str) -> Gen:
        """The reply that opens STP, read as Pycom accepts it (its first 4 bytes may be
        `\\r\\nOK`): an OK whose line end never comes passes, ERROR does not."""
        seen = bytearray()
        reply = yield from self.command(command, seen=seen)
        if reply is not None:
            return reply.ok
        return bytes(seen).strip(b"\r\n").endswith(b"OK")

    def wakeup(self, tries: int = 10, message: str | None = "Attempting AT wakeup...") -> Gen:
        if message:
            self.print(message)
        for attempt in range(tries + 1):
            reply = yield from self.command("AT", 0.5)
            if reply is not None and reply.ok:
                return True
            if attempt < tries:
                yield 1.0
        return False

    def detect_state(self) -> Gen:
        board = self.board
        for attempt in range(1, 4):
            board.set_uart1(921600)
            if attempt == 1:
                board.modem_send(b"+++")
                yield 1.15
            for baud in (921600, 115200):
                board.set_uart1(baud)
                for _ in range(2):
                    reply = yield from self.command("AT", 0.25 * attempt + 0.25)
                    if reply is None:
                        continue
                    smod = yield from self.command("AT+SMOD?", 1.0 * attempt)
                    if smod is not None and smod.ok:
                        try:
                            return at.parse_smod(smod.lines)
                        except at.ReplyFormatError:
                            pass
            yield 1.0 * attempt
        return None

    def old_bootrom(self) -> Gen:
        reply = yield from self.command('AT!="showver"', 2.0)
        if reply is None or not reply.ok:
            return False
        for line in reply.lines:
            if "Bootloader0" in line:
                return "[33080]" in line
        return False

    def switch(self, mode: int) -> Gen:
        """AT+SMSWBOOT=<mode>,1 as each version does it; False when the module gives up."""
        reply = yield from self.command(f"AT+SMSWBOOT={mode},1", 2.0)
        if self.first:
            return True  # the first module did not read this reply
        if reply is not None and not reply.ok:
            if not self.spec.has_ffh_fallback:
                self.print(f"Received ERROR from AT+SMSWBOOT={mode},1! Aborting!")
                return False
            yield 5.0
            second = yield from self.command(f"AT+SMSWBOOT={mode},0", 2.0)
            if second is None or not second.ok:
                self.print(f"Received ERROR from AT+SMSWBOOT={mode},0! Aborting!")
                return False
            yield from self.command("AT^RESET", 2.0)
        return True

    def upload(self, blob: bytes) -> Gen:
        board = self.board
        master = stp.StpMaster(len(blob), block_cap=stp.PYCOM_BLOCK_CAP)
        self.print(f"Sending {len(blob)} bytes")
        failures = 0
        while not master.done:
            request = master.request()
            data = blob[request.offset : request.offset + request.length] \
                if request.needs_data else b""
            board.modem_send(master.encode(request, data))
            moved = yield from self.poll(5.0, lambda chunk: self._moved(master.feed(chunk)))
            failures = 0 if moved else failures + 1
            if failures > 4:
                return False
        board.bootrom_sent += len(blob)
        return True

    def _moved(self, events: list[stp.MasterEvent]) -> bool:
        """Whether the transfer moved on; a session opening is reported as Pycom's module does."""
        moved = False
        for event in events:
            if isinstance(event, stp.SessionOpened):
                self.print(f"Session opened: version {event.version}, max transfer "
                           f"{event.max_transfer} bytes")
            if isinstance(event, (stp.SessionOpened, stp.BlockAccepted, stp.Advanced)):
                moved = True
        return moved

    def bootrom_stage(self) -> Gen:
        """Flash the board's bootrom copy, then boot the modem's boot loader (FFH)."""
        if not (yield from self.wakeup()):
            return False
        yield from self.command("ATE0")
        yield from self.command("AT+SMOD?")
        yield from self.command('AT+SQNSUPGRADENTF="started"')
        if not self.first:
            if not (yield from self.switch(3)):
                return False
            yield 3.0
            if not (yield from self.wakeup(300, None)):
                return False
        yield 1.0
        yield from self.command("AT+CFUN=4")
        if not (yield from self.stp_entry('AT+SMSTPU="ON_THE_FLY"')):
            self.print("Code download failed, aborting!")
            return False
        blob = make_image(ImageKind.BOOTROM, Family.CATM1, self.spec.bootrom_build,
                          size=self.spec.bootrom_size)
        if not (yield from self.upload(blob)):
            self.print("Code download failed, aborting!")
            return False
        yield 1.5
        return (yield from self.switch(0))

    def at_negotiation(self) -> Gen:
        board = self.board
        self.print("Attempting AT auto-negotiation...")
        board.set_uart1(115200)
        for attempt in range(11):
            reply = yield from self.command("AT", 0.5)
            if reply is not None and reply.ok:
                break
            if attempt == 10:
                self.print("ERROR sending AT command... no response? b''")
                return False
            yield 1.0
        reply = yield from self.command("AT+IPR=921600", 1.0, terminator="\n")
        if reply is None or not reply.ok:
            self.print("ERROR in AT+IPR=921600 returned b''")
            return False
        board.set_uart1(921600)
        smod = yield from self.command("AT+SMOD?", 1.0)
        if smod is None or not smod.lines or smod.lines[0].strip() != "0":
            self.print(f"ERROR in AT+SMOD returned {list(smod.lines) if smod else []}")
            return False
        return True


class Upgrader(UpgraderLink):
    """The module's public functions."""

    def module(self) -> SimModule:
        attrs: dict[str, Any] = {"run": SimFunction("run", self.run),
                                 "uart": SimFunction("uart", self._uart_function())}
        if not self.first:
            attrs["VERSION"] = self.spec.version
        for name, impl in self._functions().items():
            if name in self.spec.functions:
                attrs[name] = SimFunction(name, impl)
        return SimModule("sqnsupgrade", attrs, file="sqnsupgrade.py")

    def _functions(self) -> dict[str, Callable[..., Any]]:
        return {"info": self.info, "version": self.show_version, "load": self.load,
                "state": self.state, "imei": self.imei}

    def _uart_function(self) -> Callable[..., Gen]:
        signature = uart_signature(self.spec.uart_signature)

        def uart(*args: Any, **kwargs: Any) -> Gen:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            given = bound.arguments
            return self.uart(given["ffh_mode"], given["mfile"], given["color"])

        uart.__signature__ = signature  # type: ignore[attr-defined]
        return uart

    def welcome(self) -> None:
        self.print("<<< Welcome to the SQN3330 firmware updater"
                   + (" >>>" if self.first else f" [{self.spec.version}] >>>"))
        if not self.first:
            self.print(f">>> {self.board.sysname} with firmware version {self.board.release}")

    def _missing_file(self, path: str) -> None:
        self.print(f"Exception when checking file {path}... wrong file name?")
        self.print("[Errno 2] ENOENT")

    # ------------------------------------------------------------------ public functions
    def uart(self, ffh_mode: bool = False, mfile: str | None = None,
             color: int = 0x050505) -> Gen:
        board = self.board
        board.calls.append(f"uart({'True' if ffh_mode else ''})")
        self.welcome()
        state = yield from self.detect_state()
        retry = False
        if state is None:
            self.print("Could not detect your modem!")
            self.print("Please try to power off your device and restart in safeboot mode.")
            return False
        if state == 0:
            self.print("Your modem is in recovery mode. You will need to use firmware.dup and "
                       "updater.elf file to upgrade.")
            retry = True
            ffh_mode = True
        self.print("Preparing modem for upgrade...")
        if ffh_mode and not retry:
            if self.spec.checks_bootrom and not (yield from self.old_bootrom()):
                self.print("FFH mode is not necessary... ignoring!")
                self.print("Do not specify updater.elf when updating!")
                ffh_mode = False
                mfile = None
            elif not (yield from self.bootrom_stage()):
                self.print("Unable to upgrade bootrom.")
                return None
            else:
                yield 1.0
        if mfile is not None:
            raise BoardException("OSError", "[Errno 2] ENOENT", (("sqnsupgrade.py", 1, "uart"),))
        if ffh_mode:
            board.set_uart1(115200)
            yield from self.command("AT+SMOD?")
            yield 1.0
            if not (yield from self.at_negotiation()):
                self.print("AT auto-negotiation failed! Exiting.")
                return False
        else:
            if not (yield from self.wakeup()):
                return False
            yield from self.command("AT+SMOD?")
            yield 1.0
        yield 0.5
        self.print("Going into MIRROR mode... please close this terminal to resume the upgrade "
                   "via UART")
        yield 0.5
        board.led = color
        board.start_mirror()
        raise Bridged()

    def info(self, verbose: bool = False, debug: bool = False, *args: Any,
             **kwargs: Any) -> Gen:
        self.board.calls.append("info()")
        self.welcome()
        state = yield from self.detect_state()
        sentences = {
            1: "Your modem is in mTools mode.",
            0: "Your modem is in recovery mode! Use firmware.dup and updater.elf to flash new "
               "firmware.",
            4: "Your modem is in upgrade mode! Use firmware.dup to flash new firmware.",
        }
        if state == 2:
            self.print("Your modem is in application mode. Here is the current version:")
            reply = yield from self.command('AT!="showver"' if verbose else "ATI1", 2.0)
            for line in reply.lines if reply is not None else ():
                if line.strip():
                    self.print(line)
            if "imei" in self.spec.functions:
                imei = yield from self.command("AT+CGSN")
                if imei is not None and imei.lines:
                    self.print(f"IMEI: {imei.lines[0].strip()}")
        elif state in sentences:
            self.print(sentences[state])
        else:
            self.print("Cannot determine modem state!")
        return None

    def show_version(self, debug: bool = False) -> Gen:
        self.board.calls.append("version()")
        reply = yield from self.command("ATI1", 2.0)
        for line in reply.lines if reply is not None else ():
            self.print(line)
        return None

    def state(self, retry: int = 5, hangup: bool = False, debug: bool = False) -> Gen:
        self.board.calls.append("state()")
        return (yield from self.detect_state())

    def imei(self, retry: int = 5, hangup: bool = False, debug: bool = False) -> Gen:
        self.board.calls.append("imei()")
        if (yield from self.detect_state()) != 2:
            return None
        reply = yield from self.command("AT+CGSN")
        return reply.lines[0].strip() if reply is not None and reply.lines else None

    def run(self, ffile: str, mfile: str | None = None, *args: Any, **kwargs: Any) -> Gen:
        self.board.calls.append("run()")
        self.welcome()
        self._missing_file(mfile or ffile)
        yield 0.0
        return False

    def load(self, mfile: str, *args: Any, **kwargs: Any) -> Gen:
        self.board.calls.append("load()")
        self.welcome()
        self._missing_file(mfile)
        yield 0.0
        return None
