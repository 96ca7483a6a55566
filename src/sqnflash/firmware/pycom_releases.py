"""Pycom firmware releases and the `sqnsupgrade` module each one carries.

Facts (protocol-reference §5.1, from the tags of Pycom's firmware repository): no release before
1.18.1 (nor any 1.19.x) has a built-in `sqnsupgrade`; every release from 1.18.1 (August 2018) on has
one with `uart()`, whose `ffh_mode` step (the board flashes its own copy of the bootrom, boots the
modem's boot loader and negotiates 921600 baud) falls back to `AT+SMSWBOOT=m,0` + `AT^RESET` when
`AT+SMSWBOOT=0,1` answers ERROR only from module 1.2.1 on (releases 1.18.2 and 1.20.0.rc2): 1.2.0
aborts there, which is how factory modems got stuck (failure #12).

Release names look like `1.18.1`, `1.18.1.r4`, `1.20.0.rc13`, `1.10.0.b1`; within one version a
beta comes before a release candidate, which comes before the release, which comes before its
`.rN` revisions.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from functools import total_ordering

MIN_BRIDGE_RELEASE = "1.18.1"
MIN_FFH_RELEASE = "1.18.2 (or 1.20.0.rc2)"
FFH_MODULE = (1, 2, 1)  # sqnsupgrade with the AT+SMSWBOOT=0,0 + AT^RESET fallback
CHECKS_BOOTROM_MODULE = (1, 2, 6)  # uart(True) leaves a modem with a recent bootrom alone

_STAGES = {"b": 0, "rc": 1, "": 2, "r": 3}
_RELEASE = re.compile(r"^\s*(\d+)\.(\d+)\.(\d+)(?:\.(b|rc|r)(\d+))?", re.IGNORECASE)


class ReleaseError(ValueError):
    """A string is not a Pycom release name."""


@total_ordering
@dataclass(frozen=True)
class Release:
    major: int
    minor: int
    patch: int
    stage: str = ""  # b, rc, "" (the release itself) or r
    number: int = 0
    text: str = ""

    @classmethod
    def parse(cls, text: str) -> Release:
        match = _RELEASE.match(text)
        if not match:
            raise ReleaseError(f"{text!r} is not a Pycom firmware release (like 1.20.2.r4)")
        stage = (match.group(4) or "").lower()
        return cls(int(match.group(1)), int(match.group(2)), int(match.group(3)), stage,
                   int(match.group(5) or 0), text.strip())

    @property
    def key(self) -> tuple[int, int, int, int, int]:
        return (self.major, self.minor, self.patch, _STAGES[self.stage], self.number)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Release):
            return NotImplemented
        return self.key < other.key

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Release):
            return NotImplemented
        return self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __str__(self) -> str:
        return self.text or ".".join(map(str, (self.major, self.minor, self.patch)))


@dataclass(frozen=True)
class UpgraderModule:
    """The `sqnsupgrade` built into a release."""

    version: str  # "1.2.6"; "2018-08" for the first frozen module, which had no VERSION
    functions: tuple[str, ...]
    uart_signature: str
    bootrom_build: int  # the bootrom package the board flashes in ffh_mode
    bootrom_size: int

    @property
    def version_tuple(self) -> tuple[int, ...]:
        return version_tuple(self.version)

    @property
    def has_ffh_fallback(self) -> bool:
        return self.version_tuple >= FFH_MODULE

    @property
    def checks_bootrom(self) -> bool:
        return self.version_tuple >= CHECKS_BOOTROM_MODULE


def version_tuple(text: str) -> tuple[int, ...]:
    """`1.2.6` -> (1, 2, 6); the unversioned first module sorts before 1.2.0."""
    parts = re.findall(r"\d+", text)
    if not re.fullmatch(r"\d+(\.\d+)*", text.strip()):
        return (0,)
    return tuple(int(p) for p in parts)


_FIRST = UpgraderModule(
    "2018-08", ("run", "uart", "version"),
    "uart(ffh_mode=False, mfile=None, retry=False, resume=False, color=0x050505, debug=False)",
    38638, 54_854)
_V120 = UpgraderModule(
    "1.2.0", ("run", "uart", "info"),
    "uart(ffh_mode=False, mfile=None, color=0x050505, verbose=False, debug=False)",
    39529, 55_498)
_V121 = UpgraderModule("1.2.1", _V120.functions, _V120.uart_signature, 39529, 55_498)
_V122 = UpgraderModule("1.2.2", _V120.functions, _V120.uart_signature, 41065, 55_570)
_V123_FUNCS = ("run", "uart", "info", "load", "imei", "state")
_V123_SIG = ("uart(ffh_mode=False, mfile=None, color=0x050505, verbose=False, debug=False, "
             "hangup=True)")
_V123 = UpgraderModule("1.2.3", _V123_FUNCS, _V123_SIG, 41065, 55_570)
_V125 = UpgraderModule("1.2.5", _V123_FUNCS, _V123_SIG, 41065, 55_570)
_V126 = UpgraderModule("1.2.6", _V123_FUNCS, _V123_SIG, 41065, 55_570)

# (first release, module), per branch: each release carries the module of the latest entry at or
# before it.
_TABLE: dict[tuple[int, int], list[tuple[str, UpgraderModule]]] = {
    (1, 18): [("1.18.1", _FIRST), ("1.18.1.r3", _V120), ("1.18.2", _V122),
              ("1.18.2.r2", _V123), ("1.18.2.r4", _V125)],
    (1, 20): [("1.20.0.rc0", _FIRST), ("1.20.0.rc2", _V121), ("1.20.0.rc7", _V122),
              ("1.20.0.rc8", _V123), ("1.20.0.rc9", _V125), ("1.20.0.rc13", _V126)],
}
MODULES = {m.version: m for m in (_FIRST, _V120, _V121, _V122, _V123, _V125, _V126)}


def module_of(release: Release) -> UpgraderModule | None:
    """The `sqnsupgrade` built into `release`, or None when it has none."""
    branch = _TABLE.get((release.major, release.minor))
    if branch is None:
        newer = (release.major, release.minor) > (1, 20)
        return _V126 if newer else None  # later releases keep the last module
    found = None
    for first, module in branch:
        if Release.parse(first) <= release:
            found = module
    return found


def module_by_version(version: str | None, release: Release | None) -> UpgraderModule | None:
    """What the board says its module is (its VERSION) wins over the table."""
    if version and version in MODULES:
        return MODULES[version]
    if version:
        # A version this table does not know: same API as the newest known one at or below it.
        wanted = version_tuple(version)
        known = [m for m in MODULES.values() if m.version_tuple <= wanted]
        if known:
            return dataclasses.replace(max(known, key=lambda m: m.version_tuple), version=version)
    return module_of(release) if release is not None else None
