"""The steps an upgrade or a recovery is made of, by id.

The ids are stored in the journal as their string values (`send-image`, ...), and an upgrade
interrupted by an older sqnflash resumes only if those strings stay as they are: rename a member
if you must, never its value. A `StepId` is a `str`, so it equals, hashes and prints as its value
(a stored id read back as a plain string finds the same entries).
"""

from __future__ import annotations

from enum import Enum


class StepId(str, Enum):
    PREPARE = "prepare"
    SWITCH_RECOVERY = "switch-recovery"
    SEND_BOOTROM = "send-bootrom"
    SWITCH_FFH = "switch-ffh"
    NEGOTIATE_BAUD = "negotiate-baud"
    SEND_UPDATER = "send-updater"
    STORE_IMAGE = "store-image"
    APPLY_STORED = "apply-stored"
    SEND_IMAGE = "send-image"
    APPLY = "apply"
    SWITCH_APPLICATION = "switch-application"
    VERIFY = "verify"
    REFRESH_BOOTROM = "refresh-bootrom"
    # recovery only
    FINISH_APPLY = "finish-apply"
    TRY_APPLICATION = "try-application"
    RADIO_ON = "radio-on"

    # Enum hashes members by name and, from Python 3.11, formats mixed-in members by name too:
    # both must follow the value, which is what the journal, JSON and the events carry.
    __hash__ = str.__hash__

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)
