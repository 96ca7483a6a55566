"""Transfer throughput, memory and CPU, each as a ratio measured in one run.

For each baud rate and image size, a synthetic full image is sent ON_THE_FLY to the simulator,
whose line is paced at that baud (10 bits per byte, 1 ms turn-around per reply, a flash-write time
per block). The simulator runs on the charged clock: virtual time, plus the host's own time
between its calls, so a slow host costs what it would cost on a real line while the benchmark
does not wait out the modem's delays. Printed per run:

- payload throughput / line rate (baud / 10);
- payload throughput / the STP protocol limit for the block size: the best any host can do, one
  exchange at a time: per block, B + 68 bytes on the wire (block command 18 + its reply 16, block
  16 + B + its reply 18), two turn-arounds and the modem's flash write;
- host CPU seconds per MB sent (the client's own CPU, measured between its calls to the line).

Then peak RSS of a whole upgrade process (identification, transfer and the in-process simulator)
for a 1 MB and a 64 MB image (ratio), in fresh subprocesses so that making the images does not
count. Linux only (it reads VmHWM). The last line is machine-readable.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import sqnflash.link  # noqa: F401  (registers sim://)
from sqnflash.firmware import load_image
from sqnflash.modem import Modem
from sqnflash.sim.config import SimConfig
from sqnflash.sim.images import Family, ImageKind, make_image
from sqnflash.upgrade import Method, Settings, upgrade

MB = 1_000_000
BAUDS = (115200, 921600, 3_000_000)
SIZES_MB = (1, 6, 64)
WIRE_OVERHEAD = 68  # bytes per block exchange besides the payload (see the module docstring)
DEFAULTS = SimConfig()


def protocol_limit(block: int, baud: int) -> float:
    wire_s = (block + WIRE_OVERHEAD) * 10 / baud
    modem_s = 2 * DEFAULTS.turnaround_s + DEFAULTS.flash_write_s_per_kib * block / 1024
    return block / (wire_s + modem_s)


def send(image: Path, baud: int, block: int, clock: str = "charged") -> tuple[float, float]:
    """(payload bytes/s, host CPU s per MB) for one ON_THE_FLY transfer."""
    file = load_image(image)
    url = (f"sim://?clock={clock}&mode=recovery&app_baud={baud}&host_baud={baud}"
           "&reboot_s=0.3&apply_s=0.5")
    modem = Modem.open(url, baud=baud)
    result = upgrade(modem, file, method=Method.ON_THE_FLY,
                     settings=Settings(baud=baud, block_size=block))
    sim = modem.link.port.sim
    modem.close()
    sent = result.transfers["send-image"]
    return sent.bytes_per_s, sim.host_cpu_s / (file.size / MB)


RSS_CHILD = """
import json, sys, time
import sqnflash
from pathlib import Path
from sqnflash.firmware import load_image
from sqnflash.modem import Modem
from sqnflash.upgrade import Method, upgrade
cpu = time.process_time()
file = load_image(Path(sys.argv[1]))
modem = Modem.open("sim://?clock=virtual&mode=recovery")
upgrade(modem, file, method=Method.ON_THE_FLY)
# VmHWM, not ru_maxrss: on Linux the latter also counts the parent's memory at fork time.
peak = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
            if line.startswith("VmHWM:"))
print(json.dumps({"rss_kib": peak, "cpu_s": time.process_time() - cpu}))
"""


def peak_rss_kib(image: Path) -> tuple[int, float]:
    out = subprocess.run([sys.executable, "-c", RSS_CHILD, str(image)], check=True,
                         capture_output=True, text=True).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return int(data["rss_kib"]), float(data["cpu_s"])


def main() -> int:
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        images = {}
        for size in SIZES_MB:
            path = Path(folder) / f"{size}MB" / "CATM1-41019.dup"
            path.parent.mkdir()
            path.write_bytes(make_image(ImageKind.FULL, Family.CATM1, 41019, size=size * MB))
            images[size] = path
        print(f"{'baud':>8} {'image':>6} {'block':>6} {'bytes/s':>9} {'/line':>6} "
              f"{'/limit':>7} {'cpu s/MB':>9}")
        for baud in BAUDS:
            for size in SIZES_MB:
                blocks = (2016, 8176) if size == 6 else (2016,)
                for block in blocks:
                    rate, cpu = send(images[size], baud, block)
                    line, limit = rate / (baud / 10), rate / protocol_limit(block, baud)
                    print(f"{baud:>8} {size:>4}MB {block:>6} {rate:>9.0f} {line:>6.3f} "
                          f"{limit:>7.3f} {cpu:>9.4f}")
                    if (baud, size, block) == (921600, 6, 2016):
                        results.update(line_ratio=line, limit_ratio=limit, cpu_s_per_mb=cpu)
                    if (baud, size, block) == (921600, 6, 8176):
                        results.update(line_ratio_8176=line)
        # The charged clock against the real one: the same transfer, waiting out every byte.
        charged, _ = send(images[1], 3_000_000, 2016)
        real, _ = send(images[1], 3_000_000, 2016, clock="real")
        results["real_vs_charged"] = real / charged
        print(f"real clock check, 1 MB at 3000000 baud: {real:.0f} bytes/s on the real clock, "
              f"{charged:.0f} on the charged clock (ratio {real / charged:.3f})")
        small, small_cpu = peak_rss_kib(images[1])
        large, large_cpu = peak_rss_kib(images[64])
        results["rss_ratio_64_1"] = large / small
        print(f"peak RSS of a whole upgrade process: 1 MB image {small / 1024:.1f} MiB, "
              f"64 MB image {large / 1024:.1f} MiB, ratio {large / small:.3f}")
        print(f"CPU of that whole process (identification, simulator included): "
              f"{small_cpu:.2f} s for 1 MB, {large_cpu:.2f} s for 64 MB")
    print("throughput: " + " ".join(f"{k}={v:.4f}" for k, v in results.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
