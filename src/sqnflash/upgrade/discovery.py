"""Which ports have a Sequans modem on them: each port is asked `AT` at the rates a modem may
run at, then read like `sqnflash info` reads it, all ports at once.

Only what `info` sends is sent (`AT`, `AT+SMOD?`, `AT!="showver"`, `ATI1`, `AT+CGSN`): no mode
change, no baud change on the modem, no `+++` escape (which would drop a data session). A port in
use by another run is reported as such and not opened.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqnflash.errors import SqnflashError
from sqnflash.modem import APP_BAUD, BOOT_BAUD, Modem
from sqnflash.modem.modem import OTHER_BAUDS

# The application's usual rate first, the boot loader's next, then the others a modem may have
# been set to with AT+IPR.
PROBE_BAUDS = (APP_BAUD, BOOT_BAUD, *OTHER_BAUDS)
PROBE_TIMEOUT_S = 0.3  # per rate: a modem answers AT within milliseconds


@dataclass
class Probe:
    """What answered on one port."""

    port: str
    modem: bool = False
    baud: int | None = None
    mode: str | None = None
    family: str | None = None
    software_build: int | None = None
    software_version: str | None = None
    imei: str | None = None
    error_code: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"port": self.port, "modem": self.modem, "baud": self.baud, "mode": self.mode,
                "family": self.family, "software_build": self.software_build,
                "software_version": self.software_version, "imei": self.imei,
                "error_code": self.error_code, "error": self.error}


def probe_port(port: str, *, bauds: Sequence[int] = PROBE_BAUDS, rtscts: bool | None = False,
               timeout_s: float = PROBE_TIMEOUT_S) -> Probe:
    """Ask `port` whether a modem is there; never raises for what the port or modem does."""
    try:
        with Modem.open(port, baud=bauds[0], rtscts=rtscts) as modem:
            for baud in bauds:
                modem.link.set_baud(baud)
                if modem.at.probe(timeout_s=timeout_s):
                    info = modem.info()
                    return Probe(port, True, baud=baud, mode=info.mode.label,
                                 family=info.family, software_build=info.software_build,
                                 software_version=info.software_version, imei=info.imei)
            return Probe(port, error=f"no answer to AT at {len(bauds)} rates "
                                     f"({', '.join(str(b) for b in bauds)})")
    except SqnflashError as exc:
        return Probe(port, error_code=exc.code, error=exc.cause)


def probe_ports(ports: Sequence[str], *, bauds: Sequence[int] = PROBE_BAUDS,
                rtscts: bool | None = False) -> list[Probe]:
    """`probe_port` on every port at once (one thread each: a silent port costs its timeouts
    once, not once per port); the results in the order of `ports`."""
    results: list[Probe | None] = [None] * len(ports)

    def one(index: int, port: str) -> None:
        try:
            results[index] = probe_port(port, bauds=bauds, rtscts=rtscts)
        except Exception as exc:  # a bug must not hide the other ports' answers
            results[index] = Probe(port, error=f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=one, args=(i, port), name=f"probe {port}", daemon=True)
               for i, port in enumerate(ports)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [r if r is not None else Probe(port, error="not probed")
            for r, port in zip(results, ports, strict=True)]
