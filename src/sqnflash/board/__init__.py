"""Pycom boards: reach the modem behind a GPy/FiPy/G01 through the board's MicroPython REPL."""

from sqnflash.board.pycom import BRIDGE_BAUD, REPL_BAUD, BoardInfo, ModemProbe, PycomBoard
from sqnflash.board.releases import MIN_BRIDGE_RELEASE, MIN_FFH_RELEASE, Release, UpgraderModule
from sqnflash.board.repl import RawRepl, looks_like_repl

__all__ = ["BRIDGE_BAUD", "MIN_BRIDGE_RELEASE", "MIN_FFH_RELEASE", "REPL_BAUD", "BoardInfo",
           "ModemProbe", "PycomBoard", "RawRepl", "Release", "UpgraderModule",
           "looks_like_repl"]
