"""The one version parser and the one Pycom release table."""

from __future__ import annotations

import pytest

from sqnflash.firmware.pycom_releases import MODULES, Release, module_by_version, module_of
from sqnflash.firmware.versions import version_tuple


@pytest.mark.parametrize(("text", "expected"), [
    ("8.0.4.0", (8, 0, 4, 0)), ("5.0.0.0d", (5, 0, 0, 0)), ("1.2.6", (1, 2, 6)),
    (" 1.2.10 ", (1, 2, 10)), ("", (0,)),
])
def test_version_tuple(text: str, expected: tuple[int, ...]) -> None:
    assert version_tuple(text) == expected


def test_numbered_versions_compare_numerically_not_as_text() -> None:
    assert version_tuple("1.2.10") > version_tuple("1.2.9")
    assert version_tuple("8.0.3.9") < version_tuple("8.0.4.0")


def test_the_unversioned_first_module_is_older_than_every_numbered_one() -> None:
    first = module_of(Release.parse("1.18.1"))
    assert first is not None and first.version_tuple < MODULES["1.2.0"].version_tuple
    assert not first.has_ffh_fallback


@pytest.mark.parametrize(("release", "module"), [
    ("1.17.5.b1", None), ("1.18.1.r2", "2018-08"), ("1.18.1.r3", "1.2.0"), ("1.18.2", "1.2.2"),
    ("1.19.0", None), ("1.20.0.rc2", "1.2.1"), ("1.20.0.rc13", "1.2.6"), ("1.20.2.r4", "1.2.6"),
    ("1.22.0", "1.2.6"),
])
def test_each_release_carries_its_module(release: str, module: str | None) -> None:
    found = module_of(Release.parse(release))
    assert (found.version if found else None) == module


def test_a_module_version_the_table_does_not_know_takes_the_api_of_the_newest_below() -> None:
    found = module_by_version("1.2.4", None)
    assert found is not None and found.version == "1.2.4"
    assert found.functions == MODULES["1.2.3"].functions
