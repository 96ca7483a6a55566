"""Named virtual-clock simulators for command-line tests (the CLI opens its own port, so the test
finds the simulator by name afterwards), and the small Monarch 2 files such tests send."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sqnflash.sim.images import Family, ImageKind, make_image, make_updater_elf
from sqnflash.sim.simulator import Simulator, forget, named

SMALL = 400_000  # a Monarch 2 twin small enough for many runs


@pytest.fixture
def sim_url() -> Iterator[Callable[[str], str]]:
    """`sim_url(settings)`: a fresh virtual-clock simulator's URL, forgotten afterwards."""
    names: list[str] = []

    def make(settings: str) -> str:
        names.append(f"cli-{uuid.uuid4().hex}")
        return f"sim://{names[-1]}?clock=virtual{settings}"

    yield make
    for name in names:
        forget(name)


def sim_of(url: str) -> Simulator:
    """The simulator a `sim_url` URL names."""
    sim = named(url.split("//", 1)[1].split("?", 1)[0])
    assert sim is not None
    return sim


def m2_image(folder: Path) -> Path:
    image = folder / "GM02-59577.dup"  # not the official name: a small twin, no size check
    image.write_bytes(make_image(ImageKind.FULL, Family.MONARCH2, 59577, size=SMALL))
    return image


def mtools(folder: Path) -> Path:
    tool = folder / "mtools.elf"
    tool.write_bytes(make_updater_elf(Family.MONARCH2, 59577, 300_000, random.Random(1)))
    return tool
