"""Firmware files: identification and validation, without a modem."""

from sqnflash.firmware.files import (
    FFF_STORE_LIMIT,
    FileKind,
    FirmwareFile,
    identify,
    load_bootrom,
    load_image,
    load_updater,
)

__all__ = ["FFF_STORE_LIMIT", "FileKind", "FirmwareFile", "identify", "load_bootrom",
           "load_image", "load_updater"]
