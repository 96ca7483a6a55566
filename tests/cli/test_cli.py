"""The command line as a user runs it: exit codes, JSON Lines, text output, the trace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from sqnflash.cli.main import main
from sqnflash.sim.images import Family, ImageKind, make_image
from sqnflash.sim.simulator import forget, named
from tests.support.cli import json_lines
from tests.support.images import FROM, TO, Images
from tests.support.pty import StartSim, needs_pty


def sim_url(settings: str = "") -> tuple[str, str]:
    name = f"cli-{uuid.uuid4().hex}"
    return name, f"sim://{name}?clock=virtual&version={FROM}{settings}"


def test_upgrade_json_is_an_event_stream_then_a_result(
        images: Images, capsys: pytest.CaptureFixture[str]) -> None:
    name, url = sim_url()
    code = main(["upgrade", "--port", url, str(images.diff), "--json"])
    out = json_lines(capsys.readouterr().out)
    assert code == 0
    kinds = [o["type"] for o in out]
    assert kinds[0] == "plan" and kinds[-1] == "result"
    assert {"step-started", "step-finished", "progress", "waiting"} <= set(kinds)
    assert out[-1]["before"]["software_build"] == FROM
    assert out[-1]["after"]["software_build"] == TO
    sim = named(name)
    assert sim is not None and sim.summary()["version"] == TO
    forget(name)


def test_apply_failure_exit_code_and_json_error(images: Images,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    _, url = sim_url("&fault_apply_fail=2")  # the first fail is sent again
    code = main(["upgrade", "--port", url, str(images.diff), "--json"])
    out = json_lines(capsys.readouterr().out)
    assert code == 70
    error = out[-1]
    assert error["type"] == "error" and error["code"] == "SQF-E501"
    assert error["advice"] and error["modem_state"]


def test_apply_failure_in_text_says_cause_state_and_advice(
        images: Images, capsys: pytest.CaptureFixture[str]) -> None:
    _, url = sim_url("&fault_apply_fail=2")  # the first fail is sent again
    code = main(["upgrade", "--port", url, str(images.diff)])
    err = capsys.readouterr().err
    assert code == 70
    assert "SQF-E501" in err and "modem state" in err and "what to do" in err


def test_missing_image_fails_before_the_port_is_opened(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    name, url = sim_url()
    code = main(["upgrade", "--port", url, str(tmp_path / "CATM1-41019.dup")])
    assert code == 10
    assert "SQF-E101" in capsys.readouterr().err
    assert named(name) is None  # the simulator was never even created


def test_truncated_image_is_refused(images: Images, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    cut = tmp_path / images.small_full.name
    cut.write_bytes(images.small_full.read_bytes()[:-5000])
    name, url = sim_url()
    code = main(["upgrade", "--port", url, str(cut), "--json"])
    error = json_lines(capsys.readouterr().out)[-1]
    assert code == 15 and error["code"] == "SQF-E106"
    assert "truncated" in error["cause"] and named(name) is None


def test_updater_given_as_image_is_refused(images: Images,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    _, url = sim_url()
    code = main(["upgrade", "--port", url, str(images.updater)])
    assert code == 17
    assert "--updater" in capsys.readouterr().err


def test_missing_port(images: Images, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["info", "--port", "/dev/sqnflash-no-such-port"])
    assert code == 30
    assert "SQF-E201" in capsys.readouterr().err


def test_silent_port_is_no_response(capsys: pytest.CaptureFixture[str]) -> None:
    # loop:// echoes what is written: no modem answers there.
    code = main(["info", "--port", "loop://", "--json"])
    error = json_lines(capsys.readouterr().out)[-1]
    assert code == 40 and error["code"] == "SQF-E301"


def test_info_json_and_text(capsys: pytest.CaptureFixture[str]) -> None:
    _, url = sim_url("&old_bootrom=1&imei=490154203237518")
    assert main(["info", "--port", url, "--json"]) == 0
    data = json_lines(capsys.readouterr().out)[-1]
    assert data["mode"] == "application" and data["smod"] == 2
    assert data["bootrom_build"] == 33080 and data["old_bootrom"] is True
    assert data["imei"] == "490154203237518" and data["family"] == "CAT-M1"
    _, url = sim_url()
    assert main(["info", "--port", url]) == 0
    text = capsys.readouterr().out
    assert "application (FFF)" in text and str(FROM) in text


def test_trace_file_shows_at_lines_and_stp_frames(images: Images, tmp_path: Path) -> None:
    _, url = sim_url()
    trace = tmp_path / "wire.log"
    assert main(["upgrade", "--port", url, str(images.diff), "--json",
                 "--trace-file", str(trace)]) == 0
    text = trace.read_text()
    assert "AT > AT+SMOD?" in text and "AT < 2" in text
    assert "STP > OPEN sid=1 tid=1" in text
    assert "STP < OPEN-ACK" in text and "max_transfer=8192" in text
    assert "    0000  66 61 73 74" in text  # the hexdump of a request starts with "fast"


def test_demo_runs_to_the_end(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--virtual-time"]) == 0
    out = capsys.readouterr().out
    # The demo upgrades to a real CAT-M1 release, so the catalogue knows its files.
    assert f"build {FROM} -> 39529" in out
    assert "simulated modem now: FFF, build 39529" in out
    assert "not in sqnflash's catalogue" not in out


@pytest.mark.slow
@needs_pty
def test_installed_cli_upgrades_a_pty_simulator(start_sim: StartSim, tmp_path: Path) -> None:
    """Two processes, a pseudo-terminal between them, as with a real USB serial port."""
    image = tmp_path / f"upgdiff_{FROM}-to-{TO}.dup"
    image.write_bytes(make_image(ImageKind.DIFF, Family.CATM1, TO, source=FROM, size=60_000))
    sim = start_sim("--version", str(FROM), "--set", "reboot_s=0.3", "--set", "apply_s=0.5")
    client = subprocess.run(
        [sys.executable, "-m", "sqnflash", "upgrade", "--port", str(sim.link), str(image),
         "--json"], capture_output=True, text=True, timeout=120,
        env={**os.environ, "SQNFLASH_PORT": ""})
    assert client.returncode == 0, client.stdout + client.stderr
    assert json.loads(client.stdout.splitlines()[-1])["after"]["software_build"] == TO
    summary = sim.stop()
    assert summary["version"] == TO and summary["upgrades_applied"] == 1
