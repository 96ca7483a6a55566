"""Transfer throughput as a fraction of the line rate, measured in one run.

Sends a full-size image ON_THE_FLY to the simulator, whose link is paced at the configured baud
(10 bits per byte, 1 ms turn-around per reply, a flash-write time per block), and prints
payload bytes per second divided by the line's bytes per second, per block size. The simulator
runs on virtual time, so the figure is the protocol's own cost, not this machine's load.
"""

from __future__ import annotations

import sys
from pathlib import Path

import sqnflash  # noqa: F401  (registers sim://)
from sqnflash.firmware import load_image
from sqnflash.modem import Modem
from sqnflash.sim.images import Family, ImageKind, default_name, make_image
from sqnflash.upgrade import Method, Settings, upgrade

BAUD = 921600


def measure(image: Path, block_size: int) -> tuple[float, float]:
    modem = Modem.open("sim://?clock=virtual&version=38638&mode=recovery", baud=BAUD)
    result = upgrade(modem, load_image(image), method=Method.ON_THE_FLY,
                     settings=Settings(block_size=block_size))
    modem.close()
    sent = result.transfers["send-image"]
    return sent.bytes_per_s, sent.elapsed_s


def main() -> int:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        image = Path(folder) / default_name(ImageKind.FULL, Family.CATM1, 41019)
        image.write_bytes(make_image(ImageKind.FULL, Family.CATM1, 41019))
        line = BAUD / 10
        print(f"image {image.stat().st_size} bytes, line {BAUD} baud = {line:.0f} bytes/s")
        for block in (2016, 4096, 8176):
            rate, seconds = measure(image, block)
            print(f"block {block:5d}: {rate:8.0f} bytes/s in {seconds:6.1f} s  "
                  f"throughput/line-rate = {rate / line:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
