"""`--baud auto` (the default), `--baud N` and `--max-baud N` on the command line."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from sqnflash.cli.main import main
from sqnflash.sim.simulator import forget
from tests.support.images import FROM, Images


@pytest.fixture
def url() -> Iterator[str]:
    name = f"fast-{uuid.uuid4().hex}"
    yield f"sim://{name}?clock=virtual&version={FROM}"
    forget(name)


def transfer_bauds(out: str) -> list[int]:
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [e["baud"] for e in events if e.get("type") == "transfer-started"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["upgrade", "--json", "--method", "on-the-fly", *argv])
    return code, capsys.readouterr().out


def test_the_default_runs_the_transfer_at_the_fastest_rate(
        url: str, images: Images, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "--port", url, str(images.small_full))
    assert code == 0 and transfer_bauds(out) == [3686400], out


def test_max_baud_and_an_exact_baud_keep_the_line_slower(
        url: str, images: Images, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "--port", url, "--max-baud", "1000000", str(images.small_full))
    assert code == 0 and transfer_bauds(out) == [1000000], out
    code, out = run(capsys, "--port", url, "--baud", "921600", "--force",
                    str(images.small_full))
    assert code == 0 and transfer_bauds(out) == [921600], out


def test_an_unknown_rate_names_auto_among_the_choices(
        url: str, images: Images, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "--port", url, "--baud", "fast", str(images.small_full))
    assert code == 105 and "SQF-E125" in out
    assert "the rates are auto, 9600" in out
