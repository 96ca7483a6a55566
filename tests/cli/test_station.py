"""Many modems at once: `upgrade` with several ports, --port all / auto and the filters,
`ports --probe`, the per-device report and exit status, Ctrl-C, and a fleet of ptys."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from sqnflash.cli import ports_cmd
from sqnflash.cli.main import main
from sqnflash.cli.station_view import print_table
from sqnflash.errors import ApplyFailed, NothingToDo
from sqnflash.events import Event, TransferProgress
from sqnflash.firmware import load_image
from sqnflash.modem import Modem
from sqnflash.sim.images import Family, ImageKind, make_image
from sqnflash.sim.simulator import forget, named
from sqnflash.upgrade import upgrade
from sqnflash.upgrade.journal import Journal
from sqnflash.upgrade.station import ALREADY, FAILED, INTERRUPTED, UPGRADED, Device, Station

FROM, TO = 38638, 41019
SILENT = "&fault_reboot_at=200000&fault_silence_s=100000"  # reboots mid-transfer, then silent
APPLY_FAILS = "&fault_apply_fail=9"


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("img") / f"{FROM}-{TO}.dup"
    path.write_bytes(make_image(ImageKind.DIFF, Family.CATM1, TO, source=FROM))
    return path


@dataclass
class Fleet:
    names: list[str]
    urls: list[str]

    def imei(self, n: int) -> str:
        return f"3543460900{n:05d}"


@pytest.fixture
def fleet() -> Iterator[Fleet]:
    """Eight simulated modems on the virtual clock: the 7th goes silent mid-transfer, the 8th's
    apply fails."""
    tag = uuid.uuid4().hex[:8]
    names = [f"st-{tag}-{n}" for n in range(1, 9)]
    faults = {7: SILENT, 8: APPLY_FAILS}
    urls = [f"sim://{name}?clock=virtual&version={FROM}&imei=3543460900{n:05d}{faults.get(n, '')}"
            for n, name in enumerate(names, 1)]
    yield Fleet(names, urls)
    for name in names:
        forget(name)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def ports_args(urls: list[str]) -> list[str]:
    return [arg for url in urls for arg in ("--port", url)]


def test_eight_modems_six_upgraded_two_reported_and_a_second_run_does_nothing_twice(
        fleet: Fleet, image: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "report.csv"
    command = ["upgrade", str(image), *ports_args(fleet.urls), "--json", "--station", "bench-1"]
    code = main([*command, "--report", str(report)])
    out = json_lines(capsys.readouterr().out)
    assert code == 116
    assert out[-1]["type"] == "error" and out[-1]["code"] == "SQF-E512"
    result = out[-2]
    assert result["type"] == "result" and result["ok"] is False
    devices = {d["port"]: d for d in result["devices"]}
    for n, url in enumerate(fleet.urls[:6], 1):
        assert devices[url]["status"] == "upgraded" and devices[url]["after_build"] == TO, \
            {k: v for k, v in devices[url].items() if k in ("error", "error_code", "modem_state")}
        assert devices[url]["imei"] == fleet.imei(n)
        sim = named(fleet.names[n - 1])
        assert sim is not None and sim.summary()["version"] == TO
    silent, failing = devices[fleet.urls[6]], devices[fleet.urls[7]]
    assert silent["status"] == "failed" and silent["error_code"] == "SQF-E405"
    assert "not answering" in silent["modem_state"]
    assert failing["status"] == "failed" and failing["error_code"] == "SQF-E501"
    assert failing["modem_state"] and failing["advice"]
    # Every event names its device.
    events = [o for o in out if o["type"] in ("progress", "step-started")]
    assert events and all(o["port"] in devices for o in events)
    assert {o["imei"] for o in events if o["type"] == "progress"} >= {fleet.imei(1)}
    rows = list(csv.DictReader(report.open(encoding="utf-8")))
    assert [r["status"] for r in rows] == ["upgraded"] * 6 + ["failed"] * 2
    assert rows[7]["error_code"] == "SQF-E501" and rows[0]["station"] == "bench-1"

    code = main(command)
    again = json_lines(capsys.readouterr().out)
    assert code == 116
    devices = {d["port"]: d for d in again[-2]["devices"]}
    assert [devices[url]["status"] for url in fleet.urls[:6]] == ["already-done"] * 6
    assert all(devices[url]["imei"] == fleet.imei(n) for n, url in enumerate(fleet.urls[:6], 1))
    assert not any(o["type"] == "step-started" and o["port"] in fleet.urls[:6] for o in again)
    for name in fleet.names[:6]:
        sim = named(name)
        assert sim is not None and sim.summary()["upgrades_applied"] == 1
    with Journal.open(None) as journal:
        done = journal.history(outcome="completed", limit=None)
    assert sorted(r.imei or "" for r in done) == [fleet.imei(n) for n in range(1, 7)]
    assert {r.station for r in done} == {"bench-1"}


def test_the_text_output_has_a_row_per_device_and_says_what_to_do(
        fleet: Fleet, image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["upgrade", str(image), *ports_args([fleet.urls[0], fleet.urls[7]])])
    captured = capsys.readouterr()
    assert code == 116
    assert "1 upgraded, 0 already on the image, 1 not upgraded (of 2)" in captured.out
    assert "SQF-E501" in captured.out and "what to do" in captured.out
    assert "SQF-E512" in captured.err


@dataclass
class FakePort:
    device: str
    description: str = "CP2102N USB to UART"
    vid: int | None = 0x10C4
    pid: int | None = 0xEA60
    serial_number: str | None = None
    location: str | None = None
    manufacturer: str | None = None
    product: str | None = None
    hwid: str | None = None


def listed(monkeypatch: pytest.MonkeyPatch, ports: list[FakePort]) -> None:
    monkeypatch.setattr(ports_cmd, "list_ports", lambda: ports)


def test_port_all_upgrades_every_modem_the_filters_select_and_auto_wants_exactly_one(
        fleet: Fleet, image: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    quiet = f"sim://{uuid.uuid4().hex}?clock=virtual&mode=off"  # answers nothing: not a modem
    ports = [FakePort(fleet.urls[0], serial_number="A1"), FakePort(fleet.urls[1],
                                                                   serial_number="A2"),
             FakePort(fleet.urls[2], vid=0x0403, pid=0x6001, serial_number="B1"),
             FakePort("/dev/ttyS0-not-here", vid=None, pid=None)]
    listed(monkeypatch, ports)
    code = main(["upgrade", str(image), "--port", "all", "--vid", "10c4", "--json"])
    result = json_lines(capsys.readouterr().out)[-1]
    assert code == 0 and result["ok"] is True, result.get("devices")
    assert [d["port"] for d in result["devices"]] == fleet.urls[:2]

    code = main(["upgrade", str(image), "--port", "auto", "--json", "--dry-run"])
    error = json_lines(capsys.readouterr().out)[-1]
    assert code == 115 and error["code"] == "SQF-E211"
    assert fleet.urls[0] in error["cause"] and fleet.urls[2] in error["cause"]

    code = main(["upgrade", str(image), "--port", "auto", "--serial-number", "B1", "--json"])
    out = json_lines(capsys.readouterr().out)
    assert code == 0 and out[-1]["type"] == "result" and "devices" not in out[-1]
    assert out[-1]["after"]["software_build"] == TO  # one port: today's single-modem output

    listed(monkeypatch, [FakePort(quiet)])
    code = main(["upgrade", str(image), "--port", "all", "--json"])
    error = json_lines(capsys.readouterr().out)[-1]
    assert code == 114 and error["code"] == "SQF-E134"


def test_ports_probe_says_which_ports_answer_as_a_modem_and_changes_nothing(
        fleet: Fleet, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    listed(monkeypatch, [FakePort(fleet.urls[0], serial_number="A1"),
                         FakePort(fleet.urls[1], vid=0x0403, pid=0x6001)])
    slow = f"sim://{fleet.names[2]}?clock=virtual&version={FROM}&app_baud=115200"
    code = main(["ports", "--probe", "--vid", "10C4", "--port", slow, "--port",
                 "/dev/does-not-exist-9", "--json"])
    out = json_lines(capsys.readouterr().out)
    assert code == 0
    by_port = {o["device"]: o for o in out if o["type"] == "port"}
    assert set(by_port) == {fleet.urls[0], slow, "/dev/does-not-exist-9"}
    first = by_port[fleet.urls[0]]["probe"]
    assert first["modem"] is True and first["imei"] == fleet.imei(1)
    assert first["software_build"] == FROM and first["family"] == "CAT-M1"
    assert by_port[slow]["probe"]["baud"] == 115200
    assert by_port["/dev/does-not-exist-9"]["probe"]["error_code"] == "SQF-E201"
    assert out[-1] == {"type": "result", "ok": True, "ports": 3, "modems": 2}
    sim = named(fleet.names[0])
    assert sim is not None and sim.summary()["mode"] == "FFF"
    assert sim.summary()["upgrades"] == []


def test_ctrl_c_stops_every_device_before_its_point_of_no_return_and_journals_it(
        fleet: Fleet, image: Path) -> None:
    file = load_image(image)
    station: Station | None = None
    seen: list[str] = []

    def work(device: Device, sink: Any) -> Any:
        with Journal.open(None) as journal, Modem.open(device.port) as modem:
            return upgrade(modem, file, emit=sink, journal=journal)

    def observe(device: Device, event: Event) -> None:
        if isinstance(event, TransferProgress) and event.done > event.total // 4:
            seen.append(device.port)
            if station is not None and len(seen) == 1:
                threading.Thread(target=station.stop).start()

    station = Station(fleet.urls[:4], work, observe)
    devices = station.run()
    assert station.interrupted
    assert [d.status for d in devices] == [INTERRUPTED] * 4
    for device in devices:
        assert device.error is not None and device.error.code == "SQF-E901"
    for name in fleet.names[:4]:
        sim = named(name)
        assert sim is not None
        summary = sim.summary()
        assert summary["version"] == FROM and summary["mode"] == "FFF" and summary["app_ok"]
    with Journal.open(None) as journal:
        assert {r.outcome_now for r in journal.history(limit=None)} == {"interrupted"}


@pytest.mark.slow
def test_the_installed_cli_upgrades_a_pty_fleet(image: Path, tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("sqnflash")
    env = {**os.environ, "SQNFLASH_JOURNAL": str(tmp_path / "j.db")}
    fleet = subprocess.Popen(
        [str(exe), "sim", "--pty", "--count", "3", "--set", "reboot_s=0.3", "--set",
         "apply_s=0.5", "--device", "3:fault_apply_fail=9"],
        stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert fleet.stdout is not None
        ready = [fleet.stdout.readline().split() for _ in range(3)]
        assert [r[0] for r in ready] == ["READY"] * 3 and len({r[2] for r in ready}) == 3
        run = subprocess.run(
            [str(exe), "upgrade", str(image), *ports_args([r[1] for r in ready]), "--json",
             "--report", str(tmp_path / "r.json")],
            capture_output=True, text=True, env=env, timeout=100)
        assert run.returncode == 116, run.stderr
        report = json.loads((tmp_path / "r.json").read_text())
        assert [d["status"] for d in report["devices"]] == ["upgraded", "upgraded", "failed"]
        assert [d["imei"] for d in report["devices"]] == [r[2] for r in ready]
    finally:
        fleet.send_signal(signal.SIGTERM)
        out, _ = fleet.communicate(timeout=20)
    summaries = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [s["version"] for s in summaries] == [TO, TO, FROM]


def test_two_stations_upgrading_at_once_into_one_postgresql_journal_lose_no_record(
        image: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    tag = uuid.uuid4().hex[:8]
    stations = {
        name: [f"sim://{tag}-{name}-{n}?clock=virtual&version={FROM}&imei=35434609{digit}{n:06d}"
               for n in range(4)]
        for digit, name in ((1, "north"), (2, "south"))}
    codes: dict[str, int] = {}
    start = threading.Barrier(2)

    def station(name: str) -> None:
        start.wait()
        codes[name] = main(["upgrade", str(image), *ports_args(stations[name]), "--journal",
                            postgres_url, "--station", name, "--json"])

    threads = [threading.Thread(target=station, args=(name,)) for name in stations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out = capsys.readouterr().out
    assert codes == {"north": 0, "south": 0}, [o for o in json_lines(out) if o["type"] == "error"]
    with Journal.open(postgres_url) as journal:
        rows = journal.history(limit=None)
        assert journal.builds() == [(str(TO), 8)]
    assert len(rows) == 8 and all(r.outcome == "completed" for r in rows)
    for row in rows:
        assert row.imei is not None and row.imei[8] == ("1" if row.station == "north" else "2")
        assert row.completed == row.steps
    for urls in stations.values():
        for url in urls:
            forget(url.split("//", 1)[1].split("?", 1)[0])


def test_the_single_modem_commands_take_port_auto(
        fleet: Fleet, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    listed(monkeypatch, [FakePort(fleet.urls[2]), FakePort("/dev/does-not-exist-8")])
    assert main(["info", "--port", "auto", "--json"]) == 0
    assert json_lines(capsys.readouterr().out)[-1]["imei"] == fleet.imei(3)
    assert main(["info", "--port", "all", "--json"]) == 27
    assert "takes one modem" in json_lines(capsys.readouterr().out)[-1]["cause"]


@pytest.mark.slow
def test_sigterm_stops_a_pty_fleet_upgrade_safely(image: Path, tmp_path: Path) -> None:
    """The installed CLI, stopped mid-transfer as Ctrl-C or a closing terminal would: every
    modem is put back into its old application and the journal says `interrupted`."""
    exe = Path(sys.executable).with_name("sqnflash")
    env = {**os.environ, "SQNFLASH_JOURNAL": str(tmp_path / "j.db")}
    fleet = subprocess.Popen([str(exe), "sim", "--pty", "--count", "2"],
                             stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert fleet.stdout is not None
        ports = [fleet.stdout.readline().split()[1] for _ in range(2)]
        run = subprocess.Popen([str(exe), "upgrade", str(image), *ports_args(ports), "--json"],
                               stdout=subprocess.PIPE, text=True, env=env)
        assert run.stdout is not None
        transferring: set[str] = set()
        for line in run.stdout:
            event = json.loads(line)
            if event["type"] == "progress" and event["done"] > 0:
                transferring.add(event["port"])
            if len(transferring) == 2:
                run.send_signal(signal.SIGTERM)
                break
        rest = json_lines(run.stdout.read())
        assert run.wait(timeout=60) == 130
    finally:
        fleet.send_signal(signal.SIGTERM)
        out, _ = fleet.communicate(timeout=20)
    result = next(o for o in rest if o["type"] == "result")
    assert [d["status"] for d in result["devices"]] == ["interrupted", "interrupted"]
    assert all("unchanged" in d["modem_state"] for d in result["devices"])
    assert rest[-1]["code"] == "SQF-E901"
    summaries = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [(s["version"], s["mode"], s["app_ok"]) for s in summaries] == [(FROM, "FFF", True)] * 2
    with Journal.open(tmp_path / "j.db") as journal:
        assert [r.outcome for r in journal.history()] == ["interrupted", "interrupted"]


def test_the_table_gives_the_error_code_only_of_a_device_not_upgraded() -> None:
    out = io.StringIO()
    devices = [Device("/dev/a", status=UPGRADED, before_build=FROM, after_build=TO),
               Device("/dev/b", status=ALREADY, after_build=TO,
                      error=NothingToDo("the modem already runs build 41019")),
               Device("/dev/c", status=FAILED, before_build=FROM, error=ApplyFailed("apply")),
               Device("/dev/d", status=FAILED)]
    print_table(Console(file=out, width=200, color_system=None), devices)
    rows = {line.split()[1]: line for line in out.getvalue().splitlines()
            if line.startswith("│ /dev/")}
    assert "upgraded " in rows["/dev/a"] and "SQF-" not in rows["/dev/a"]
    assert "already-done " in rows["/dev/b"] and "SQF-" not in rows["/dev/b"]
    assert f"failed {ApplyFailed.code} " in rows["/dev/c"]
    assert "failed " in rows["/dev/d"] and "SQF-" not in rows["/dev/d"]
    assert "1 upgraded, 1 already on the image, 2 not upgraded (of 4)" in out.getvalue()


def test_a_dry_run_on_several_ports_plans_each_modem_with_the_options_its_run_gets(
        fleet: Fleet, image: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["upgrade", str(image), *ports_args(fleet.urls[:2]), "--dry-run", "--json",
                 "--max-baud", "460800"])
    plans = [o["plan"] for o in json_lines(capsys.readouterr().out) if o.get("dry_run")]
    assert code == 0 and len(plans) == 2
    for plan in plans:
        assert plan["line"]["policy"]["max_baud"] == 460800
        assert "--max-baud 460800" in plan["line"]["why"]
    for name in fleet.names[:2]:
        sim = named(name)
        assert sim is not None and sim.summary()["upgrades_applied"] == 0
