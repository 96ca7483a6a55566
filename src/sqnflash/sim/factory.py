"""Simulators from settings or `sim://` URLs: a modem alone, a replayed capture, or a Pycom board
in front of a modem."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from sqnflash.sim.board import BoardSimulator
from sqnflash.sim.config import SimConfig
from sqnflash.sim.replay import Divergence, ReplaySimulator
from sqnflash.sim.simulator import Simulator, find_or_create


def create(config: SimConfig, *,
           on_divergence: Callable[[Divergence], None] | None = None) -> Simulator:
    """A modem, a capture played back as a modem (`config.replay`, whose first departure from
    the capture `on_divergence` is told of), or a Pycom board with its modem when
    `config.board` names one."""
    if config.replay:
        return ReplaySimulator(config, on_divergence=on_divergence)
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
