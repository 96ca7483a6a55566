"""sqnflash: inspect, upgrade and rescue the firmware of Sequans Monarch LTE modems."""

from __future__ import annotations

import serial

__version__ = "0.1.0"

# Make sim:// available to every pyserial user in this process.
if "sqnflash.sim" not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append("sqnflash.sim")
