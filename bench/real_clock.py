"""The demo's upgrade on the real clock, against the same upgrade on the charged clock.

    .venv/bin/python bench/real_clock.py [--scenario diff]

`make demo` runs the simulator on the real clock: the host waits out every byte and every modem
delay. Runs the demo's upgrade (same simulated modem, same synthetic image, 921600 baud) twice,
once on the real clock and once on the charged clock (virtual time plus the host's own time
between its calls: what the same host would take on a perfect real-time line), and prints the
store step's payload throughput as a ratio of the line rate (baud / 10) and the real-clock figure
as a ratio of the charged one. The charged figure is what the real clock should reach; anything
the simulator loses while waiting on the real clock (oversleeping, waking per byte) shows up as a
ratio below 1. The last line is machine-readable; exits 1 when the ratio is below 0.8.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import sqnflash.link  # noqa: F401  (registers sim://)
from sqnflash.cli.demo_cmd import FROM_BUILD, SCENARIOS, TO_BUILD
from sqnflash.firmware import load_image, load_updater
from sqnflash.modem import Modem
from sqnflash.sim.images import ImageKind, write_files
from sqnflash.upgrade import upgrade

BAUD = 921600
TARGET = 0.8  # the real clock must reach this fraction of the charged-clock figure
STEPS = ("store-image", "send-image")  # the store step of the FFF and ON_THE_FLY methods


def run(folder: Path, scenario: str, clock: str) -> tuple[str, float, float]:
    """(step, payload bytes/s of the store step, whole upgrade seconds) for one run."""
    settings, kind, needs_updater, _ = SCENARIOS[scenario]
    source = FROM_BUILD if kind == ImageKind.DIFF else None
    image, updater = write_files(folder, kind, TO_BUILD, source=source, updater=needs_updater)
    # The demo's own simulator settings (see sqnflash.cli.demo_cmd), on the given clock.
    url = f"sim://?version={FROM_BUILD}&clock={clock}&reboot_s=1.5&apply_s=4{settings}"
    modem = Modem.open(url)
    try:
        result = upgrade(modem, load_image(image),
                         updater=load_updater(updater) if updater is not None else None)
    finally:
        modem.close()
    step = next(s for s in STEPS if s in result.transfers)
    return step, result.transfers[step].bytes_per_s, result.elapsed_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=list(SCENARIOS), default="diff",
                        help="which demo upgrade [diff: the one `make demo` runs]")
    args = parser.parse_args()
    line = BAUD / 10
    with tempfile.TemporaryDirectory() as folder:
        step, charged, charged_s = run(Path(folder), args.scenario, "charged")
        start = time.perf_counter()
        _, real, real_s = run(Path(folder), args.scenario, "real")
        wall = time.perf_counter() - start
    ratio = real / charged
    print(f"demo upgrade ({args.scenario}) at {BAUD} baud, {step} step:")
    print(f"  {'clock':<8} {'bytes/s':>9} {'/line':>6} {'upgrade s':>10}")
    print(f"  {'charged':<8} {charged:>9.0f} {charged / line:>6.3f} {charged_s:>10.1f}")
    print(f"  {'real':<8} {real:>9.0f} {real / line:>6.3f} {real_s:>10.1f}  ({wall:.1f} s wall)")
    print(f"  real / charged: {ratio:.3f} (target >= {TARGET})")
    print(f"real-clock: scenario={args.scenario} line_ratio={real / line:.4f} "
          f"charged_line_ratio={charged / line:.4f} real_vs_charged={ratio:.4f} "
          f"upgrade_s={real_s:.2f}")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
