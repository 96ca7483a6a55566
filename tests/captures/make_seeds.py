"""Regenerate the seed captures in this folder from the simulator.

    python tests/captures/make_seeds.py [NAME ...]

Each seed is a real `sqnflash ... --record` run against a simulated modem (the `sqnflash demo`
scenarios and a few protocol variants) with small synthetic images, whose recipes are kept in
seeds.json so that the replay test can make the very same files again (a capture holds only their
SHA-256). Captures users send join this folder as they are, with their files found by SHA-256.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import sqnflash  # noqa: F401  (registers sim://)
from sqnflash.cli.demo_cmd import FROM_BUILD, SCENARIOS
from sqnflash.cli.main import main
from sqnflash.sim.images import Family, ImageKind, make_image

HERE = Path(__file__).resolve().parent
TO = 41019  # not an official release: a small synthetic image of it passes the size checks
FULL_SIZE = 160_000
DIFF_SIZE = 24_000
UPDATER = {"kind": "updater", "version": TO, "size": 40_000, "name": "updater.elf"}
FULL = {"kind": "full", "version": TO, "size": FULL_SIZE, "name": f"CATM1-{TO}.dup"}
DIFF = {"kind": "diff", "version": TO, "source": FROM_BUILD, "size": DIFF_SIZE,
        "name": f"upgdiff_{FROM_BUILD}-to-{TO}.dup"}
DEMO_URL = f"sim://?version={FROM_BUILD}&clock=virtual&reboot_s=1.5&apply_s=4"


def _demo(scenario: str) -> dict[str, Any]:
    settings, kind, needs_updater, what = SCENARIOS[scenario]
    files = [FULL if kind == ImageKind.FULL else DIFF] + ([UPDATER] if needs_updater else [])
    args = ["upgrade", "IMAGE"] + (["--updater", "UPDATER"] if needs_updater else [])
    return {"why": f"demo --scenario {scenario}: {what}", "url": DEMO_URL + settings,
            "files": files, "args": args}


SEEDS: dict[str, dict[str, Any]] = {
    "demo-diff": _demo("diff"),
    "demo-full": _demo("full"),
    "demo-old-bootrom": _demo("old-bootrom"),
    "demo-resume": _demo("resume"),
    "variant-combined-diff": {
        "why": "every protocol alternative at once (variant combined), differential image",
        "url": DEMO_URL + "&variant=combined", "files": [DIFF], "args": ["upgrade", "IMAGE"]},
    "variant-smod4-old-bootrom": {
        "why": "updater.elf reports SMOD 4, factory bootrom, echo on",
        "url": DEMO_URL + "&old_bootrom=1&variant=smod4,echo",
        "files": [FULL, UPDATER], "args": ["upgrade", "IMAGE", "--updater", "UPDATER"]},
    "info-recovery-lf": {
        "why": "sqnflash info on a modem left in RECOVERY that frames replies with LF",
        "url": DEMO_URL + "&mode=recovery&variant=lf", "files": [], "args": ["info"]},
}


def make_file(folder: Path, recipe: dict[str, Any]) -> Path:
    path = folder / str(recipe["name"])
    path.write_bytes(make_image(ImageKind(recipe["kind"]), Family.CATM1, int(recipe["version"]),
                                source=recipe.get("source"), size=recipe.get("size")))
    return path


def record(name: str, seed: dict[str, Any], out: Path) -> int:
    """Record one seed into `out` (run in a scratch folder: the capture names files relatively,
    and no path of this machine goes into it)."""
    with tempfile.TemporaryDirectory() as scratch:
        here = Path.cwd()
        os.chdir(scratch)
        saved = {key: os.environ.pop(key, None) for key in ("SQNFLASH_JOURNAL", "SQNFLASH_PORT")}
        os.environ["SQNFLASH_JOURNAL"] = "journal.db"
        try:
            names = {}
            for recipe in seed["files"]:
                names[str(recipe["kind"]).upper()] = make_file(Path(), recipe).name
            argv = [_placeholder(arg, names) for arg in seed["args"]]
            code = main([argv[0], "--port", seed["url"], "--record", str(out), *argv[1:]])
        finally:
            os.chdir(here)
            os.environ.pop("SQNFLASH_JOURNAL", None)
            for key, value in saved.items():
                if value is not None:
                    os.environ[key] = value
    return code


def _placeholder(arg: str, names: dict[str, str]) -> str:
    if arg == "IMAGE":
        return names.get("FULL") or names["DIFF"]
    if arg == "UPDATER":
        return names["UPDATER"]
    return arg


def main_seeds(wanted: list[str]) -> int:
    recipes = {}
    failed = 0
    for name, seed in SEEDS.items():
        recipes[name] = {"why": seed["why"], "files": seed["files"]}
        if wanted and name not in wanted:
            continue
        code = record(name, seed, HERE / f"{name}.jsonl")
        size = (HERE / f"{name}.jsonl").stat().st_size
        print(f"{name}: exit {code}, {size} bytes", file=sys.stderr)
        failed += code != 0
    (HERE / "seeds.json").write_text(json.dumps(recipes, indent=1) + "\n", encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main_seeds(sys.argv[1:]))
