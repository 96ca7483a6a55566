"""A station upgrading 8 modems at once against one alone, as ratios measured in one run.

Each modem is an in-process simulator on the real clock behind a 921600-baud line (10 bits per
byte, the modem's turn-around and flash-write times, short reboots), upgraded with a
differential image through the station (one thread per modem, as `sqnflash upgrade --port A
--port B ...` runs it). Printed: the wall time of one modem and of eight, their ratio (the
target is <= 1.3: the work waits on the lines, not on the host), and the host CPU the eight
took per wall second (the target is < 1: under one core). The last line is machine-readable.
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqnflash.link  # noqa: F401  (registers sim://)
from sqnflash.firmware import FirmwareFile, load_image
from sqnflash.modem import Modem
from sqnflash.sim.images import Family, ImageKind, make_image
from sqnflash.sim.simulator import forget
from sqnflash.upgrade import Settings, upgrade
from sqnflash.upgrade.station import Device, Station

BAUD = 921600
COUNT = 8
SETTINGS = f"clock=real&version=38638&app_baud={BAUD}&host_baud={BAUD}&reboot_s=0.3&apply_s=0.5"


def run(count: int, image: FirmwareFile) -> tuple[float, float]:
    """(wall seconds, host CPU seconds) to upgrade `count` modems at once."""
    tag = uuid.uuid4().hex[:8]
    names = [f"bench-{tag}-{n}" for n in range(count)]

    def work(device: Device, sink: Any) -> Any:
        with Modem.open(device.port, baud=BAUD) as modem:
            return upgrade(modem, image, settings=Settings(baud=BAUD), emit=sink)

    station = Station([f"sim://{name}?{SETTINGS}" for name in names], work)
    wall, cpu = time.perf_counter(), time.process_time()
    devices = station.run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    for name in names:
        forget(name)
    failed = [d.error for d in devices if not d.ok]
    if failed:
        raise SystemExit(f"the benchmark's upgrades failed: {failed}")
    return wall, cpu


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "38638-41019.dup"
        path.write_bytes(make_image(ImageKind.DIFF, Family.CATM1, 41019, source=38638))
        image = load_image(path)
        # One modem before and after the eight: the faster of the two is the reference, so that
        # a busy moment of the host does not flatter the ratio.
        one, one_cpu = run(1, image)
        many, many_cpu = run(COUNT, image)
        one, one_cpu = min((one, one_cpu), run(1, image))
    ratio, load = many / one, many_cpu / many
    print(f"1 modem: {one:.2f} s wall, {one_cpu:.2f} s CPU; {COUNT} modems at once: "
          f"{many:.2f} s wall, {many_cpu:.2f} s CPU ({image.size} B image, {BAUD} baud)")
    print(f"{COUNT} modems / 1 modem wall time: {ratio:.3f} (target <= 1.3); host CPU while "
          f"upgrading {COUNT}: {load:.3f} CPU s per wall s (target < 1)")
    print(f"station: wall_ratio_{COUNT}_1={ratio:.4f} cpu_per_wall_{COUNT}={load:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
