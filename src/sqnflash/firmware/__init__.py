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
from sqnflash.firmware.source import BlockSource, BytesSource, FileSource

__all__ = [
    "FFF_STORE_LIMIT",
    "BlockSource",
    "BytesSource",
    "FileKind",
    "FileSource",
    "FirmwareFile",
    "identify",
    "load_bootrom",
    "load_image",
    "load_updater",
]
