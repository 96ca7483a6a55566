"""Every capture in tests/captures replays to the recorded outcome with today's client."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqnflash.cli.main import cli
from sqnflash.cli.replay_cmd import run_replay
from sqnflash.errors import ReplayFileMissing
from tests.captures import capture_paths, firmware_folders, load


@pytest.mark.parametrize("path", capture_paths(), ids=lambda p: p.stem)
def test_capture_replays_with_todays_client(path: Path, tmp_path: Path) -> None:
    capture = load(path)
    try:
        outcome = run_replay(capture, cli, folders=firmware_folders(path, tmp_path))
    except ReplayFileMissing as exc:
        pytest.skip(f"firmware of a user's capture not at hand: {exc.cause}")
    assert outcome.problem() is None, outcome.problem()
    assert outcome.summary["requests_left"] == 0
    assert outcome.summary["requests_matched"] > 0


def test_seeds_cover_every_demo_scenario() -> None:
    from sqnflash.cli.demo_cmd import SCENARIOS

    stems = {p.stem for p in capture_paths()}
    assert {f"demo-{name}" for name in SCENARIOS} <= stems
