"""Monarch 2: the real GM02 image sent raw and as a zlib stream over a simulated 115200 line.

    .venv/bin/python bench/monarch2.py [--image GM02RB6Q_LR8.0.5.13-59577.dup]

Without --image the file is taken from the `pysequansutils` 2.3.3.21 wheel on PyPI (fetched
with pip into a temporary folder); without network access the benchmark says so and exits 0.
Each upgrade runs against a simulated GM02S (`family=monarch2`, 115200 baud with RTS/CTS) on the
charged clock: the line's time is simulated, the host's own time (compressing included) is
added to it. Printed: the transfer and upgrade times, the bytes on the wire, and the ratios
compressed / raw; the last line is machine-readable. Exits 1 when the zipped transfer takes
more than 0.6 of the raw one.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import sqnflash  # noqa: F401  (registers sim://)
from sqnflash.firmware import load_image
from sqnflash.modem import Modem
from sqnflash.upgrade import Settings, upgrade

WHEEL = "pysequansutils==2.3.3.21"
IMAGE = "GM02RB6Q_LR8.0.5.13-59577.dup"
LIMIT = 0.6


def fetch(folder: Path) -> Path | None:
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                           "--disable-pip-version-check", "-d", str(folder), WHEEL],
                          capture_output=True, text=True, timeout=300, check=False)
    wheels = list(folder.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        return None
    with zipfile.ZipFile(wheels[0]) as wheel:
        member = next(n for n in wheel.namelist() if n.endswith(IMAGE))
        image = folder / IMAGE
        image.write_bytes(wheel.read(member))
    return image


def run(image: Path, compress: bool) -> dict[str, float]:
    modem = Modem.open("sim://?clock=charged&family=monarch2&version=59000", baud=115200,
                       rtscts=True)
    try:
        result = upgrade(modem, load_image(image), settings=Settings(baud=115200,
                                                                    compress=compress))
    finally:
        modem.close()
    send = result.transfers["send-image"]
    return {"upgrade_s": result.elapsed_s, "send_s": send.elapsed_s, "wire": send.total}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", type=Path, help=f"the {IMAGE} file [from PyPI]")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sqnflash-m2-") as folder:
        image = args.image or fetch(Path(folder))
        if image is None:
            print(f"monarch2: skipped, {WHEEL} cannot be downloaded (no network?)")
            return 0
        raw, zipped = run(image, False), run(image, True)
        size = image.stat().st_size
    print(f"{'transfer':<10} {'wire bytes':>12} {'send s':>9} {'upgrade s':>10}")
    for name, t in (("raw", raw), ("zlib", zipped)):
        print(f"{name:<10} {t['wire']:>12,.0f} {t['send_s']:>9.1f} {t['upgrade_s']:>10.1f}")
    ratio = zipped["send_s"] / raw["send_s"]
    print(f"image {size:,} bytes; zlib/raw: wire {zipped['wire'] / raw['wire']:.3f}, "
          f"transfer time {ratio:.3f}, upgrade time "
          f"{zipped['upgrade_s'] / raw['upgrade_s']:.3f}")
    print(f"monarch2: send_ratio={ratio:.3f} wire_ratio={zipped['wire'] / raw['wire']:.3f} "
          f"raw_send_s={raw['send_s']:.1f} zlib_send_s={zipped['send_s']:.1f}")
    return 0 if ratio <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
