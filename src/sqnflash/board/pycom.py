"""A Pycom GPy/FiPy/G01 between the host and its modem: what it is, what it can do, the bridge.

The modem's UART is wired to the board's ESP32, not to USB. What sqnflash does through the board's
REPL, in order, touching the modem only once the board has proven it can bridge it:

0. Before anything is interrupted, Ctrl-B alone: a board at its prompt answers it with `>>>`, a
   running program leaves it in the input buffer. A `uart()` that a run cut short left running is
   recognised by its lines and followed to its bridge (`await_running_bridge`), since a Ctrl-C
   would cut the board's own work on the modem.
1. `os.uname()`: board type and firmware release.
2. `import sqnsupgrade`, its `VERSION`, where it comes from and what it defines; whether
   `network.LTE.modem_upgrade_mode` exists. A board that cannot bridge stops here.
3. A few AT commands to the modem through `machine.UART(1)` on the board's LTE pins (at 921600,
   after `+++` if a data session holds the line, then at 115200): mode, version table, IMEI.
   Every exchange waits for the final result code or a deadline, never a fixed read.
4. `sqnsupgrade.uart(True)` when the modem needs the board's bootrom / boot loader step,
   `sqnsupgrade.uart()` otherwise. Once the board says it goes into MIRROR mode, its USB UART runs
   at 921600 baud and copies bytes to and from the modem until the board is reset.

Nothing here reads the modem's replies beyond parsing them: deciding what to do with the modem is
the upgrade layer's job. `PycomBoard` is the face the upgrade layer uses; the work is done by
`identify_board` and the checks in `board.info` (1, 2), `ModemUart` (3) and `UartBridge` (0, 4).
"""

from __future__ import annotations

from sqnflash.board import info as _info
from sqnflash.board.identify import identify_board
from sqnflash.board.info import BRIDGE_BAUD, REPL_BAUD, BoardInfo
from sqnflash.board.modem_uart import ModemProbe, ModemUart
from sqnflash.board.repl import RawRepl
from sqnflash.board.uart_bridge import QUIET_UART_S, UartBridge
from sqnflash.events import EventSink, Narrator, discard
from sqnflash.link import Link

# Where they were always imported from.
__all__ = ["BRIDGE_BAUD", "REPL_BAUD", "BoardInfo", "ModemProbe", "PycomBoard"]


class PycomBoard:
    """One Pycom board on `link` (opened at REPL_BAUD)."""

    def __init__(self, link: Link, *, emit: EventSink = discard) -> None:
        self.link = link
        self.narrator = Narrator(link.note, emit)
        self.repl = RawRepl(link)
        self.info: BoardInfo | None = None  # once `identify` has run
        self.uart = ModemUart(self.repl, link, self.narrator, self._pins)
        self.bridge = UartBridge(link, self.repl, self.narrator, self.uart)

    def _pins(self) -> tuple[str, ...]:
        assert self.info is not None, "the board is identified before its modem is talked to"
        return self.info.pins

    @property
    def bridged(self) -> bool:
        """The board mirrors its modem on the link: its REPL is gone until it is reset."""
        return self.bridge.bridged

    @property
    def bridge_running(self) -> bool:
        """uart() was sent and has not ended: the board takes no REPL input meanwhile, and goes
        on to bridge even if sqnflash stops following it."""
        return self.bridge.running

    # ------------------------------------------------------------------ what the board is
    def identify(self) -> BoardInfo:
        self.info = identify_board(self.repl, self.narrator)
        return self.info

    check_bridge = staticmethod(_info.check_bridge)
    check_ffh = staticmethod(_info.check_ffh)

    # ------------------------------------------------------------------ the modem, by AT
    def probe_modem(self, *, details: bool = True) -> ModemProbe:
        return self.uart.probe(details=details)

    # ------------------------------------------------------------------ the bridge
    def start_bridge(self, *, ffh: bool) -> None:
        self.bridge.start(ffh=ffh)

    def is_idle(self) -> bool | None:
        return self.bridge.is_idle()

    def hears_uart(self, listen_s: float = QUIET_UART_S) -> bool:
        return self.bridge.hears_uart(listen_s)

    def await_running_bridge(self) -> bool:
        return self.bridge.await_running()

    def close(self) -> None:
        """Leave raw REPL if the board still runs it (never once it bridges the modem)."""
        if self.repl.active and not self.bridged and not self.bridge_running:
            try:
                self.repl.leave()
            except Exception:  # the board going away at the end changes nothing for the user
                self.link.note("the board did not take Ctrl-B at the end")
