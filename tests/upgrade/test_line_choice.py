"""The line a plan expects is the line the run takes: one pure chooser of rates and blocks, fed
with the same facts, and estimates that follow the rate, the blocks and the wire size."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sqnflash.board import BRIDGE_BAUD
from sqnflash.cli.main import main
from sqnflash.firmware import FileSource, FirmwareFile, load_image
from sqnflash.firmware.compress import zipped_size
from sqnflash.modem import ModemInfo
from sqnflash.protocol.modes import Mode
from sqnflash.protocol.stp import ADAPTIVE_BLOCK_CAP, PYCOM_BLOCK_CAP
from sqnflash.sim.images import Family, ImageKind, make_image
from sqnflash.upgrade import Method, Settings, StepId, make_plan, plan_upgrade, upgrade
from sqnflash.upgrade.blocks import choose_blocks
from sqnflash.upgrade.estimate import block_count, transfer_s
from sqnflash.upgrade.journal import Journal
from sqnflash.upgrade.line_rate import (
    FALLBACK_BAUDS,
    LineFacts,
    RatePolicy,
    choose_rate,
    lower_rate,
)
from tests.firmware.test_real_image import m2_image  # noqa: F401  (the fixture)
from tests.support.cli import json_lines
from tests.support.images import FROM, Firmware, Images
from tests.support.modems import SimModem

RATES = (115200, 230400, 460800, 921600, 1000000, 2000000, 3000000, 3686400)
AUTO = RatePolicy(auto=True)
rates = st.sampled_from(RATES)


@st.composite
def line_facts(draw: st.DrawFn) -> LineFacts:
    listed = draw(st.none() | st.lists(rates, min_size=1, unique=True).map(tuple))
    return LineFacts(current=draw(rates), listed=listed, asked=True,
                     uncarried=frozenset(draw(st.sets(rates, max_size=3))),
                     adapter_max=draw(st.none() | rates),
                     failed=frozenset(draw(st.sets(rates, max_size=3))))


@given(line_facts(), st.none() | rates)
def test_auto_takes_the_fastest_listed_rate_nothing_forbids(facts: LineFacts,
                                                            max_baud: int | None) -> None:
    choice = choose_rate(RatePolicy(auto=True, max_baud=max_baud), facts)
    caps = [c for c in (max_baud, facts.adapter_max) if c]
    allowed = [r for r in facts.listed or () if r > facts.current and r not in facts.failed
               and r not in facts.uncarried and all(r <= c for c in caps)]
    assert choice.rate == max(allowed, default=facts.current)
    assert list(choice.tries) == sorted(allowed, reverse=True)
    assert not choice.quiet  # every auto decision is said once the run makes it


@given(line_facts())
def test_an_exact_rate_a_bridge_and_monarch_2_without_rtscts_keep_the_rate_the_modem_answers_at(
        facts: LineFacts) -> None:
    exact = choose_rate(RatePolicy(baud=facts.current), facts)
    assert (exact.rate, exact.tries) == (facts.current, ())
    bridged = choose_rate(AUTO, LineFacts(**{**facts.__dict__, "fixed": 460800}))
    assert (bridged.rate, bridged.tries) == (460800, ())
    free = {**facts.__dict__, "fixed": None, "fallback": None, "current": 115200}
    m2 = choose_rate(AUTO, LineFacts(**{**free, "monarch2": True, "rtscts": False}))
    assert (m2.rate, m2.tries) == (115200, ())
    assert "without RTS/CTS a Monarch 2" in m2.why
    # With RTS/CTS a Monarch 2's line is chosen like any other.
    m1 = choose_rate(AUTO, LineFacts(**{**free, "monarch2": False}))
    flowing = choose_rate(AUTO, LineFacts(**{**free, "monarch2": True, "rtscts": True}))
    assert (flowing.rate, flowing.tries) == (m1.rate, m1.tries)


@given(line_facts(), st.sampled_from((115200, 230400)))
def test_a_noisy_line_steps_down_one_rate_never_below_the_floor_nor_to_a_failed_one(
        facts: LineFacts, floor: int) -> None:
    policy = RatePolicy(auto=True, min_baud=floor)
    lower = lower_rate(policy, facts)
    known = {*FALLBACK_BAUDS, *(facts.listed or ())}
    below = [r for r in known if floor <= r < facts.current and r not in facts.failed
             and r <= (facts.adapter_max or r)]
    assert lower == max(below, default=None)
    assert lower_rate(policy, LineFacts(**{**facts.__dict__, "fixed": 921600})) is None


def test_a_rate_chosen_before_the_list_is_read_says_it_depends_on_it() -> None:
    choice = choose_rate(RatePolicy(auto=True, max_baud=2000000), LineFacts(current=921600))
    assert choice.needs_list and choice.rate == 921600
    assert "within --max-baud 2000000" in choice.why


def test_blocks_start_at_2016_and_grow_unless_forced_remembered_or_monarch_2() -> None:
    fresh = choose_blocks(forced=None, known=None, ceiling=False, monarch2=False)
    assert (fresh.first, fresh.largest) == (PYCOM_BLOCK_CAP, ADAPTIVE_BLOCK_CAP)
    assert fresh.sizes(8192) == (PYCOM_BLOCK_CAP, 8176)
    forced = choose_blocks(forced=1024, known=4000, ceiling=True, monarch2=True)
    assert (forced.first, forced.largest) == (1024, 1024)
    remembered = choose_blocks(forced=None, known=4000, ceiling=True, monarch2=False)
    assert (remembered.first, remembered.largest) == (4000, 4000)
    m2 = choose_blocks(forced=None, known=None, ceiling=False, monarch2=True)
    assert m2.sizes(8192) == (8176, 8176)


def test_growing_blocks_cost_fewer_exchanges_and_the_estimate_follows_the_wire_size() -> None:
    assert block_count(6_000_000, ADAPTIVE_BLOCK_CAP, 8192, PYCOM_BLOCK_CAP) == 16 + 16 + 723
    assert block_count(6_000_000, PYCOM_BLOCK_CAP) == 2977
    grown = transfer_s(6_000_000, 921600, ADAPTIVE_BLOCK_CAP, first_block=PYCOM_BLOCK_CAP)
    assert grown < transfer_s(6_000_000, 921600, PYCOM_BLOCK_CAP)
    assert transfer_s(3_000_000, 115200) < 0.51 * transfer_s(6_000_000, 115200)


def test_a_zipped_image_is_measured_at_its_compressed_size(tmp_path: Path) -> None:
    path = tmp_path / "image.bin"
    raw = make_image(ImageKind.FULL, Family.MONARCH2, 59577, size=400_000)
    # A real image deflates to about half; the twin's filler does not, so part of it is zeroed.
    path.write_bytes(raw[:200_000] + bytes(200_000))
    assert 200_000 < zipped_size(FileSource(path, 400_000)) < 0.6 * 400_000
    twin = tmp_path / "twin.bin"
    twin.write_bytes(raw)
    assert zipped_size(FileSource(twin, 400_000)) > 0.99 * 400_000


def _agreement(settings: str, image: FirmwareFile, run_settings: Settings | None = None) -> None:
    chosen = run_settings or Settings(auto_baud=True)
    planner = SimModem(settings)
    _, plan = plan_upgrade(planner.modem, image, settings=chosen, force=True)
    assert plan.line is not None
    runner = SimModem(settings)
    result = upgrade(runner.modem, image, settings=chosen, force=True,
                     method=Method.ON_THE_FLY if "family" not in settings else None,
                     emit=runner.events.append)
    sent = runner.transfers()[-1]
    assert sent.step == StepId.SEND_IMAGE
    assert plan.line.image.rate == sent.baud == plan.baud, plan.line.image
    first, _ = plan.line.blocks.sizes(sent.max_transfer)
    assert first == sent.block_size
    assert result.after.software_build == plan.expected_build


@pytest.mark.parametrize("settings", ["", "variant=slow-adapter", "variant=legacy-line",
                                      "variant=no-ipr-list", "mode=recovery",
                                      "variant=slow-adapter&mode=recovery"])
def test_the_plan_expects_the_rate_and_blocks_the_run_takes(firmware: Firmware,
                                                           settings: str) -> None:
    _agreement(settings, firmware.full)


def test_the_plan_and_the_run_agree_on_a_monarch_2_modem(tmp_path: Path) -> None:
    path = tmp_path / "GM02S-twin_LR8.0.5.13-59577.dup"
    path.write_bytes(make_image(ImageKind.FULL, Family.MONARCH2, 59577, size=400_000))
    _agreement("family=monarch2&version=58000", load_image(path, force=True))


def test_an_exact_rate_and_a_cap_are_planned_as_run(firmware: Firmware) -> None:
    _agreement("", firmware.full, Settings())
    _agreement("", firmware.full, Settings(auto_baud=True, max_baud=2000000))


def test_what_the_journal_remembers_of_the_modem_is_planned_as_run(firmware: Firmware) -> None:
    _agreement("", firmware.full, Settings(auto_baud=True, avoid_bauds=frozenset({3686400})))
    _agreement("", firmware.full, Settings(auto_baud=True, known_block=4032,
                                           block_ceiling=True))


def test_plan_and_dry_run_show_the_line_in_json_and_text(
        images: Images, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sim://?clock=virtual&version={FROM}&variant=slow-adapter"
    assert main(["plan", "--port", url, str(images.full), "--json"]) == 0
    plan = json_lines(capsys.readouterr().out)[-1]["plan"]
    line = plan["line"]
    assert line["rate"] == plan["baud"] == 921600 and line["adapter_max_baud"] == 921600
    assert 3686400 in line["listed"] and "adapter carries at most 921600" in line["why"]
    assert line["blocks"]["first"] == PYCOM_BLOCK_CAP and line["compress"] is None
    assert main(["upgrade", "--dry-run", "--port", url, str(images.full)]) == 0
    text = capsys.readouterr().out
    assert "Line:" in text and "image: the transfer runs at 921600 baud" in text


def test_through_a_pycom_board_the_plan_expects_the_bridges_rate_and_the_run_keeps_it(
        images: Images, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sim://?clock=virtual&board=fipy&release=1.18.2&version={FROM}"
    assert main(["plan", "--board", "pycom", "--port", url, str(images.small_full),
                 "--json"]) == 0
    line = json_lines(capsys.readouterr().out)[-1]["plan"]["line"]
    assert line["rate"] == BRIDGE_BAUD and "bridge fixed at" in line["why"]
    assert main(["upgrade", "--board", "pycom", "--port", url, str(images.small_full),
                 "--json"]) == 0
    started = [e for e in json_lines(capsys.readouterr().out)
               if e["type"] == "transfer-started"]
    assert started and all(e["baud"] == BRIDGE_BAUD for e in started)


def test_the_real_gm02_image_is_planned_at_about_half_its_raw_time(
        m2_image: Path) -> None:  # noqa: F811
    """The real image deflates to 0.53 at wbits 12: the plan's send estimate follows."""
    found = ModemInfo(Mode.APPLICATION, 115200, software_build=58000, lr_version="8.0.5.0")
    assert found.family == "Monarch 2"
    image = load_image(m2_image)
    zipped = make_plan(found, image, settings=Settings(auto_baud=True), force=True)
    raw = make_plan(found, image, settings=Settings(auto_baud=True, compress=False), force=True)
    assert zipped.line is not None and raw.line is not None
    assert zipped.line.compress and raw.line.compress is False
    assert 0.5 < zipped.line.wire_bytes / image.size < 0.56
    assert raw.line.wire_bytes == image.size
    zipped_s, raw_s = ({s.id: s.estimate_s for s in p.steps}[StepId.SEND_IMAGE]
                       for p in (zipped, raw))
    assert 0.5 < zipped_s / raw_s < 0.57


def test_rates_that_failed_before_are_planned_around_as_the_run_avoids_them(
        firmware: Firmware, tmp_path: Path) -> None:
    with Journal.open(tmp_path / "journal.db") as journal:
        # by IMEI: the modems are found in their application, where they say it
        garbled = SimModem("variant=garble-fast&seed=3")
        upgrade(garbled.modem, firmware.full, settings=Settings(auto_baud=True),
                method=Method.ON_THE_FLY, journal=journal, emit=garbled.events.append)
        assert garbled.transfers()[-1].baud == 921600
        _, plan = plan_upgrade(SimModem().modem, firmware.full,
                               settings=Settings(auto_baud=True), force=True, journal=journal)
        again = SimModem()
        upgrade(again.modem, firmware.full, settings=Settings(auto_baud=True), force=True,
                method=Method.ON_THE_FLY, journal=journal, emit=again.events.append)
    assert plan.line is not None
    assert sorted(plan.line.avoided) == [1000000, 2000000, 3000000, 3686400]
    assert any("failed on it before" in note for note in plan.notes)
    assert plan.line.image.rate == again.transfers()[-1].baud == 921600


def test_plan_and_dry_run_read_the_journal_and_create_none(
        firmware: Firmware, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal = tmp_path / "journal.db"
    url = "sim://?clock=virtual&version=38638"
    assert main(["plan", "--port", url, str(firmware.full.path), "--journal", str(journal)]) == 0
    assert not journal.exists()
    capsys.readouterr()
    assert main(["upgrade", "--port", f"{url}&variant=garble-fast&seed=3", str(firmware.full.path),
                 "--method", "on-the-fly", "--journal", str(journal), "--json"]) == 0
    capsys.readouterr()
    for command in (["plan"], ["upgrade", "--dry-run"]):
        assert main([*command, "--port", url, str(firmware.full.path), "--method", "on-the-fly",
                     "--journal", str(journal), "--json", "--force"]) == 0
        line = json_lines(capsys.readouterr().out)[-1]["plan"]["line"]
        assert line["avoided_bauds"] == [1000000, 2000000, 3000000, 3686400]
        assert line["rate"] == 921600
