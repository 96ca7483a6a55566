"""The catalogue of known official firmware files, releases and upgrade path rules.

The facts live in `catalogue.json` beside this module, each entry with its public source, so that
a new release is a data change, not a code change. This module loads and checks that file and
answers the questions preflight checks and the planner ask: is this file name an official one, and
of what size; which `updater.elf` belongs to which release; which rules constrain the path from
the running build to the image.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

FAMILIES = ("CAT-M1", "NB-IoT", "Monarch 2")
FILE_KINDS = ("full", "diff", "updater", "bootrom")
RULE_KINDS = ("diff-source", "diff-without-updater", "updater-release", "requires-running",
              "method", "min-running-lr", "note-running")


class CatalogueError(ValueError):
    """The catalogue data file is malformed (a packaging bug, caught by the test suite)."""


@dataclass(frozen=True)
class Release:
    build: int
    family: str
    lr_version: str
    source: str
    ue_version: str | None = None
    date: str | None = None
    factory: bool = False
    updater_sizes: tuple[int, ...] = ()
    updater_size_approx: int | None = None
    note: str = ""


@dataclass(frozen=True)
class KnownFile:
    name: str
    kind: str
    family: str
    build: int
    source: str
    size: int | None = None  # None: known by name, exact size never published
    size_approx: int | None = None
    source_build: int | None = None
    installs_build: int | None = None  # when the modem reports another build afterwards
    sha256: str | None = None
    step: int | None = None
    method: str | None = None
    aliases: tuple[str, ...] = ()
    note: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    @property
    def reported_build(self) -> int:
        """The build the modem reports once this file is applied."""
        return self.installs_build if self.installs_build is not None else self.build


@dataclass(frozen=True)
class KnownUpdater:
    size: int
    releases: tuple[int, ...]
    source: str
    version: str | None = None
    note: str = ""


@dataclass(frozen=True)
class KnownBootrom:
    size: int
    md5: str
    build: int
    source: str


@dataclass(frozen=True)
class PathRule:
    id: str
    kind: str
    text: str
    source: str
    file: str | None = None
    requires_build: int | None = None
    intermediate: str | None = None
    method: str | None = None
    family: str | None = None
    min_lr: str | None = None
    running_build: int | None = None


@dataclass(frozen=True)
class Catalogue:
    releases: tuple[Release, ...]
    files: tuple[KnownFile, ...]
    updaters: tuple[KnownUpdater, ...]
    bootroms: tuple[KnownBootrom, ...]
    rules: tuple[PathRule, ...]
    _by_name: dict[str, KnownFile] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for known in self.files:
            for name in known.names:
                key = name.lower()
                if key in self._by_name:
                    raise CatalogueError(f"file name {name} is listed twice")
                self._by_name[key] = known

    def lookup(self, name: str) -> KnownFile | None:
        """The official file of that name (case-insensitive, aliases included)."""
        return self._by_name.get(Path(name).name.lower())

    def release(self, build: int | None) -> Release | None:
        if build is None:
            return None
        return next((r for r in self.releases if r.build == build), None)

    def updater_of_size(self, size: int) -> KnownUpdater | None:
        return next((u for u in self.updaters if u.size == size), None)

    def bootrom_of(self, size: int, md5: str | None = None) -> KnownBootrom | None:
        for bootrom in self.bootroms:
            if bootrom.size == size and (md5 is None or bootrom.md5 == md5):
                return bootrom
        return None

    def rules_of(self, kind: str) -> list[PathRule]:
        return [r for r in self.rules if r.kind == kind]

    def rule(self, rule_id: str) -> PathRule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


# --------------------------------------------------------------------------- loading


def _require(entry: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in entry:
        raise CatalogueError(f"{where}: '{key}' is missing")
    value = entry[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise CatalogueError(f"{where}: '{key}' has the wrong type ({value!r})")
    return value


def _optional(entry: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = entry.get(key)
    if value is not None and (not isinstance(value, kind) or (isinstance(value, bool)
                              and kind is int)):
        raise CatalogueError(f"{where}: '{key}' has the wrong type ({value!r})")
    return value


def _ints(entry: dict[str, Any], key: str, where: str) -> tuple[int, ...]:
    values = entry.get(key, [])
    if not isinstance(values, list) or not all(isinstance(v, int) for v in values):
        raise CatalogueError(f"{where}: '{key}' must be a list of integers")
    return tuple(values)


def _source(entry: dict[str, Any], where: str) -> str:
    text = _require(entry, "source", str, where)
    if not text.strip():
        raise CatalogueError(f"{where}: every entry must cite its public source")
    return str(text)


def _family(entry: dict[str, Any], where: str) -> str:
    family = _require(entry, "family", str, where)
    if family not in FAMILIES:
        raise CatalogueError(f"{where}: family {family!r} is not one of {', '.join(FAMILIES)}")
    return str(family)


def parse_catalogue(data: dict[str, Any]) -> Catalogue:
    """Check and convert the catalogue's JSON; raises CatalogueError naming the bad entry."""
    if data.get("schema") != 1:
        raise CatalogueError(f"unknown catalogue schema {data.get('schema')!r}")
    releases = []
    for index, entry in enumerate(data.get("releases", [])):
        where = f"releases[{index}]"
        releases.append(Release(
            build=_require(entry, "build", int, where), family=_family(entry, where),
            lr_version=_require(entry, "lr_version", str, where), source=_source(entry, where),
            ue_version=_optional(entry, "ue_version", str, where),
            date=_optional(entry, "date", str, where), factory=bool(entry.get("factory", False)),
            updater_sizes=_ints(entry, "updater_sizes", where),
            updater_size_approx=_optional(entry, "updater_size_approx", int, where),
            note=entry.get("note", "")))
    files = []
    for index, entry in enumerate(data.get("files", [])):
        where = f"files[{index}] ({entry.get('name', '?')})"
        kind = _require(entry, "kind", str, where)
        if kind not in FILE_KINDS:
            raise CatalogueError(f"{where}: kind {kind!r} is not one of {', '.join(FILE_KINDS)}")
        aliases = entry.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise CatalogueError(f"{where}: 'aliases' must be a list of names")
        known = KnownFile(
            name=_require(entry, "name", str, where), kind=kind, family=_family(entry, where),
            build=_require(entry, "build", int, where), source=_source(entry, where),
            size=_optional(entry, "size", int, where),
            size_approx=_optional(entry, "size_approx", int, where),
            source_build=_optional(entry, "source_build", int, where),
            installs_build=_optional(entry, "installs_build", int, where),
            sha256=_optional(entry, "sha256", str, where),
            step=_optional(entry, "step", int, where),
            method=_optional(entry, "method", str, where),
            aliases=tuple(aliases), note=entry.get("note", ""))
        if kind == "diff" and known.source_build is None:
            raise CatalogueError(f"{where}: a differential image needs its source_build")
        files.append(known)
    updaters = []
    for index, entry in enumerate(data.get("updaters", [])):
        where = f"updaters[{index}]"
        updaters.append(KnownUpdater(
            size=_require(entry, "size", int, where), releases=_ints(entry, "releases", where),
            source=_source(entry, where), version=_optional(entry, "version", str, where),
            note=entry.get("note", "")))
    bootroms = []
    for index, entry in enumerate(data.get("bootroms", [])):
        where = f"bootroms[{index}]"
        bootroms.append(KnownBootrom(
            size=_require(entry, "size", int, where), md5=_require(entry, "md5", str, where),
            build=_require(entry, "build", int, where), source=_source(entry, where)))
    rules = []
    for index, entry in enumerate(data.get("rules", [])):
        where = f"rules[{index}] ({entry.get('id', '?')})"
        kind = _require(entry, "kind", str, where)
        if kind not in RULE_KINDS:
            raise CatalogueError(f"{where}: kind {kind!r} is not one of {', '.join(RULE_KINDS)}")
        rules.append(PathRule(
            id=_require(entry, "id", str, where), kind=kind,
            text=_require(entry, "text", str, where), source=_source(entry, where),
            file=_optional(entry, "file", str, where),
            requires_build=_optional(entry, "requires_build", int, where),
            intermediate=_optional(entry, "intermediate", str, where),
            method=_optional(entry, "method", str, where),
            family=_optional(entry, "family", str, where),
            min_lr=_optional(entry, "min_lr", str, where),
            running_build=_optional(entry, "running_build", int, where)))
    catalogue = Catalogue(tuple(releases), tuple(files), tuple(updaters), tuple(bootroms),
                          tuple(rules))
    _cross_check(catalogue)
    return catalogue


def _cross_check(catalogue: Catalogue) -> None:
    builds = [r.build for r in catalogue.releases]
    if len(builds) != len(set(builds)):
        raise CatalogueError("a release build is listed twice")
    for known in catalogue.files:
        release = catalogue.release(known.build)
        if release is None:
            raise CatalogueError(f"{known.name}: release {known.build} is not in 'releases'")
        if release.family != known.family:
            raise CatalogueError(f"{known.name}: family {known.family} differs from its "
                                 f"release's ({release.family})")
    for updater in catalogue.updaters:
        for build in updater.releases:
            release = catalogue.release(build)
            if release is None or updater.size not in release.updater_sizes:
                raise CatalogueError(f"updater of {updater.size} bytes: release {build} does "
                                     "not list that size")
    for rule in catalogue.rules:
        if rule.file is not None and catalogue.lookup(rule.file) is None:
            raise CatalogueError(f"rule {rule.id}: file {rule.file} is not in 'files'")


@lru_cache(maxsize=1)
def load_catalogue() -> Catalogue:
    """The catalogue shipped in the package."""
    text = resources.files("sqnflash.firmware").joinpath("catalogue.json").read_text("utf-8")
    return parse_catalogue(json.loads(text))


# --------------------------------------------------------------------------- README section


def _size_text(size: int | None, approx: int | None = None) -> str:
    if size is not None:
        return f"{size:,}".replace(",", " ")
    if approx is not None:
        return f"≈ {approx // 1000} KB"
    return "not published"


def markdown(catalogue: Catalogue | None = None) -> str:
    """The README's "Which file do I need?" section, generated from the catalogue."""
    cat = catalogue or load_catalogue()
    lines = [
        "## Which file do I need?",
        "",
        "Generated from `src/sqnflash/firmware/catalogue.json` by `sqnflash catalogue --markdown`;"
        " `sqnflash check FILE` compares a download with it.",
        "",
        "| the modem (`sqnflash info`) | give sqnflash |",
        "|---|---|",
        "| application, CAT-M1 (LR5.x) or NB-IoT (LR6.x), bootrom newer than 33080 | the full "
        "image `CATM1-<build>.dup` / `NB1-<build>.dup`, or the `upgdiff_<running>-to-<build>.dup`"
        " whose first number is the modem's build |",
        "| application with the factory bootrom (33080) | a full image and the `updater.elf` from "
        "the same zip (a full image carries the new bootrom) |",
        "| boot loader (`AT+SMOD?` 0, Pycom's \"recovery mode\") | a full image and its "
        "`updater.elf` |",
        "| RECOVERY (`AT+SMOD?` 4, Pycom's \"upgrade mode\") | a full image |",
        "",
        "Known official files (a file of the same name but another size is refused as "
        "truncated or altered; `--force` overrides):",
        "",
        "| file | kind | family | installs | size (bytes) | notes |",
        "|---|---|---|---|---|---|",
    ]
    for known in sorted(cat.files, key=lambda f: (f.family, f.build, f.step or 0, f.name)):
        kind = known.kind if known.source_build is None else f"diff from {known.source_build}"
        release = cat.release(known.reported_build)
        installs = f"LR{release.lr_version}-{known.reported_build}" if release else ""
        notes = known.note or ""
        lines.append(f"| `{known.name}` | {kind} | {known.family} | {installs} | "
                     f"{_size_text(known.size, known.size_approx)} | {notes} |")
    lines += ["", "`updater.elf` (one per package; use the one from the same zip as the image):",
              "", "| release | size (bytes) |", "|---|---|"]
    for release in cat.releases:
        if release.updater_sizes or release.updater_size_approx:
            sizes = ", ".join(_size_text(s) for s in release.updater_sizes) or _size_text(
                None, release.updater_size_approx)
            lines.append(f"| {release.family} {release.build} | {sizes} |")
    lines += ["", "Upgrade path rules:", ""]
    lines += [f"- {rule.text}" for rule in cat.rules]
    return "\n".join(lines) + "\n"
