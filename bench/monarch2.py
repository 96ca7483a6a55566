"""Monarch 2: the real GM02 image raw and as a zlib stream, at 115200 and on faster lines.

    .venv/bin/python bench/monarch2.py [--image GM02RB6Q_LR8.0.5.13-59577.dup]

Without --image the file is taken from the `pysequansutils` 2.3.3.21 wheel on PyPI (fetched
with pip into a temporary folder); without network access the benchmark says so and exits 0.
Each upgrade runs against a simulated GM02S (`family=monarch2`, found in RECOVERY at 115200) on
the charged clock, through bench/fast_line.py's `send()`: the line's time is simulated, the host's
own time (compressing included) is added to it.

1. At 115200 with RTS/CTS, as both published Monarch 2 clients run: raw (`--no-compress`) and
   zipped, the ratios compressed / raw (target <= 0.6).
2. `--baud auto` with RTS/CTS on (the default) to a GM02S that lists up to 921600, and to one
   that lists up to 3 686 400: the image zipped, and raw at 921600; and `--no-rtscts`, which
   keeps the line at 115200. Each as a ratio of the line rate and of the STP limit (wire bytes),
   and of today's raw 115200 transfer time (target: zipped at 921600 <= 0.1).

The last line is machine-readable. Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from fast_line import Sent, send
from sqnflash.upgrade import Settings

WHEEL = "pysequansutils==2.3.3.21"
IMAGE = "GM02RB6Q_LR8.0.5.13-59577.dup"
ZIP_LIMIT = 0.6
FAST_LIMIT = 0.1  # zipped at 921600 with RTS/CTS, against raw at 115200
M2 = "family=monarch2"
FAST = "variant=m2-3686400"


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


def row(name: str, got: Sent, raw: Sent) -> str:
    return (f"{name:<32} {got.baud:>8} {got.wire:>10,} {got.send_s:>7.1f} "
            f"{got.of_line():>6.3f} {got.of_limit():>7.3f} {got.send_s / raw.send_s:>7.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", type=Path, help=f"the {IMAGE} file [from PyPI]")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sqnflash-m2-") as folder:
        image = args.image or fetch(Path(folder))
        if image is None:
            print(f"monarch2: skipped, {WHEEL} cannot be downloaded (no network?)")
            return 0
        size = image.stat().st_size
        slow = Settings(baud=115200)
        raw = send(image, M2, 115200, Settings(baud=115200, compress=False), rtscts=True)
        zipped = send(image, M2, 115200, slow, rtscts=True)
        auto = Settings(auto_baud=True)
        runs = {
            "zlib, auto, lists 921600": send(image, M2, 115200, auto),
            "raw, auto, lists 921600": send(image, M2, 115200,
                                            Settings(auto_baud=True, compress=False)),
            "zlib, auto, lists 3686400": send(image, f"{M2}&{FAST}", 115200, auto),
            "zlib, auto, --no-rtscts": send(image, M2, 115200, auto, rtscts=False),
        }
    print(f"image {size:,} bytes")
    print(f"{'transfer':<32} {'baud':>8} {'wire B':>10} {'send s':>7} {'/line':>6} "
          f"{'/limit':>7} {'/raw115':>7}")
    for name, got in (("raw, 115200 (today)", raw), ("zlib, 115200", zipped), *runs.items()):
        print(row(name, got, raw))
    ratio = zipped.send_s / raw.send_s
    fast = runs["zlib, auto, lists 921600"].send_s / raw.send_s
    fastest = runs["zlib, auto, lists 3686400"].send_s / raw.send_s
    print(f"zlib/raw at 115200: wire {zipped.wire / raw.wire:.3f}, transfer time {ratio:.3f}, "
          f"upgrade time {zipped.upgrade_s / raw.upgrade_s:.3f}")
    print(f"zlib at 921600 with RTS/CTS: {fast:.3f} of the raw 115200 transfer time "
          f"(target <= {FAST_LIMIT}); at 3686400: {fastest:.3f}")
    print(f"monarch2: send_ratio={ratio:.3f} wire_ratio={zipped.wire / raw.wire:.3f} "
          f"raw_send_s={raw.send_s:.1f} zlib_send_s={zipped.send_s:.1f} "
          f"zlib_921600_vs_raw_115200={fast:.4f} zlib_3686400_vs_raw_115200={fastest:.4f}")
    return 0 if ratio <= ZIP_LIMIT and fast <= FAST_LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
