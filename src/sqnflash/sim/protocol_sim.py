"""pyserial URL handler for `sim://`: any code that opens a port can open a simulated modem.

Registered by importing `sqnflash` (it appends `sqnflash.sim` to
`serial.protocol_handler_packages`); then
`serial.serial_for_url("sim://?version=38638&mode=app")` returns a port whose other end is a
simulated SQN3330. Settings are those of `SimConfig` (and `fault_<name>` for faults); a name before
the `?` (`sim://bench?...`) makes later opens of the same name reach the same modem, as reopening a
real device does.
"""

from __future__ import annotations

from typing import Any

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from sqnflash.sim.config import SimConfigError
from sqnflash.sim.factory import from_url
from sqnflash.sim.faults import FaultError
from sqnflash.sim.profile import MONARCH1_BAUDS
from sqnflash.sim.simulator import Simulator


class Serial(SerialBase):  # type: ignore[misc]
    is_open: bool  # set by SerialBase; declared for the type checker
    BAUDRATES = MONARCH1_BAUDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sim: Simulator | None = None
        super().__init__(*args, **kwargs)

    def open(self) -> None:
        if self.is_open:
            raise SerialException("Port is already open.")
        if self._port is None:
            raise SerialException("Port must be configured before it can be used.")
        try:
            self.sim = from_url(self._port)
        except (SimConfigError, FaultError, ValueError) as exc:
            raise SerialException(f"cannot open {self._port}: {exc}") from exc
        self.is_open = True
        self._reconfigure_port()

    def close(self) -> None:
        # io's close() flushes first, which needs the port still open.
        if self.is_open:
            super().close()
        self.is_open = False

    def _reconfigure_port(self) -> None:
        if self.sim is not None:
            self.sim.set_host_baud(int(self._baudrate))
            self.sim.set_host_flow_control(bool(self._rtscts))

    @property
    def max_baud(self) -> int | None:
        """The fastest rate the simulated adapter carries, when one is set."""
        return (self.sim.config.adapter_max_baud or None) if self.sim is not None else None

    @property
    def sim_clock(self) -> Any:
        """The simulator's clock, so a client can measure time the way the modem sees it."""
        return self.sim.clock if self.sim is not None else None

    def _sim(self) -> Simulator:
        if not self.is_open or self.sim is None:
            raise PortNotOpenError()
        return self.sim

    @property
    def in_waiting(self) -> int:
        return self._sim().in_waiting()

    def read(self, size: int = 1) -> bytes:
        return self._sim().read(size, self._timeout)

    def write(self, data: bytes) -> int:
        return self._sim().write(bytes(data))

    def reset_input_buffer(self) -> None:
        self._sim().discard_input()

    def reset_output_buffer(self) -> None:
        self._sim().discard_output()

    @property
    def out_waiting(self) -> int:
        return 0

    def flush(self) -> None:
        self._sim()

    def _update_break_state(self) -> None:
        pass

    def _update_rts_state(self) -> None:
        pass

    def _update_dtr_state(self) -> None:
        pass

    @property
    def cts(self) -> bool:
        return True

    @property
    def dsr(self) -> bool:
        return True

    @property
    def ri(self) -> bool:
        return False

    @property
    def cd(self) -> bool:
        return True
