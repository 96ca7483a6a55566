"""The catalogue data file: well-formed, sourced, consistent, and the README section follows it."""

from __future__ import annotations

import copy
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from sqnflash.firmware.catalogue import CatalogueError, load_catalogue, markdown, parse_catalogue

README = Path(__file__).resolve().parents[2] / "README.md"


def raw() -> dict[str, Any]:
    text = resources.files("sqnflash.firmware").joinpath("catalogue.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def test_every_entry_cites_a_public_source() -> None:
    cat = load_catalogue()
    sources = [*(e.source for e in cat.files), *(e.source for e in cat.releases),
               *(e.source for e in cat.updaters), *(e.source for e in cat.bootroms),
               *(e.source for e in cat.rules)]
    assert len(cat.files) >= 20 and len(cat.rules) >= 5
    assert all(len(source) > 10 for source in sources)


def test_the_facts_protocol_md_states_are_in_the_catalogue() -> None:
    cat = load_catalogue()
    sizes = {f.name: f.size for f in cat.files}
    assert sizes["CATM1-38638.dup"] == 5_996_938
    assert sizes["NB1-37781.dup"] == 5_258_127
    assert sizes["CATM1-39529.dup"] == 6_059_510
    assert sizes["GM02RB6Q_LR8.0.5.13-59577.dup"] == 7_020_424
    release = cat.release(39529)
    assert release is not None and release.updater_sizes == (429_340,)
    shared = cat.updater_of_size(306_076)
    assert shared is not None and set(shared.releases) == {37781, 38638}
    assert {b.size for b in cat.bootroms} == {54_854, 55_498, 55_570}


def test_lookup_is_by_file_name_alias_and_case() -> None:
    cat = load_catalogue()
    step = cat.lookup("/sd/lr5.2.1.0-48829-1.DUP")
    assert step is not None and step.name == "CATM1-5.2-48829-1.dup"
    assert step.reported_build == 39529
    assert cat.lookup("CATM1-99999.dup") is None


@pytest.mark.parametrize(("damage", "complaint"), [
    (lambda d: d["files"][0].pop("source"), "'source' is missing"),
    (lambda d: d["files"][0].update(source=" "), "must cite its public source"),
    (lambda d: d["files"][0].update(family="LTE"), "family 'LTE'"),
    (lambda d: d["files"][0].update(size="big"), "'size' has the wrong type"),
    (lambda d: d["files"].append(dict(d["files"][0])), "listed twice"),
    (lambda d: d["files"][0].update(build=12345), "release 12345 is not in 'releases'"),
    (lambda d: d["updaters"][0].update(size=1), "does not list that size"),
    (lambda d: d["rules"][0].update(kind="magic"), "kind 'magic'"),
    (lambda d: d["rules"][0].pop("text"), "(" + raw()["rules"][0]["id"] + "): 'text' is missing"),
    (lambda d: (d["files"][0].update(kind="diff"), d["files"][0].pop("source_build", None)),
     "files[0] (" + raw()["files"][0]["name"] + "): a differential image needs its source_build"),
    (lambda d: d["files"][0].update(aliases="x.dup"), "'aliases' must be a list of names"),
    (lambda d: d["releases"][0].update(updater_sizes=["1"]),
     "releases[0]: 'updater_sizes' must be a list of integers"),
    (lambda d: d["bootroms"][0].update(md5=5), "bootroms[0]: 'md5' has the wrong type"),
    (lambda d: d.update(schema=2), "unknown catalogue schema 2"),
])
def test_a_malformed_catalogue_names_the_bad_entry(damage: Any, complaint: str) -> None:
    data = copy.deepcopy(raw())
    damage(data)
    with pytest.raises(CatalogueError, match=re.escape(complaint)):
        parse_catalogue(data)


def test_readme_section_is_generated_from_the_catalogue() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Which file do I need?")
    end = text.index("<!-- end of generated section -->")
    assert text[start:end] == markdown(), (
        "README.md is out of date: paste the output of `sqnflash catalogue --markdown` "
        "between its markers")
