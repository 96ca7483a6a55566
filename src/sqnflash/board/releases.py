"""Pycom firmware releases and the `sqnsupgrade` module each one carries.

The facts live in `sqnflash.firmware.pycom_releases`, below both the board code and the
simulator, so that each is written down once; this module keeps the board's names for them.
"""

from sqnflash.firmware.pycom_releases import (
    CHECKS_BOOTROM_MODULE,
    FFH_MODULE,
    MIN_BRIDGE_RELEASE,
    MIN_FFH_RELEASE,
    MODULES,
    Release,
    ReleaseError,
    UpgraderModule,
    module_by_version,
    module_of,
    version_tuple,
)

__all__ = [
    "CHECKS_BOOTROM_MODULE",
    "FFH_MODULE",
    "MIN_BRIDGE_RELEASE",
    "MIN_FFH_RELEASE",
    "MODULES",
    "Release",
    "ReleaseError",
    "UpgraderModule",
    "module_by_version",
    "module_of",
    "version_tuple",
]
