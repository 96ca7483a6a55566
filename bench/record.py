"""What --record costs: transfer throughput with and without recording, and capture size.

A synthetic 6 MB full image is sent ON_THE_FLY to the simulator at 921600 baud on the charged
clock (virtual time plus the host's own time between its calls, see throughput.py), once without
a recorder and once writing a capture (payloads summarised, the default), alternately, three
times each; the best of each is compared. Then the size of the capture of a whole 6 MB upgrade
(identification, transfer, apply, check) is printed against the 1 MB budget. The last line is
machine-readable.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import sqnflash  # noqa: F401  (registers sim://)
from sqnflash.firmware import load_image
from sqnflash.link.record import CaptureWriter, Recorder, make_header
from sqnflash.modem import Modem
from sqnflash.sim.images import Family, ImageKind, make_image
from sqnflash.upgrade import Method, Settings, upgrade

BAUD = 921600
ROUNDS = 2
BUDGET = 1_000_000


def transfer(image: Path, capture: Path | None) -> tuple[float, float]:
    """(payload bytes/s of one ON_THE_FLY transfer, host CPU s per MB of the whole upgrade)."""
    file = load_image(image)
    recorder = None
    if capture is not None:
        header = make_header(command=["bench"], port="sim://", files=[], redact=False,
                             payloads=False)
        recorder = Recorder(CaptureWriter(capture, header))
    url = (f"sim://?clock=charged&mode=recovery&app_baud={BAUD}&host_baud={BAUD}"
           "&reboot_s=0.3&apply_s=0.5")
    modem = Modem.open(url, baud=BAUD, tracer=recorder)
    sim = modem.link.port.sim
    try:
        result = upgrade(modem, file, method=Method.ON_THE_FLY, settings=Settings(baud=BAUD))
    finally:
        modem.close()
        if recorder is not None:
            recorder.finish(0)
            recorder.close()
    return result.transfers["send-image"].bytes_per_s, sim.host_cpu_s / (file.size / 1e6)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        image = Path(folder) / "CATM1-41019.dup"
        image.write_bytes(make_image(ImageKind.FULL, Family.CATM1, 41019))
        plain, recorded = [], []
        capture = Path(folder) / "capture.jsonl"
        for _ in range(ROUNDS):
            plain.append(transfer(image, None))
            recorded.append(transfer(image, capture))
        size = capture.stat().st_size
        best_plain, best_recorded = max(p[0] for p in plain), max(r[0] for r in recorded)
        cpu_plain, cpu_recorded = min(p[1] for p in plain), min(r[1] for r in recorded)
        ratio = best_recorded / best_plain
        print(f"6 MB ON_THE_FLY at {BAUD} baud, charged clock, best of {ROUNDS}:")
        print(f"  without recording  {best_plain / 1024:8.1f} KiB/s")
        print(f"  with --record      {best_recorded / 1024:8.1f} KiB/s")
        print(f"  ratio {ratio:.3f} (cost {100 * (1 - ratio):.1f} %, budget 5 %)")
        print(f"  host CPU per MB: {1000 * cpu_plain:.1f} ms without, {1000 * cpu_recorded:.1f} "
              f"ms with recording (ratio {cpu_recorded / cpu_plain:.2f}; the line's own time "
              f"per MB at {BAUD} baud is {1e7 / BAUD:.1f} s)")
        print(f"  capture of the whole upgrade: {size / 1e6:.3f} MB for a "
              f"{image.stat().st_size / 1e6:.2f} MB image ({size / BUDGET:.2f} of the 1 MB "
              "budget)")
        print(json.dumps({"bench": "record", "throughput_ratio": round(ratio, 4),
                          "host_cpu_ratio": round(cpu_recorded / cpu_plain, 3),
                          "capture_bytes": size, "image_bytes": image.stat().st_size}))


if __name__ == "__main__":
    main()
