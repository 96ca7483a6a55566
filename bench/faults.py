"""The fault matrix: every fault class the simulator injects x many seeds, upgrade then recover.

    .venv/bin/python bench/faults.py [--seeds 20] [--jobs 2] [--class flip-1% ...] [--show-all]

Prints one row per fault class (runs, completed, stopped with a diagnosis, recovered by
`sqnflash recover`, unrecoverable, and in how many runs the fault did happen), the cases that did
not complete, and as its last line
`fault-matrix: N runs, U unrecoverable`. Exits 1 when a case is unrecoverable or when an upgrade
at 1 % byte corruption did not complete. Runs on the simulator's virtual clock: the minutes a real
modem would take pass in milliseconds. See src/sqnflash/tools/faultmatrix.py for the classes
and outcomes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import sqnflash.link  # noqa: F401  (registers sim://)
from sqnflash.tools import faultmatrix as fm

_FILES: fm.Files | None = None


def _init(folder: str) -> None:
    global _FILES
    _FILES = fm.Files(Path(folder))


def _run(case: fm.Case) -> fm.CaseResult:
    assert _FILES is not None
    return fm.run_case(case, _FILES)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20, help="seeds per fault class [20]")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes [2]")
    parser.add_argument("--class", dest="classes", action="append",
                        choices=list(fm.FAULT_CLASSES), help="only this fault class")
    parser.add_argument("--show-all", action="store_true", help="list every case, not only the "
                        "ones that did not complete")
    args = parser.parse_args()
    cases = fm.cases(range(args.seeds), args.classes)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sqnflash-faults-") as folder:
        fm.Files(Path(folder))  # written once, before the workers read them
        with ProcessPoolExecutor(args.jobs, initializer=_init, initargs=(folder,)) as pool:
            results = list(pool.map(_run, cases, chunksize=4))
    elapsed = time.perf_counter() - start

    header = ("fault", "runs", "completed", "stopped", "recovered", "unrecoverable", "fault hit")
    print(f"{header[0]:<18}" + "".join(f"{h:>14}" for h in header[1:]))
    for row in fm.table(results):
        print(f"{row[0]:<18}" + "".join(f"{n:>14}" for n in row[1:]))
    print()
    shown = [r for r in results if args.show_all or r.outcome != "completed"]
    for r in shown:
        print(f"  {r.outcome:<13} {r.case.fault:<17} seed {r.case.seed:<3} {r.case.flow:<11} "
              f"{r.case.query}: {r.code} {r.detail[:160]}")
    flips = [r for r in results if r.case.fault == "flip-1%"]
    flips_done = sum(r.outcome == "completed" for r in flips)
    if flips:
        print(f"\nat 1 % byte corruption on STP traffic: {flips_done}/{len(flips)} upgrades "
              f"completed")
    unrecoverable = sum(r.outcome == "unrecoverable" for r in results)
    print(f"({elapsed:.0f} s on {args.jobs} processes)")
    print(f"fault-matrix: {len(results)} runs, {unrecoverable} unrecoverable")
    return 1 if unrecoverable or flips_done != len(flips) else 0


if __name__ == "__main__":
    sys.exit(main())
