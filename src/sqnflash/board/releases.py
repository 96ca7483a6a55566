"""Pycom firmware releases and their `sqnsupgrade` modules, for the board client.

The facts live one layer down, in `sqnflash.firmware.pycom_releases`, so that the simulated board
reads the same table; this module keeps the board's names for them.
"""

from sqnflash.firmware.pycom_releases import (
    CHECKS_BOOTROM_MODULE,
    FFH_MODULE,
    FIRST_MODULE_VERSION,
    MIN_BRIDGE_RELEASE,
    MIN_FFH_RELEASE,
    MODULES,
    Release,
    ReleaseError,
    UpgraderModule,
    module_by_version,
    module_of,
)
from sqnflash.firmware.versions import version_tuple

__all__ = ["CHECKS_BOOTROM_MODULE", "FFH_MODULE", "FIRST_MODULE_VERSION", "MIN_BRIDGE_RELEASE",
           "MIN_FFH_RELEASE", "MODULES", "Release", "ReleaseError", "UpgraderModule",
           "module_by_version", "module_of", "version_tuple"]
