"""Serial lines to modems: pyserial ports and URLs, and the wire trace.

Importing this package registers the `sim://` URL handler with pyserial (`register_sim_url`).
"""

from sqnflash.link.port import DEFAULT_BAUD, ClockedPort, Link, Tracer, open_link, register_sim_url
from sqnflash.link.trace import WireTrace

register_sim_url()

__all__ = ["DEFAULT_BAUD", "ClockedPort", "Link", "Tracer", "WireTrace", "open_link",
           "register_sim_url"]
