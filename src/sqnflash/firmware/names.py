"""What an official file name says: family, the build it installs, the build a diff patches.

Names seen in public releases (docs/protocol.md §7):
`CATM1-38638.dup`, `NB1-37781.dup`, `FIPY_GPY_CATM1_33988.dup`, `FIPY_NB1_35351.dup`,
`FIPY_GPY_NB1-37365.dup`, `upgdiff_38638-to-39529.dup`, `CATM1-5.2-48829-1.dup` (two-step
releases carry the LR version and a step number), `LR5.2.1.0-48829-1.dup`, and on Monarch 2
`GM02RB6Q_LR8.0.5.13-59577.dup`, `GP02RBAQ-DM_LR8.2.1.0-61488.dup`. Builds are five-digit numbers
and are matched as such, so `5.2` in `CATM1-5.2-48829-1` is never taken for a build.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BUILD = r"(\d{5,6})"
_DIFF = re.compile(rf"upgdiff_{_BUILD}-to-{_BUILD}", re.IGNORECASE)
_RAT = re.compile(rf"(?<![A-Z0-9])(CATM1|NB1)[-_](?:(\d+(?:\.\d+)*)-)?{_BUILD}(?:-(\d))?(?!\d)",
                  re.IGNORECASE)
_LR = re.compile(rf"LR(\d+(?:\.\d+)+)-{_BUILD}(?:-(\d))?(?!\d)", re.IGNORECASE)
_FAMILY_OF_RAT = {"CATM1": "CAT-M1", "NB1": "NB-IoT"}


def family_of_lr(lr: str | None) -> str | None:
    """LR 5.x is CAT-M1, LR 6.x NB-IoT, LR 8.x Monarch 2 (docs/protocol.md §4)."""
    if not lr:
        return None
    return {"5": "CAT-M1", "6": "NB-IoT", "8": "Monarch 2"}.get(lr.split(".", 1)[0])


MONARCH_1 = ("CAT-M1", "NB-IoT")  # one chip (SQN3330), two firmware lines


def chip_of(family: str | None) -> str | None:
    """The chip a firmware family runs on: `Monarch 1` for CAT-M1 and NB-IoT, else the family
    (`Monarch 2`)."""
    if family is None:
        return None
    return "Monarch 1" if family in MONARCH_1 else family


@dataclass(frozen=True)
class NameInfo:
    family: str | None = None
    build: int | None = None
    source_build: int | None = None
    lr_version: str | None = None
    step: int | None = None  # releases published as several files applied in turn

    @property
    def says_anything(self) -> bool:
        return self.build is not None


def parse_name(name: str) -> NameInfo:
    if (match := _DIFF.search(name)) is not None:
        return NameInfo(source_build=int(match.group(1)), build=int(match.group(2)))
    if (match := _RAT.search(name)) is not None:
        lr = match.group(2)
        family = _FAMILY_OF_RAT[match.group(1).upper()]
        step = int(match.group(4)) if match.group(4) else None
        return NameInfo(family, int(match.group(3)), None, lr if lr and "." in lr else None, step)
    if (match := _LR.search(name)) is not None:
        lr = match.group(1)
        step = int(match.group(3)) if match.group(3) else None
        return NameInfo(family_of_lr(lr), int(match.group(2)), None, lr, step)
    return NameInfo()
