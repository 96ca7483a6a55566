"""The fastest safe line: a 6 MB Monarch 1 image with the negotiated rate and adaptive blocks.

For each top rate the simulated modem lists (`AT+IPR=?`: 115200, 921600, 3 686 400), a full 6 MB
image is sent ON_THE_FLY with `--baud auto` and adaptive blocks (from 2016 up to max transfer -
16), on the charged clock (see bench/throughput.py). Printed per rate, each a ratio measured in this
run: payload throughput / the line rate at the rate reached, / the STP protocol limit for the
largest block reached, and / today's figure (921600 baud, 2016-byte blocks, measured here too).
Then a modem that lists nothing above 921600 and loses every block above 2016 bytes: what the
fallbacks cost against forcing 921600/2016 from the start. The last line is machine-readable.

`send()` is the one loop the Monarch 2 benchmark (bench/monarch2.py) shares.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import sqnflash  # noqa: F401  (registers sim://)
from sqnflash.events import Event, TransferStarted
from sqnflash.firmware import load_image
from sqnflash.modem import Modem
from sqnflash.sim.images import Family, ImageKind, make_image
from sqnflash.sim.profile import MONARCH1_BAUDS
from sqnflash.upgrade import Method, Settings, upgrade

MB = 1_000_000
SIZE = 6 * MB
TOPS = (115200, 921600, 3686400)
WIRE_OVERHEAD = 68  # bytes per block exchange besides the payload (bench/throughput.py)
TURNAROUND_S, FLASH_S_PER_KIB = 0.001, 0.001  # the simulator's defaults


def protocol_limit(block: int, baud: int) -> float:
    wire_s = (block + WIRE_OVERHEAD) * 10 / baud
    return block / (wire_s + 2 * TURNAROUND_S + FLASH_S_PER_KIB * block / 1024)


@dataclass(frozen=True)
class Sent:
    """One image sent ON_THE_FLY from RECOVERY: the transfer's figures (wire bytes)."""

    bytes_per_s: float
    block: int  # the largest block answered
    baud: int  # the rate the transfer ended at
    send_s: float
    wire: int
    upgrade_s: float

    def of_line(self) -> float:
        return self.bytes_per_s / (self.baud / 10)

    def of_limit(self) -> float:
        return self.bytes_per_s / protocol_limit(self.block, self.baud)


def send(image: Path, query: str, start: int, settings: Settings, *,
         rtscts: bool | None = None) -> Sent:
    """Upgrade a simulated modem found in RECOVERY at `start` baud with `image` (charged
    clock); `rtscts` None lets the modem's family decide, as the command line does."""
    modem = Modem.open(f"sim://?clock=charged&mode=recovery&reboot_s=0.3&apply_s=0.5"
                       f"&recovery_baud={start}&host_baud={start}&{query}", baud=start,
                       rtscts=rtscts)
    started: list[TransferStarted] = []

    def seen(event: Event) -> None:
        if isinstance(event, TransferStarted) and event.step == "send-image":
            started.append(event)  # the last one is the rate the image went at

    try:
        result = upgrade(modem, load_image(image), method=Method.ON_THE_FLY,
                         settings=settings, emit=seen)
    finally:
        modem.close()
    sent = result.transfers["send-image"]
    block = sent.line.largest_block if sent.line is not None else sent.block_size
    return Sent(sent.bytes_per_s, block, started[-1].baud, sent.elapsed_s,
                sent.total - sent.sent_from, result.elapsed_s)


def main() -> int:
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        image = Path(folder) / "CATM1-41019.dup"
        image.write_bytes(make_image(ImageKind.FULL, Family.CATM1, 41019, size=SIZE))
        today = send(image, "", 921600, Settings(block_size=2016)).bytes_per_s
        print(f"today (921600 baud, 2016-byte blocks): {today:.0f} bytes/s, "
              f"{today / 92160:.3f} of the line, 6 MB in {SIZE / today:.1f} s")
        print(f"{'top rate':>9} {'bytes/s':>9} {'block':>6} {'/line':>6} {'/limit':>7} "
              f"{'/today':>7} {'6 MB s':>7}")
        for top in TOPS:
            rates = ",".join(str(r) for r in MONARCH1_BAUDS if r <= top)
            got = send(image, f"ipr_list={rates}", min(top, 921600), Settings(auto_baud=True))
            rate = got.bytes_per_s
            print(f"{top:>9} {rate:>9.0f} {got.block:>6} {got.of_line():>6.3f} "
                  f"{got.of_limit():>7.3f} {rate / today:>7.3f} {SIZE / rate:>7.1f}")
            results[f"line_{top}"] = got.of_line()
            results[f"limit_{top}"] = got.of_limit()
            results[f"vs_today_{top}"] = rate / today
        legacy = send(image, "variant=legacy-line", 921600, Settings(auto_baud=True))
        results["legacy_fallback_vs_forced"] = legacy.bytes_per_s / today
        print(f"a modem refusing both (lists up to 921600, blocks up to 2016): "
              f"{legacy.bytes_per_s:.0f} bytes/s with auto, "
              f"{legacy.bytes_per_s / today:.3f} of forcing 921600/2016")
    print("fast_line: " + " ".join(f"{k}={v:.4f}" for k, v in results.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
