"""Switching a modem between CAT-M1 and NB-IoT with a full image of the other family.

Full images can switch the radio (docs/protocol.md §7: Pycom documents it); differential images
patch one build of one family and must be refused before anything is sent.
"""

from __future__ import annotations

import uuid

import pytest

from sqnflash.sim.images import Family, ImageKind
from sqnflash.sim.simulator import forget, named
from tests.support.cli import run_cli
from tests.support.images import FROM, Images


@pytest.mark.parametrize(("modem", "image", "name", "lr"), [
    (Family.CATM1, Family.NB1, "NB1-41019.dup", "6.0.0.0"),
    (Family.NB1, Family.CATM1, "CATM1-41019.dup", "5.1.1.0"),
])
def test_a_full_image_of_the_other_family_switches_the_modem(
        images: Images, capsys: pytest.CaptureFixture[str], modem: Family, image: Family,
        name: str, lr: str) -> None:
    sim_name = f"switch-{uuid.uuid4().hex}"
    url = f"sim://{sim_name}?clock=virtual&version={FROM}&family={modem.value}"
    path = images.make(ImageKind.FULL, family=image)  # the release's real size: ON_THE_FLY
    assert path.name == name
    try:
        code, out = run_cli(
            ["upgrade", "--port", url, str(path), "--allow-family-change", "--json"], capsys)
        assert code == 0, out[-1]
        result = out[-1]
        assert result["type"] == "result" and result["ok"]
        assert result["before"]["family"] != result["after"]["family"]
        assert result["after"]["family"] == ("NB-IoT" if image == Family.NB1 else "CAT-M1")
        assert result["after"]["software_build"] == 41019
        assert result["after"]["lr_version"] == lr
        sim = named(sim_name)
        assert sim is not None
        state = sim.summary()
        assert (state["family"], state["version"], state["mode"]) == (image.value, 41019, "FFF")
        assert state["upgrades_applied"] == 1 and state["stp_sessions"] == 1  # sent once
    finally:
        forget(sim_name)


def test_a_diff_of_the_other_family_is_refused_before_anything_is_sent(
        images: Images, capsys: pytest.CaptureFixture[str]) -> None:
    sim_name = f"switch-{uuid.uuid4().hex}"
    url = f"sim://{sim_name}?clock=virtual&version={FROM}&family=catm1"
    diff = images.make(ImageKind.DIFF, family=Family.NB1, source=FROM, size=200_000,
                       name="upgdiff_38638-to-41019-nb1.dup")
    try:
        code, out = run_cli(
            ["upgrade", "--port", url, str(diff), "--allow-family-change", "--json"], capsys)
        assert code != 0
        error = out[-1]
        assert error["type"] == "error" and error["code"] == "SQF-E110", error
        assert "differential" in error["cause"]
        sim = named(sim_name)
        assert sim is not None
        state = sim.summary()
        assert state["stp_sessions"] == 0 and state["version"] == FROM
        assert state["family"] == "catm1" and state["upgrades"] == []
    finally:
        forget(sim_name)
