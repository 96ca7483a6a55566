"""Serial lines to modems: pyserial ports and URLs, and the wire trace."""

from sqnflash.link.port import DEFAULT_BAUD, Link, Tracer, open_link
from sqnflash.link.trace import WireTrace

__all__ = ["DEFAULT_BAUD", "Link", "Tracer", "WireTrace", "open_link"]
