"""Where the time of a whole upgrade goes: host idle, wire time, modem-side time.

Runs complete upgrades (FFF method with a differential image, ON_THE_FLY with a full image, and
the old-bootrom path with bootrom, boot loader, updater.elf and image) against the simulator on
the charged clock at 921600 baud with the simulator's default delays, and splits each total:

- host idle: the modem was ready and the host had not sent anything (fixed sleeps, slow polls,
  probes at the wrong moment, the host's own computing);
- wire time: bytes on the line in either direction;
- modem-side time: the rest (reboots, flash writes, applying, turn-around).

Printed as seconds and as fractions of the total; the last line is machine-readable.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import sqnflash.link  # noqa: F401  (registers sim://)
from sqnflash.firmware import load_image, load_updater
from sqnflash.modem import Modem
from sqnflash.sim.images import ImageKind, write_files
from sqnflash.upgrade import upgrade

FROM, TO = 38638, 41019
CASES = (
    # name, simulator settings, image kind, updater needed
    ("fff", "", ImageKind.DIFF, False),
    ("on-the-fly", "", ImageKind.FULL, False),
    ("old-bootrom", "&old_bootrom=1", ImageKind.FULL, True),
)


def run(folder: Path, settings: str, kind: ImageKind, needs_updater: bool) -> dict[str, float]:
    source = FROM if kind == ImageKind.DIFF else None
    image, updater = write_files(folder, kind, TO, source=source, updater=needs_updater)
    files = load_image(image), load_updater(updater) if updater is not None else None
    modem = Modem.open(f"sim://?clock=charged&version={FROM}{settings}")
    result = upgrade(modem, files[0], updater=files[1])
    state = modem.link.port.sim.summary()
    modem.close()
    total = result.elapsed_s
    idle, wire = state["host_idle_s"], state["wire_busy_s"]
    return {"total_s": total, "host_idle_s": idle, "wire_s": wire,
            "modem_s": total - idle - wire}


def main() -> int:
    summary: dict[str, float] = {}
    print(f"{'upgrade':<12} {'total s':>8} {'host idle':>16} {'wire':>16} {'modem side':>16}")
    with tempfile.TemporaryDirectory() as folder:
        for name, settings, kind, needs_updater in CASES:
            t = run(Path(folder), settings, kind, needs_updater)
            total = t["total_s"]

            def cell(key: str, t: dict[str, float] = t, total: float = total) -> str:
                return f"{t[key]:7.2f} s ({t[key] / total:5.1%})"

            print(f"{name:<12} {total:8.1f} {cell('host_idle_s'):>16} {cell('wire_s'):>16} "
                  f"{cell('modem_s'):>16}")
            summary[f"{name}_total_s"] = total
            summary[f"{name}_host_idle_s"] = t["host_idle_s"]
    print("upgrade-time: " + " ".join(f"{k}={v:.3f}" for k, v in summary.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
