"""sqnflash: inspect, upgrade and rescue the firmware of Sequans Monarch LTE modems.

Importing the package changes nothing outside it: the `sim://` URL handler is registered with
pyserial by `sqnflash.link` (imported by anything that opens a port), see `register_sim_url`.
"""

from __future__ import annotations

__version__ = "0.1.0"
