"""Both families as a user meets them: the installed `sqnflash` command in its own process, the
simulated modem behind a pseudo-terminal in another, on the real clock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sqnflash.sim.images import Family, ImageKind, default_name, make_image
from tests.firmware.test_real_image import m2_image  # noqa: F401  (the fixture)
from tests.support.named_sims import m2_image as small_m2_image
from tests.support.pty import StartSim, needs_pty

pytestmark = [pytest.mark.slow, needs_pty]


def _command() -> list[str]:
    """The console script pip installed beside this interpreter; `-m sqnflash` elsewhere."""
    script = Path(sys.executable).with_name("sqnflash")
    return [str(script)] if script.exists() else [sys.executable, "-m", "sqnflash"]


def sqnflash(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*_command(), *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "SQNFLASH_PORT": "", "COLUMNS": "200"})


def _rows(stdout: str) -> dict[str, str]:
    """`info`'s table: the first word of each line, and the rest."""
    return {line.split(None, 1)[0]: line.split(None, 1)[1].strip()
            for line in stdout.splitlines() if len(line.split(None, 1)) == 2
            and not line.startswith(" ")}


def _result(stdout: str) -> dict[str, Any]:
    last: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return last


def test_info_of_a_gm02s_shows_its_version_without_pycom_names(start_sim: StartSim,
                                                                tmp_path: Path) -> None:
    sim = start_sim("--family", "monarch2", "--version", "58000")
    shown = sqnflash("info", "--port", str(sim.link))
    assert shown.returncode == 0, shown.stderr
    rows = _rows(shown.stdout)
    assert rows["mode"] == "application (FFF) (AT+SMOD? 2)"  # no "Pycom: normal mode"
    assert rows["software"] == "8.0.4.0 [58000]"  # ATI1's LR version, not "? [58000]"
    assert rows["family"] == "Monarch 2 (GM02S)"
    as_json = sqnflash("info", "--port", str(sim.link), "--json")
    assert as_json.returncode == 0, as_json.stderr
    info = _result(as_json.stdout)
    assert (info["lr_version"], info["software_build"]) == ("8.0.4.0", 58000)
    assert info["bootrom_build"] is None and info["old_bootrom"] is None  # unknown, not "no"
    # A Monarch 1 image is refused before the modem is asked to change anything.
    image = tmp_path / default_name(ImageKind.FULL, Family.CATM1, 39529)
    image.write_bytes(make_image(ImageKind.FULL, Family.CATM1, 39529))
    refused = sqnflash("upgrade", "--port", str(sim.link), str(image), "--json")
    assert refused.returncode == 19 and _result(refused.stdout)["code"] == "SQF-E110"
    assert sim.stop()["version"] == 58000


def test_info_of_a_monarch1_in_recovery_names_the_mode_once(start_sim: StartSim) -> None:
    sim = start_sim("--mode", "recovery")
    shown = sqnflash("info", "--port", str(sim.link))
    assert shown.returncode == 0, shown.stderr
    rows = _rows(shown.stdout)
    assert rows["mode"] == "recovery (upgrade mode) (AT+SMOD? 4)"
    assert rows["software"] == "unknown (not readable in this mode)"
    info = _result(sqnflash("info", "--port", str(sim.link), "--json").stdout)
    assert info["mode"] == "recovery" and info["old_bootrom"] is None


def test_the_real_gm02_image_is_planned_for_a_gm02s_and_refused_by_a_monarch1(
        start_sim: StartSim, m2_image: Path) -> None:  # noqa: F811
    official = sqnflash("check", str(m2_image), "--json")
    assert official.returncode == 0, official.stderr
    facts = json.loads(official.stdout.splitlines()[0])
    assert (facts["official"], facts["check_values"]) == ("size and SHA-256 match", ["CRC-32"])
    gm02s = start_sim("--family", "monarch2", "--version", "58000")
    planned = sqnflash("plan", "--port", str(gm02s.link), str(m2_image), "--json")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    plan = _result(planned.stdout)["plan"]
    assert (plan["method"], plan["expected_build"]) == ("on-the-fly", 59577)
    assert any("size and SHA-256 match the official file" in c for c in plan["checks"])
    catm1 = start_sim()
    refused = sqnflash("upgrade", "--port", str(catm1.link), str(m2_image), "--dry-run")
    assert refused.returncode == 19
    assert "error SQF-E110" in refused.stderr and "is a Monarch 2 image; the modem is CAT-M1" \
        in " ".join(refused.stderr.split())
    assert gm02s.stop()["version"] == 58000 and catm1.stop()["version"] == 38638


@pytest.mark.parametrize("family", ["catm1", "monarch2"])
def test_every_read_only_command_for_both_families(start_sim: StartSim, tmp_path: Path,
                                                    family: str) -> None:
    """issue #14's list, as a user types it: info, plan, --dry-run, recover, --json, --trace,
    history; none of them changes the modem."""
    if family == "monarch2":
        sim = start_sim("--family", "monarch2", "--version", "58000")
        image = small_m2_image(tmp_path)
        build = 58000
    else:
        sim = start_sim()
        image = tmp_path / "upgdiff_38638-to-39529.dup"
        image.write_bytes(make_image(ImageKind.DIFF, Family.CATM1, 39529, source=38638))
        build = 38638
    port = ["--port", str(sim.link)]
    for text_only in (["info"], ["plan", str(image)], ["upgrade", str(image), "--dry-run"],
                      ["recover"], ["history"]):
        shown = sqnflash(*text_only, *(port if text_only[0] != "history" else []))
        assert shown.returncode == 0, (text_only, shown.stdout, shown.stderr)
        assert "Traceback" not in shown.stdout + shown.stderr
    plans = []
    for as_json in (["info"], ["plan", str(image)], ["upgrade", str(image), "--dry-run"],
                    ["recover"]):
        run = sqnflash(*as_json, *port, "--json")
        assert run.returncode == 0, (as_json, run.stdout, run.stderr)
        lines = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
        assert lines[-1]["type"] == "result" and lines[-1]["ok"] is True
        if as_json[0] in ("plan", "upgrade"):
            plans.append(lines[-1]["plan"])
    assert plans[0] == plans[1]  # --dry-run is the plan
    traced = sqnflash("info", *port, "--trace")
    assert traced.returncode == 0 and "AT > AT+SMOD?" in traced.stderr
    assert "AT >" not in traced.stdout and _rows(traced.stdout)["software"].endswith(
        f"[{build}]")
    summary = sim.stop()
    assert summary["version"] == build and summary["upgrades_applied"] == 0
