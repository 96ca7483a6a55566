"""The catalogue of known official firmware files, releases and upgrade path rules.

The facts live in `catalogue.json` beside this module, each entry with its public source, so that
a new release is a data change, not a code change. This module loads and checks that file and
answers the questions preflight checks and the planner ask: is this file name an official one, and
of what size; which `updater.elf` belongs to which release; which rules constrain the path from
the running build to the image.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

FAMILIES = ("CAT-M1", "NB-IoT", "Monarch 2")
FILE_KINDS = ("full", "diff", "updater", "bootrom")
RULE_KINDS = ("diff-source", "diff-without-updater", "updater-release", "requires-running",
              "method", "min-running-lr", "note-running")


_T = TypeVar("_T")


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


# Each reader takes (entry, key, where) and returns the value checked, or raises CatalogueError
# naming the entry (`where`) and the key.
Reader = Callable[[dict[str, Any], str, str], Any]


def _wrong_type(value: Any, kind: type) -> bool:
    return not isinstance(value, kind) or (isinstance(value, bool) and kind is int)


def _required(kind: type) -> Reader:
    def read(entry: dict[str, Any], key: str, where: str) -> Any:
        if key not in entry:
            raise CatalogueError(f"{where}: '{key}' is missing")
        if _wrong_type(entry[key], kind):
            raise CatalogueError(f"{where}: '{key}' has the wrong type ({entry[key]!r})")
        return entry[key]
    return read


def _optional(kind: type) -> Reader:
    def read(entry: dict[str, Any], key: str, where: str) -> Any:
        value = entry.get(key)
        if value is not None and _wrong_type(value, kind):
            raise CatalogueError(f"{where}: '{key}' has the wrong type ({value!r})")
        return value
    return read


def _one_of(choices: tuple[str, ...]) -> Reader:
    def read(entry: dict[str, Any], key: str, where: str) -> str:
        value = _required(str)(entry, key, where)
        if value not in choices:
            raise CatalogueError(f"{where}: {key} {value!r} is not one of {', '.join(choices)}")
        return str(value)
    return read


def _list_of(kind: type, what: str) -> Reader:
    def read(entry: dict[str, Any], key: str, where: str) -> tuple[Any, ...]:
        values = entry.get(key, [])
        if not isinstance(values, list) or not all(isinstance(v, kind) for v in values):
            raise CatalogueError(f"{where}: '{key}' must be a list of {what}")
        return tuple(values)
    return read


def _source(entry: dict[str, Any], key: str, where: str) -> str:
    text = _required(str)(entry, key, where)
    if not text.strip():
        raise CatalogueError(f"{where}: every entry must cite its public source")
    return str(text)


def _source_build(entry: dict[str, Any], key: str, where: str) -> int | None:
    build: int | None = _optional(int)(entry, key, where)
    if build is None and entry.get("kind") == "diff":
        raise CatalogueError(f"{where}: a differential image needs its source_build")
    return build


def _note(entry: dict[str, Any], key: str, where: str) -> Any:
    return entry.get(key, "")


def _flag(entry: dict[str, Any], key: str, where: str) -> bool:
    return bool(entry.get(key, False))


# The keys of each section's entries, in the order they are checked.
_RELEASE_KEYS: tuple[tuple[str, Reader], ...] = (
    ("build", _required(int)), ("family", _one_of(FAMILIES)), ("lr_version", _required(str)),
    ("source", _source), ("ue_version", _optional(str)), ("date", _optional(str)),
    ("factory", _flag), ("updater_sizes", _list_of(int, "integers")),
    ("updater_size_approx", _optional(int)), ("note", _note))
_FILE_KEYS: tuple[tuple[str, Reader], ...] = (
    ("kind", _one_of(FILE_KINDS)), ("aliases", _list_of(str, "names")), ("name", _required(str)),
    ("family", _one_of(FAMILIES)), ("build", _required(int)), ("source", _source),
    ("size", _optional(int)), ("size_approx", _optional(int)), ("source_build", _source_build),
    ("installs_build", _optional(int)), ("sha256", _optional(str)), ("step", _optional(int)),
    ("method", _optional(str)), ("note", _note))
_UPDATER_KEYS: tuple[tuple[str, Reader], ...] = (
    ("size", _required(int)), ("releases", _list_of(int, "integers")), ("source", _source),
    ("version", _optional(str)), ("note", _note))
_BOOTROM_KEYS: tuple[tuple[str, Reader], ...] = (
    ("size", _required(int)), ("md5", _required(str)), ("build", _required(int)),
    ("source", _source))
_RULE_KEYS: tuple[tuple[str, Reader], ...] = (
    ("kind", _one_of(RULE_KINDS)), ("id", _required(str)), ("text", _required(str)),
    ("source", _source), ("file", _optional(str)), ("requires_build", _optional(int)),
    ("intermediate", _optional(str)), ("method", _optional(str)), ("family", _optional(str)),
    ("min_lr", _optional(str)), ("running_build", _optional(int)))


def _entries(data: dict[str, Any], section: str, make: Callable[..., _T],
             keys: tuple[tuple[str, Reader], ...], label: str | None = None) -> tuple[_T, ...]:
    """Every entry of `section` made into `make(**checked keys)`."""
    made = []
    for index, entry in enumerate(data.get(section, [])):
        where = f"{section}[{index}]" + (f" ({entry.get(label, '?')})" if label else "")
        made.append(make(**{key: read(entry, key, where) for key, read in keys}))
    return tuple(made)


def parse_catalogue(data: dict[str, Any]) -> Catalogue:
    """Check and convert the catalogue's JSON; raises CatalogueError naming the bad entry."""
    if data.get("schema") != 1:
        raise CatalogueError(f"unknown catalogue schema {data.get('schema')!r}")
    catalogue = Catalogue(
        _entries(data, "releases", Release, _RELEASE_KEYS),
        _entries(data, "files", KnownFile, _FILE_KEYS, label="name"),
        _entries(data, "updaters", KnownUpdater, _UPDATER_KEYS),
        _entries(data, "bootroms", KnownBootrom, _BOOTROM_KEYS),
        _entries(data, "rules", PathRule, _RULE_KEYS, label="id"))
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
