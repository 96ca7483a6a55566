"""Synthetic firmware for the end-to-end tests, made once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

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
