"""Settings of a simulated modem, from a `sim://` URL query or `sqnflash sim` options."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from sqnflash.sim.images import Family

OLD_BOOTROM_BUILD = 33080  # factory bootrom that cannot switch to FFH
FIRST_FLASHED_BOOTROM = 38638  # the first bootrom Pycom's upgrades flashed (its built-in v1)
DEFAULT_IMEI = "354346090000009"
APP_BAUD = 921600
FFH_BAUD = 115200
STORE_LIMIT = 4 * 1024 * 1024
MODES = ("app", "recovery", "updater", "ffh")


class SimConfigError(ValueError):
    """A simulator setting is unknown or has a bad value."""


@dataclass
class SimConfig:
    version: int = 38638
    family: Family = Family.CATM1
    mode: str = "app"  # the mode the modem is found in: app, recovery, updater, ffh
    old_bootrom: bool = False
    bootrom: int | None = None  # Bootloader0; default: 33080 when old or before 38638, else version
    broken_app: bool = False  # the application image was damaged by an interrupted upgrade
    imei: str = DEFAULT_IMEI
    echo: bool = False
    app_baud: int = APP_BAUD
    ffh_baud: int = FFH_BAUD
    host_baud: int = APP_BAUD  # the rate a freshly opened in-process port starts at
    clock: str = "real"  # real, virtual (tests) or charged (benchmarks: virtual + host time)
    paced: bool = True
    turnaround_s: float = 0.001
    reboot_s: float = 1.5
    apply_s: float = 5.0
    bootrom_apply_s: float = 1.0
    updater_load_s: float = 1.0
    flash_write_s_per_kib: float = 0.001
    reply_hcrc: bool = True
    store_limit: int = STORE_LIMIT
    stp_idle_timeout_s: float = 60.0
    partial_blocks: bool = False
    data_mode: bool = False
    max_transfer: int = 8192
    ffh_max_transfer: int = 2048
    seed: int = 0
    # A Pycom board in front of the modem (sim/board.py): fipy, gpy or g01; empty for none.
    board: str = ""
    release: str = "1.20.2.r4"  # the board's firmware release
    uploaded: str = ""  # a sqnsupgrade copy in /flash/lib: script or folder
    faults: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.clock not in ("real", "virtual", "charged"):
            raise SimConfigError(f"clock must be real, virtual or charged, not {self.clock!r}")
        if self.mode not in MODES:
            raise SimConfigError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        self.family = Family(self.family)
        if self.bootrom is None:
            # Only flashing a bootrom package changes Bootloader0, and Pycom's flows did that
            # from 38638 on: a modem upgraded to an earlier build (36417, NB1 37781) still shows
            # the factory 33080 (protocol-reference §1.3).
            old = self.old_bootrom or self.version < FIRST_FLASHED_BOOTROM
            self.bootrom = OLD_BOOTROM_BUILD if old else self.version
        if not (self.imei.isdigit() and len(self.imei) == 15):
            raise SimConfigError(f"imei must be 15 digits, not {self.imei!r}")
        if self.board:
            self._check_board()

    def _check_board(self) -> None:
        from sqnflash.sim.board import BOARDS, UPLOADS, release_key  # the board needs this module

        self.board = self.board.lower()
        if self.board not in BOARDS:
            raise SimConfigError(f"board must be one of {', '.join(BOARDS)}, not {self.board!r}")
        if self.uploaded not in UPLOADS:
            raise SimConfigError(f"uploaded must be script or folder, not {self.uploaded!r}")
        try:
            release_key(self.release)
        except ValueError as exc:
            raise SimConfigError(str(exc)) from None

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if f.name != "faults"]

    @classmethod
    def from_query(cls, query: str, **overrides: Any) -> SimConfig:
        """`version=38638&mode=app&old_bootrom=1`; unknown keys are an error, not ignored."""
        values: dict[str, Any] = {}
        faults: dict[str, str] = {}
        types = {f.name: f.type for f in dataclasses.fields(cls)}
        for key, items in parse_qs(query, keep_blank_values=True).items():
            raw = items[-1]
            name = key.replace("-", "_")
            if name.startswith("fault_"):
                faults[name[len("fault_") :]] = raw
                continue
            if name == "old_bootrom" and raw == "":
                raw = "1"
            if name not in types or name == "faults":
                known = ", ".join(cls.field_names())
                raise SimConfigError(f"unknown simulator setting {key!r} (known: {known})")
            values[name] = convert(name, str(types[name]), raw)
        values.update(overrides)
        if faults:
            values["faults"] = faults
        if "version" not in values and values.get("old_bootrom"):
            values["version"] = OLD_BOOTROM_BUILD
        return cls(**values)


def convert(name: str, type_name: str, raw: str) -> Any:
    try:
        if "bool" in type_name:
            if raw.lower() in ("1", "true", "yes", "on", ""):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if "int" in type_name and "float" not in type_name:
            return None if raw.lower() == "none" else int(raw)
        if "float" in type_name:
            return float(raw)
        if "Family" in type_name:
            return Family(raw.lower())
        return raw
    except ValueError as exc:
        raise SimConfigError(f"bad value {raw!r} for simulator setting {name!r}") from exc
