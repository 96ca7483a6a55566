"""Simulators from settings or `sim://` URLs: a modem alone, or a Pycom board in front of it."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqnflash.sim.board import BoardSimulator
from sqnflash.sim.config import SimConfig
from sqnflash.sim.simulator import Simulator, find_or_create


def create(config: SimConfig) -> Simulator:
    """A modem, or a Pycom board with its modem when `config.board` names one."""
    if config.board:
        return BoardSimulator(config)
    return Simulator(config)


def from_url(url: str) -> Simulator:
    """`sim://[name][?settings]`: a named simulator is created once and found again by name."""
    parts = urlsplit(url)
    if parts.scheme != "sim":
        raise ValueError(f"not a sim:// URL: {url!r}")
    if not parts.netloc:
        return create(SimConfig.from_query(parts.query))
    return find_or_create(parts.netloc, lambda: create(SimConfig.from_query(parts.query)))
