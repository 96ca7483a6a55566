"""A line that goes dead, for the verdict tests of tests/e2e/test_protocol_variants.py.

The modem's own variants are knobs of the simulator (sim/config.py, `sqnflash sim variants`);
`CutPort` stands for the host's side of the line instead: from a chosen moment on it carries
nothing (or only garbage), as a modem that hangs mid-transfer looks from the host.
"""

from __future__ import annotations

from sqnflash.sim.protocol_sim import Serial as SimSerial


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
