"""Talking to one modem: the AT driver, modes and baud rates, versions, STP uploads."""

from sqnflash.modem.at_driver import AtDriver
from sqnflash.modem.info import OLD_BOOTROM_BUILD, ModemInfo
from sqnflash.modem.modem import APP_BAUD, BOOT_BAUD, Modem
from sqnflash.modem.transfer import StpUpload, TransferResult

__all__ = ["APP_BAUD", "BOOT_BAUD", "OLD_BOOTROM_BUILD", "AtDriver", "Modem", "ModemInfo",
           "StpUpload", "TransferResult"]
