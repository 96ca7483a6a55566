"""Hardware flow control on the simulated line, and what its absence costs a Monarch 2.

The model (`flow_control` knob, sim/config.py): a modem writes its flash while an STP transfer
streams in. Its UART's receive FIFO holds `FIFO_BYTES`; during a flash write the modem drains it
no faster than a `DRAIN_BAUD` line fills it. At that rate or below nothing is ever lost. Above it,
a frame longer than the FIFO overruns it: bytes are lost, the UART flags the overrun and the
modem drops the frame it was receiving, unanswered (it resynchronises on the next frame's
magic). RTS/CTS prevents that: the modem drops RTS (the host's CTS) while its FIFO is full and a
host that honours it stops sending. AT commands and STP's short control frames (block commands,
opens, resets) fit in the FIFO; the image's block frames, even the smallest a client cuts
(64 bytes and a 16-byte header), do not. The host sees its blocks go unanswered, shrinks them in
vain, and can only go back to a rate the modem drains.

- `required` (Monarch 2): bytes are lost above `DRAIN_BAUD` unless the host uses RTS/CTS.
- `unwired`: RTS/CTS is not connected between adapter and modem: bytes are lost above
  `DRAIN_BAUD` whatever the host sets (its CTS floats "ready"). Behind a simulated Pycom board
  the knob does not apply: the board's LTE UART has RTS/CTS wired and on (sim/board.py).
- `cts-low`: the adapter's CTS input is not connected and reads "not ready": a host with RTS/CTS
  on sends nothing at all (its bytes wait in the driver until flow control is off or they are
  discarded); without RTS/CTS the line is that of `unwired`.
- `off` (Monarch 1, the default there): the modem keeps up at any rate it lists.

What each kind of port knows of the host's setting:

- An in-process `sim://` port is a pyserial object: its `rtscts` (at open, or set while open) is
  the host's flow control, exactly.
- The pty simulator (`sqnflash sim --pty`) reads the client's CRTSCTS flag from the pty's termios
  settings, as it reads the client's rate. A pty has no RTS/CTS lines: nothing is ever held back
  and the kernel never overruns, so the flag is all there is; a client that sets it is served as
  one that honours flow control, one that does not loses bytes as above.
"""

from __future__ import annotations

FLOW_CONTROLS = ("off", "required", "unwired", "cts-low")
FIFO_BYTES = 64
DRAIN_BAUD = 115200


def overruns(flow_control: str, modem_baud: int, host_rtscts: bool) -> bool:
    """Whether STP frames longer than the FIFO lose bytes on this line now."""
    if modem_baud <= DRAIN_BAUD or flow_control == "off":
        return False
    return flow_control in ("unwired", "cts-low") or not host_rtscts


def host_held(flow_control: str, host_rtscts: bool) -> bool:
    """Whether the host's CTS keeps everything it writes in its driver."""
    return host_rtscts and flow_control == "cts-low"


def overrun(data: bytes) -> bytes:
    """What the modem keeps of a burst that arrives too fast while it writes flash: the
    overrun frame is dropped whole."""
    return data if len(data) <= FIFO_BYTES else b""
