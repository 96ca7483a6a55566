"""Synthetic firmware, made once per test session: files (`images`) and loaded small ones
(`firmware`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqnflash.firmware import FirmwareFile, load_image, load_updater
from sqnflash.sim.images import Family, ImageKind, default_name, make_image

FROM = 38638
TO = 41019
SMALL_FULL = 700_000  # a full image under 4 MiB: quick, and still a real PACK container


class Images:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def make(self, kind: ImageKind, version: int = TO, *, source: int | None = None,
             size: int | None = None, family: Family = Family.CATM1,
             name: str | None = None) -> Path:
        path = self.folder / (name or default_name(kind, family, version, source))
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_bytes(make_image(kind, family, version, source=source, size=size))
        return path

    @property
    def diff(self) -> Path:
        return self.make(ImageKind.DIFF, source=FROM)

    @property
    def full(self) -> Path:
        """Realistic size (6 MB): too large for the FFF method."""
        return self.make(ImageKind.FULL)

    @property
    def small_full(self) -> Path:
        return self.make(ImageKind.FULL, size=SMALL_FULL, name=f"small/CATM1-{TO}.dup")

    @property
    def updater(self) -> Path:
        return self.make(ImageKind.UPDATER)


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> Images:
    folder = tmp_path_factory.mktemp("firmware")
    (folder / "small").mkdir()
    return Images(folder)


class Firmware:
    """Small images, loaded: quick to send over a simulated line."""

    def __init__(self, images: Images) -> None:
        self.images = images

    def path(self, kind: ImageKind, size: int, source: int | None = None) -> Path:
        name = f"quick/{default_name(kind, Family.CATM1, TO, source)}"
        return self.images.make(kind, source=source, size=size, name=name)

    def path_of_full(self) -> Path:
        return self.path(ImageKind.FULL, 300_000)

    @property
    def full(self) -> FirmwareFile:
        return load_image(self.path_of_full())

    @property
    def diff(self) -> FirmwareFile:
        return load_image(self.path(ImageKind.DIFF, 100_000, FROM))

    @property
    def updater(self) -> FirmwareFile:
        return load_updater(self.path(ImageKind.UPDATER, 60_000))


@pytest.fixture(scope="session")
def firmware(images: Images) -> Firmware:
    return Firmware(images)
